//! Interop with the real OpenTelemetry SDKs: Python (PyPI), Node (npm) and Rust
//! (opentelemetry-otlp). Each sends a trace with typed attributes, an event, a link and an error
//! status; the test reads it back through the API and compares every field with what the SDK
//! says it sent. The SDKs are installed by scripts/test.sh; without them these tests fail.

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use weft_model::{AnyValue, Batch, KeyValue};
use weft_testkit::{fetch_trace, node_dir, python, repo_root, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

fn run_sender(mut cmd: Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run the {what} sender ({e}): run scripts/test.sh, which installs the SDKs")
    });
    assert!(
        out.status.success(),
        "{what} sender failed: {}\n(run scripts/test.sh, which installs the SDKs)",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{what} sender printed no JSON ({e}): {stdout}"))
}

/// A JSON attribute value as the SDK typed it: integral numbers are ints, others doubles.
fn any(v: &Value) -> AnyValue {
    match v {
        Value::String(s) => AnyValue::String(s.as_str().into()),
        Value::Bool(b) => AnyValue::Bool(*b),
        Value::Number(n) if n.is_i64() => AnyValue::Int(n.as_i64().unwrap()),
        Value::Number(n) => AnyValue::Double(n.as_f64().unwrap()),
        Value::Array(a) => AnyValue::Array(a.iter().map(any).collect()),
        other => panic!("unexpected attribute value {other}"),
    }
}

fn attrs(v: &Value) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), any(v)))
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn sorted(mut a: Vec<KeyValue>) -> Vec<KeyValue> {
    a.sort_by(|x, y| x.key.cmp(&y.key));
    a
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        v => v.as_u64().unwrap(),
    }
}

/// Compares every field the SDK reported sending with what weft returned.
fn compare(sent: &Value, got: &Batch, what: &str) {
    let spans: Vec<_> = got.spans().collect();
    let want = sent["spans"].as_array().unwrap();
    assert_eq!(spans.len(), want.len(), "{what}: span count");
    for w in want {
        let s = spans
            .iter()
            .find(|s| s.span.span_id.to_hex() == w["spanId"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{what}: span {} missing", w["spanId"]));
        let sp = s.span;
        assert_eq!(
            sp.trace_id.to_hex(),
            sent["traceId"].as_str().unwrap(),
            "{what}: trace id"
        );
        assert_eq!(
            sp.parent_span_id.map(|p| p.to_hex()).unwrap_or_default(),
            w["parentSpanId"].as_str().unwrap(),
            "{what}: parent"
        );
        assert_eq!(sp.name, w["name"].as_str().unwrap(), "{what}: name");
        assert_eq!(sp.kind as i64, w["kind"].as_i64().unwrap(), "{what}: kind");
        assert_eq!(
            sp.start_time_unix_nano,
            num(&w["startTimeUnixNano"]),
            "{what}: start"
        );
        assert_eq!(
            sp.end_time_unix_nano,
            num(&w["endTimeUnixNano"]),
            "{what}: end"
        );
        assert_eq!(
            sorted(sp.attributes.clone()),
            attrs(&w["attributes"]),
            "{what}: attributes of {}",
            sp.name
        );
        let we = w["events"].as_array().unwrap();
        assert_eq!(sp.events.len(), we.len(), "{what}: events");
        for (e, x) in sp.events.iter().zip(we) {
            assert_eq!(e.name, x["name"].as_str().unwrap());
            assert_eq!(
                e.time_unix_nano,
                num(&x["timeUnixNano"]),
                "{what}: event time"
            );
            assert_eq!(
                sorted(e.attributes.clone()),
                attrs(&x["attributes"]),
                "{what}: event attributes"
            );
        }
        let wl = w["links"].as_array().unwrap();
        assert_eq!(sp.links.len(), wl.len(), "{what}: links");
        for (l, x) in sp.links.iter().zip(wl) {
            assert_eq!(
                l.trace_id.to_hex(),
                x["traceId"].as_str().unwrap(),
                "{what}: link trace id"
            );
            assert_eq!(
                l.span_id.to_hex(),
                x["spanId"].as_str().unwrap(),
                "{what}: link span id"
            );
            assert_eq!(
                sorted(l.attributes.clone()),
                attrs(&x["attributes"]),
                "{what}: link attributes"
            );
        }
        assert_eq!(
            sp.status.code as i64,
            w["status"]["code"].as_i64().unwrap(),
            "{what}: status code"
        );
        assert_eq!(
            sp.status.message,
            w["status"]["message"].as_str().unwrap(),
            "{what}: status message"
        );
        assert_eq!(
            s.scope.name,
            sent["scope"]["name"].as_str().unwrap(),
            "{what}: scope name"
        );
        assert_eq!(
            s.scope.version,
            sent["scope"]["version"].as_str().unwrap(),
            "{what}: scope version"
        );
        for (k, v) in sent["resource"].as_object().unwrap() {
            assert_eq!(
                s.resource.attribute(k),
                Some(&any(v)),
                "{what}: resource attribute {k}"
            );
        }
    }
}

async fn check_sender(server: &Server, sent: Value, what: &str) {
    let client = reqwest::Client::new();
    let tid = sent["traceId"].as_str().unwrap().to_string();
    let mut got = None;
    for _ in 0..50 {
        got = fetch_trace(&client, server, &tid).await;
        if got.as_ref().is_some_and(|b| b.span_count() >= 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = got.unwrap_or_else(|| panic!("{what}: trace {tid} was not stored"));
    compare(&sent, &got, what);
}

#[tokio::test]
async fn python_sdk_grpc_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    for (proto, endpoint) in [
        ("grpc", server.otlp_grpc_url()),
        ("http", format!("http://{}", server.otlp_http)),
    ] {
        let mut cmd = Command::new(python());
        cmd.arg(repo_root().join("tests/interop/python_send.py"))
            .args([proto, &endpoint, &format!("py-{proto}")]);
        let sent = run_sender(cmd, &format!("python {proto}"));
        check_sender(&server, sent, &format!("python {proto}")).await;
    }
}

#[tokio::test]
async fn node_sdk_proto_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    for (proto, endpoint) in [
        ("grpc", server.otlp_grpc_url()),
        ("proto", format!("http://{}", server.otlp_http)),
    ] {
        let mut cmd = Command::new("node");
        cmd.current_dir(node_dir()).arg("send.js").args([
            proto,
            &endpoint,
            &format!("node-{proto}"),
        ]);
        let sent = run_sender(cmd, &format!("node {proto}"));
        check_sender(&server, sent, &format!("node {proto}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_grpc_and_http() {
    use opentelemetry::trace::{
        Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState,
        Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{Array, Context, InstrumentationScope, KeyValue as K, Value as V};
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    use std::time::{Duration, UNIX_EPOCH};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    for proto in ["grpc", "http"] {
        let exporter = match proto {
            "grpc" => SpanExporter::builder()
                .with_tonic()
                .with_endpoint(server.otlp_grpc_url())
                .build()
                .unwrap(),
            _ => SpanExporter::builder()
                .with_http()
                .with_endpoint(server.otlp_http_url())
                .build()
                .unwrap(),
        };
        let service = format!("rust-{proto}");
        let handle = tokio::runtime::Handle::current();
        // the simple processor exports synchronously on span end: run it off the async workers
        let sent = tokio::task::spawn_blocking(move || {
            let _rt = handle.enter();
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(service.clone()).with_attributes([K::new("deployment.environment.name", "test")]).build())
                .with_simple_exporter(exporter)
                .build();
            let tracer = provider.tracer_with_scope(InstrumentationScope::builder("interop.rust").with_version("7.8.9").build());
            let t0 = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            let attributes = vec![
                K::new("str", "hello wörld"),
                K::new("bool", true),
                K::new("int", -9_007_199_254_740_993i64),
                K::new("double", 3.25),
                K::new("str_array", V::Array(Array::String(vec!["a".into(), "b".into()]))),
                K::new("int_array", V::Array(Array::I64(vec![1, 2, 3]))),
                K::new("double_array", V::Array(Array::F64(vec![0.5, -1.5]))),
                K::new("bool_array", V::Array(Array::Bool(vec![true, false]))),
            ];
            let mut root = tracer.span_builder("GET /checkout").with_kind(SpanKind::Server).with_start_time(at(0)).with_attributes(attributes).start(&tracer);
            let linked = SpanContext::new(
                "0af7651916cd43dd8448eb211c80319c".parse::<weft_model::TraceId>().map(|t| opentelemetry::trace::TraceId::from_bytes(t.0)).unwrap(),
                opentelemetry::trace::SpanId::from_bytes([0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            );
            let root_cx = root.span_context().clone();
            let cx = Context::new().with_remote_span_context(root_cx.clone());
            let mut child = tracer
                .span_builder("charge card")
                .with_kind(SpanKind::Client)
                .with_start_time(at(1))
                .with_links(vec![opentelemetry::trace::Link::new(linked, vec![K::new("link.reason", "retry-of")], 0)])
                .start_with_context(&tracer, &cx);
            child.add_event_with_timestamp("exception", at(2), vec![K::new("exception.message", "card declined"), K::new("attempt", 2i64)]);
            child.set_status(Status::error("card declined"));
            let child_cx = child.span_context().clone();
            child.end_with_timestamp(at(30));
            root.end_with_timestamp(at(50));
            provider.shutdown().expect("flush on shutdown");
            let ns = |ms: u64| (1_700_000_000_123_456_789u64 + ms * 1_000_000).to_string();
            serde_json::json!({
                "traceId": root_cx.trace_id().to_string(),
                "scope": {"name": "interop.rust", "version": "7.8.9"},
                "resource": {"service.name": service, "deployment.environment.name": "test"},
                "spans": [
                    {"spanId": root_cx.span_id().to_string(), "parentSpanId": "", "name": "GET /checkout", "kind": 2,
                     "startTimeUnixNano": ns(0), "endTimeUnixNano": ns(50),
                     "attributes": {"str": "hello wörld", "bool": true, "int": -9_007_199_254_740_993i64, "double": 3.25,
                                    "str_array": ["a", "b"], "int_array": [1, 2, 3], "double_array": [0.5, -1.5], "bool_array": [true, false]},
                     "events": [], "links": [], "status": {"code": 0, "message": ""}},
                    {"spanId": child_cx.span_id().to_string(), "parentSpanId": root_cx.span_id().to_string(), "name": "charge card", "kind": 3,
                     "startTimeUnixNano": ns(1), "endTimeUnixNano": ns(30), "attributes": {},
                     "events": [{"name": "exception", "timeUnixNano": ns(2), "attributes": {"exception.message": "card declined", "attempt": 2}}],
                     "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "attributes": {"link.reason": "retry-of"}}],
                     "status": {"code": 2, "message": "card declined"}},
                ]
            })
        })
        .await
        .unwrap();
        check_sender(&server, sent, &format!("rust {proto}")).await;
    }
}
