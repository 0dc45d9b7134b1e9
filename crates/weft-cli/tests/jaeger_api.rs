//! The Jaeger-compatible query API (`/api/…`, `/api/v3/…`) against the real `weft serve` binary:
//! envelopes, limits, tags, µs times, duration strings, errors in Jaeger's shapes, and a trace
//! sent by the Python OpenTelemetry SDK read back through `/api/traces/{id}`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use weft_testkit::{
    hex, post_protobuf, python, random_span_id, random_trace_id, repo_root, sample_trace, Server,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

/// GET a path; (status, JSON body).
async fn get(client: &reqwest::Client, server: &Server, path: &str) -> (u16, Value) {
    let r = client.get(server.api(path)).send().await.expect("GET");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let v =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
    (status, v)
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Unpadded URL-safe base64.
fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The envelope of a Jaeger answer: every field, with Jaeger's values for the ones weft never
/// fills (`limit`, `offset`).
fn assert_envelope(v: &Value, total: usize, what: &str) {
    let keys: Vec<_> = v.as_object().expect("object").keys().cloned().collect();
    let mut want = vec!["data", "errors", "limit", "offset", "total"];
    want.sort();
    assert_eq!(keys, want, "{what}: envelope keys");
    assert_eq!(v["total"], json!(total), "{what}: total");
    assert_eq!(v["limit"], json!(0), "{what}: limit");
    assert_eq!(v["offset"], json!(0), "{what}: offset");
}

/// A Jaeger error answer: the status, and the envelope carrying it.
fn assert_jaeger_error(status: u16, v: &Value, want_status: u16, msg_part: &str, what: &str) {
    assert_eq!(status, want_status, "{what}: status ({v})");
    assert_envelope(v, 0, what);
    assert_eq!(v["data"], Value::Null, "{what}: data");
    let errs = v["errors"].as_array().expect("errors");
    assert_eq!(errs.len(), 1, "{what}");
    assert_eq!(errs[0]["code"], json!(want_status), "{what}: code");
    let msg = errs[0]["msg"].as_str().unwrap();
    assert!(msg.contains(msg_part), "{what}: {msg:?} lacks {msg_part:?}");
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn tags(span: &Value) -> Vec<(String, String, Value)> {
    span["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["type"].as_str().unwrap().to_string(),
                t["value"].clone(),
            )
        })
        .collect()
}

fn tag<'a>(span: &'a Value, key: &str) -> Option<(&'a str, &'a Value)> {
    span["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| (t["type"].as_str().unwrap(), &t["value"]))
}

fn span_named<'a>(trace: &'a Value, name: &str) -> &'a Value {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == name)
        .unwrap_or_else(|| panic!("no span {name} in {trace}"))
}

fn starts(req: &ExportTraceServiceRequest) -> (u64, u64) {
    let spans: Vec<_> = req.resource_spans[0].scope_spans[0].spans.iter().collect();
    (
        spans.iter().map(|s| s.start_time_unix_nano).min().unwrap(),
        spans.iter().map(|s| s.end_time_unix_nano).max().unwrap(),
    )
}

#[tokio::test]
async fn services_and_operations() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    post_protobuf(
        &client,
        &server,
        &sample_trace("abc/trifle", &random_trace_id()),
    )
    .await;
    post_protobuf(&client, &server, &sample_trace("bling", &random_trace_id())).await;

    let (st, v) = get(&client, &server, "/api/services").await;
    assert_eq!(st, 200);
    assert_envelope(&v, 2, "/api/services");
    assert_eq!(v["errors"], Value::Null);
    let mut services: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    services.sort();
    assert_eq!(services, ["abc/trifle", "bling"]);

    // the legacy route, with a service name that needs escaping
    let (st, v) = get(&client, &server, "/api/services/abc%2Ftrifle/operations").await;
    assert_eq!(st, 200);
    assert_envelope(&v, 3, "legacy operations");
    assert_eq!(
        v["data"],
        json!(["GET /orders/{id}", "SELECT orders", "lock wait"])
    );

    let (st, v) = get(&client, &server, "/api/operations?service=abc%2Ftrifle").await;
    assert_eq!(st, 200);
    assert_envelope(&v, 3, "/api/operations");
    let mut ops: Vec<_> = v["data"].as_array().unwrap().clone();
    ops.sort_by_key(|o| o["name"].as_str().unwrap().to_string());
    assert_eq!(
        Value::Array(ops),
        json!([{"name": "GET /orders/{id}", "spanKind": "server"},
               {"name": "SELECT orders", "spanKind": "client"},
               {"name": "lock wait", "spanKind": "server"}])
    );
    let (_, v) = get(
        &client,
        &server,
        "/api/operations?service=bling&spanKind=client",
    )
    .await;
    assert_envelope(&v, 1, "spanKind filter");
    assert_eq!(
        v["data"],
        json!([{"name": "SELECT orders", "spanKind": "client"}])
    );
    let (_, v) = get(&client, &server, "/api/services/nobody/operations").await;
    assert_eq!(v["data"], json!([]));

    let (st, v) = get(&client, &server, "/api/operations").await;
    assert_jaeger_error(
        st,
        &v,
        400,
        "parameter 'service' is required",
        "operations without service",
    );
}

#[tokio::test]
async fn trace_by_id_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let tid = random_trace_id();
    let req = sample_trace("checkout", &tid);
    post_protobuf(&client, &server, &req).await;
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    let (root, child) = (&spans[0], &spans[1]);
    let id = hex(&tid);

    let (st, v) = get(&client, &server, &format!("/api/traces/{id}")).await;
    assert_eq!(st, 200, "{v}");
    assert_envelope(&v, 0, "/api/traces/{id}");
    assert_eq!(v["errors"], Value::Null);
    let t = &v["data"][0];
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(t["traceID"], json!(id));
    assert_eq!(t["warnings"], Value::Null);
    assert_eq!(
        t["processes"],
        json!({"p1": {"serviceName": "checkout", "tags": [
            {"key": "host.name", "type": "string", "value": "box-1"}]}})
    );
    assert_eq!(t["spans"].as_array().unwrap().len(), 3);

    let r = span_named(t, "GET /orders/{id}");
    let keys: Vec<_> = r.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "duration",
            "logs",
            "operationName",
            "processID",
            "references",
            "spanID",
            "startTime",
            "tags",
            "traceID",
            "warnings"
        ],
        "span fields (flags is omitted, as the OTLP translator never sets it)"
    );
    assert_eq!(r["traceID"], json!(id));
    assert_eq!(r["spanID"], json!(hex(&root.span_id)));
    assert_eq!(r["references"], json!([]));
    assert_eq!(r["startTime"], json!(root.start_time_unix_nano / 1000));
    assert_eq!(r["duration"], json!(50_000));
    assert_eq!(r["processID"], json!("p1"));
    assert_eq!(r["logs"], json!([]));
    assert_eq!(r["warnings"], Value::Null);
    // scope first, then the attributes sorted by key (Jaeger's adjusters), then derived tags
    let s = |v: &str| json!(v);
    assert_eq!(
        tags(r),
        vec![
            ("otel.scope.name".into(), "string".into(), s("weft-test")),
            ("otel.scope.version".into(), "string".into(), s("1.0")),
            ("array".into(), "string".into(), s("[\"a\",2,false]")),
            ("bool".into(), "bool".into(), json!(true)),
            ("bytes".into(), "binary".into(), s("AAEC/v8=")),
            ("double".into(), "float64".into(), json!(3.25)),
            ("http.route".into(), "string".into(), s("/orders/{id}")),
            ("int".into(), "int64".into(), s("-9007199254740993")),
            (
                "kvlist".into(),
                "string".into(),
                s("{\"inner\":\"x\",\"n\":-0.5}")
            ),
            ("str".into(), "string".into(), s("hello wörld")),
            ("span.kind".into(), "string".into(), s("server")),
            ("w3c.tracestate".into(), "string".into(), s("vendor=abc")),
        ]
    );

    let c = span_named(t, "SELECT orders");
    let link = &child.links[0];
    assert_eq!(
        c["references"],
        json!([
            {"refType": "CHILD_OF", "traceID": id, "spanID": hex(&root.span_id)},
            {"refType": "FOLLOWS_FROM", "traceID": hex(&link.trace_id), "spanID": hex(&link.span_id)},
        ])
    );
    assert_eq!(tag(c, "span.kind"), Some(("string", &json!("client"))));
    assert_eq!(
        tag(c, "otel.status_code"),
        Some(("string", &json!("ERROR")))
    );
    assert_eq!(tag(c, "error"), Some(("bool", &json!(true))));
    assert_eq!(
        tag(c, "otel.status_description"),
        Some(("string", &json!("deadlock detected")))
    );
    assert_eq!(
        c["logs"],
        json!([{"timestamp": child.events[0].time_unix_nano / 1000, "fields": [
            {"key": "event", "type": "string", "value": "exception"},
            {"key": "exception.message", "type": "string", "value": "deadlock"}]}])
    );
    assert_eq!(c["duration"], json!(20_000));

    // the native API's Jaeger format is the same document
    let (st, native) = get(
        &client,
        &server,
        &format!("/api/v1/traces/{id}?format=jaeger"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(native, v, "?format=jaeger equals /api/traces/{{id}}");
    let (st, otlp) = get(
        &client,
        &server,
        &format!("/api/v1/traces/{id}?format=otlp"),
    )
    .await;
    assert_eq!(st, 200);
    assert!(otlp["resourceSpans"].is_array());
    let (st, bad) = get(
        &client,
        &server,
        &format!("/api/v1/traces/{id}?format=zipkin"),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        bad["error"].as_str().unwrap().contains("format=jaeger"),
        "{bad}"
    );

    // raw=true skips the adjusters: attributes stay in the order they were sent
    let (_, raw) = get(&client, &server, &format!("/api/traces/{id}?raw=true")).await;
    let r = span_named(&raw["data"][0], "GET /orders/{id}");
    assert_eq!(tags(r)[2].0, "str", "first attribute as sent");
    // µs start/end are accepted as hints
    let (st, _) = get(
        &client,
        &server,
        &format!("/api/traces/{id}?start=1&end={}", now_micros()),
    )
    .await;
    assert_eq!(st, 200);

    // errors in Jaeger's envelope
    let unknown = hex(&random_trace_id());
    let (st, v) = get(&client, &server, &format!("/api/traces/{unknown}")).await;
    assert_jaeger_error(st, &v, 404, "trace not found", "unknown trace");
    let (st, v) = get(&client, &server, "/api/traces/xyz!").await;
    assert_jaeger_error(st, &v, 400, "invalid syntax", "malformed id");
    let (st, v) = get(&client, &server, &format!("/api/traces/{}", "f".repeat(33))).await;
    assert_jaeger_error(
        st,
        &v,
        400,
        "cannot be longer than 32 hex characters",
        "long id",
    );
    let (st, v) = get(&client, &server, &format!("/api/traces/{id}?raw=foobar")).await;
    assert_jaeger_error(st, &v, 400, "unable to parse param 'raw'", "raw");
    let (st, v) = get(&client, &server, &format!("/api/traces/{id}?start=a")).await;
    assert_jaeger_error(st, &v, 400, "unable to parse param 'start'", "start");
}

#[tokio::test]
async fn short_trace_ids_and_base64() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    // a 64-bit trace id (high half zero), as Zipkin and old Jaeger clients make them
    let mut tid = vec![0u8; 8];
    tid.extend(random_span_id());
    tid[8] |= 0x10; // no leading zero digit in the low half
    post_protobuf(&client, &server, &sample_trace("short", &tid)).await;
    let low = hex(&tid[8..]);
    let (st, v) = get(&client, &server, &format!("/api/traces/{low}")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["data"][0]["traceID"],
        json!(low),
        "Jaeger prints 16 digits"
    );
    assert_eq!(v["data"][0]["spans"][0]["traceID"], json!(low));
    let (st, _) = get(&client, &server, &format!("/api/traces/{}", hex(&tid))).await;
    assert_eq!(st, 200, "the 32-digit form works too");
    let b64 = base64_url(&tid);
    assert_eq!(b64.len(), 22);
    let (st, _) = get(&client, &server, &format!("/api/traces/{b64}")).await;
    assert_eq!(st, 200, "base64 ids are accepted");
    let (st, v) = get(&client, &server, &format!("/api/v3/traces/{low}")).await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test]
async fn search_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let ids: Vec<Vec<u8>> = (0..3).map(|_| random_trace_id()).collect();
    let reqs = [
        sample_trace("search-a", &ids[0]),
        sample_trace("search-a", &ids[1]),
        sample_trace("search-b", &ids[2]),
    ];
    for r in &reqs {
        post_protobuf(&client, &server, r).await;
    }
    let t_min = reqs.iter().map(|r| starts(r).0).min().unwrap() / 1000;
    let t_max = reqs.iter().map(|r| starts(r).1).max().unwrap() / 1000;
    let window = format!("start={}&end={}", t_min - 1, t_max + 1);
    let found = |v: &Value| -> Vec<String> {
        let mut ids: Vec<_> = v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data in {v}"))
            .iter()
            .map(|t| t["traceID"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let all = {
        let mut a: Vec<_> = ids.iter().map(|i| hex(i)).collect();
        a.sort();
        a
    };
    let of = |which: &[usize]| {
        let mut a: Vec<_> = which.iter().map(|&i| hex(&ids[i])).collect();
        a.sort();
        a
    };
    let check = |query: String, want: Vec<String>| {
        let client = client.clone();
        let server = &server;
        async move {
            let (st, v) = get(&client, server, &format!("/api/traces?{query}")).await;
            assert_eq!(st, 200, "{query}: {v}");
            assert_envelope(&v, 0, &query);
            assert_eq!(v["errors"], Value::Null, "{query}");
            assert_eq!(found(&v), want, "{query}");
        }
    };

    check(format!("service=search-a&{window}"), of(&[0, 1])).await;
    // without a time window: Jaeger's default of the last two days
    check("service=search-b".into(), of(&[2])).await;
    // weft does not require the service
    check(window.clone(), all.clone()).await;
    let (_, v) = get(&client, &server, &format!("/api/traces?{window}&limit=2")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "limit");
    // tags as JSON and as key:value, matched on one span with the other conditions
    check(
        format!("{window}&tags={}", enc(r#"{"http.route":"/orders/{id}"}"#)),
        all.clone(),
    )
    .await;
    check(
        format!("{window}&tag=http.route:/orders/{}", enc("{id}")),
        all.clone(),
    )
    .await;
    check(format!("{window}&tag=http.route:/nope"), vec![]).await;
    check(
        format!("{window}&tag={}", enc("str:hello wörld")),
        all.clone(),
    )
    .await;
    check(
        format!("{window}&tags={}", enc(r#"{"error":"true"}"#)),
        all.clone(),
    )
    .await;
    check(
        format!("{window}&service=search-b&tag=host.name:box-1"),
        of(&[2]),
    )
    .await;
    // derived tags: span.kind and the status of the same span as the operation
    check(
        format!(
            "{window}&operation={}&tag=span.kind:client",
            enc("SELECT orders")
        ),
        all.clone(),
    )
    .await;
    check(
        format!(
            "{window}&operation={}&tag=span.kind:client",
            enc("lock wait")
        ),
        vec![],
    )
    .await;
    check(
        format!("{window}&tag=otel.scope.name:weft-test&tag=otel.status_code:ERROR"),
        all.clone(),
    )
    .await;
    check(
        format!(
            "{window}&operation={}&tag=otel.status_code:ERROR",
            enc("lock wait")
        ),
        vec![],
    )
    .await;
    check(
        format!(
            "{window}&tag={}",
            enc("otel.status_description:deadlock detected")
        ),
        all.clone(),
    )
    .await;
    // durations: Go duration strings, on one span
    check(format!("{window}&minDuration=50ms"), all.clone()).await;
    check(format!("{window}&minDuration=0.05s"), all.clone()).await;
    check(format!("{window}&minDuration=50001us"), vec![]).await;
    check(format!("{window}&maxDuration=18ms"), all.clone()).await;
    check(format!("{window}&maxDuration=17999us"), vec![]).await;
    check(
        format!(
            "{window}&operation={}&minDuration=25ms",
            enc("SELECT orders")
        ),
        vec![],
    )
    .await;
    check(
        format!(
            "{window}&operation={}&minDuration=15ms&maxDuration=25ms",
            enc("SELECT orders")
        ),
        all.clone(),
    )
    .await;
    // µs times bound the span start
    check(
        format!("start={}&end={}", t_max + 1_000_000, t_max + 2_000_000),
        vec![],
    )
    .await;
    check(
        format!("start={}&end={}", t_min - 2_000_000, t_min - 1_000_000),
        vec![],
    )
    .await;
    check(format!("lookback=1h&end={}", t_max + 1), all.clone()).await;
    check(format!("start=-5&end={}", i64::MAX), all.clone()).await;

    // several trace ids; an unknown one is reported in errors, not as a failure
    let unknown = hex(&random_trace_id());
    let (st, v) = get(
        &client,
        &server,
        &format!(
            "/api/traces?traceID={}&traceID={unknown}&traceID={}",
            hex(&ids[0]),
            hex(&ids[2])
        ),
    )
    .await;
    assert_eq!(st, 200);
    assert_envelope(&v, 0, "traceID lookup");
    assert_eq!(found(&v), of(&[0, 2]));
    assert_eq!(
        v["errors"],
        json!([{"msg": "trace not found", "traceID": unknown}])
    );

    // errors: 400 in Jaeger's envelope
    for (query, msg) in [
        (
            "tag=nocolon",
            "malformed 'tag' parameter, expecting key:value, received: nocolon",
        ),
        (
            "tags=%7Bnot",
            "malformed 'tags' parameter, cannot unmarshal JSON",
        ),
        (
            "minDuration=abc",
            "unable to parse param 'minDuration': time: invalid duration \"abc\"",
        ),
        ("maxDuration=5", "unable to parse param 'maxDuration'"),
        (
            "minDuration=2s&maxDuration=1s",
            "'maxDuration' should be greater than 'minDuration'",
        ),
        ("start=a", "unable to parse param 'start'"),
        ("end=1.5", "unable to parse param 'end'"),
        ("limit=x", "unable to parse param 'limit'"),
        ("limit=0", "unable to parse param 'limit'"),
        ("traceID=xyz", "cannot parse traceID param"),
        ("raw=maybe", "unable to parse param 'raw'"),
    ] {
        let (st, v) = get(&client, &server, &format!("/api/traces?{query}")).await;
        assert_jaeger_error(st, &v, 400, msg, query);
    }
}

fn rfc3339(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let days = (secs / 86_400) as i64;
    let (y, m, d) = weft_server::archive::civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        micros % 1_000_000
    )
}

#[tokio::test]
async fn api_v3_routes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let ids: Vec<Vec<u8>> = (0..2).map(|_| random_trace_id()).collect();
    let reqs = [sample_trace("v3-a", &ids[0]), sample_trace("v3-b", &ids[1])];
    for r in &reqs {
        post_protobuf(&client, &server, r).await;
    }
    let t_min = reqs.iter().map(|r| starts(r).0).min().unwrap() / 1000;
    let t_max = reqs.iter().map(|r| starts(r).1).max().unwrap() / 1000;
    let window = format!(
        "query.start_time_min={}&query.start_time_max={}",
        enc(&rfc3339(t_min - 1)),
        enc(&rfc3339(t_max + 1))
    );

    let (st, v) = get(&client, &server, "/api/v3/services").await;
    assert_eq!(st, 200);
    let mut s: Vec<_> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    s.sort();
    assert_eq!(s, ["v3-a", "v3-b"]);
    let (_, v) = get(
        &client,
        &server,
        "/api/v3/operations?service=v3-a&span_kind=client",
    )
    .await;
    assert_eq!(
        v,
        json!({"operations": [{"name": "SELECT orders", "spanKind": "client"}]})
    );
    let (_, v) = get(
        &client,
        &server,
        "/api/v3/operations?service=v3-a&spanKind=server",
    )
    .await;
    assert_eq!(v["operations"].as_array().unwrap().len(), 2);
    let (_, v) = get(&client, &server, "/api/v3/operations?service=nobody").await;
    assert_eq!(v, json!({"operations": []}));

    // one trace: OTLP/JSON under "result"
    let id = hex(&ids[0]);
    let (st, v) = get(&client, &server, &format!("/api/v3/traces/{id}")).await;
    assert_eq!(st, 200, "{v}");
    let body = serde_json::to_vec(&v["result"]).unwrap();
    let (b, rejected) = weft_proto::otlp::batch_from_request(
        weft_proto::json::decode_request(&body).expect("OTLP/JSON"),
    );
    assert_eq!(rejected.count, 0);
    assert_eq!(b.span_count(), 3);
    assert_eq!(b.resource_spans[0].resource.service_name(), "v3-a");
    let (st, v) = get(
        &client,
        &server,
        &format!("/api/v3/traces/{}", hex(&random_trace_id())),
    )
    .await;
    assert_eq!(
        (st, v),
        (
            404,
            json!({"error": {"httpCode": 404, "message": "No traces found"}})
        )
    );
    let (st, v) = get(&client, &server, "/api/v3/traces/xyz!").await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed parameter trace_id"),
        "{v}"
    );
    let (st, v) = get(
        &client,
        &server,
        &format!("/api/v3/traces/{id}?start_time=yesterday"),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed parameter start_time"),
        "{v}"
    );

    // search: every matching trace in one TracesData
    let search = |q: String| {
        let client = client.clone();
        let server = &server;
        async move { get(&client, server, &format!("/api/v3/traces?{q}")).await }
    };
    let (st, v) = search(window.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["resourceSpans"].as_array().unwrap().len(), 2);
    let (_, v) = search(format!("{window}&query.service_name=v3-b")).await;
    let rs = v["result"]["resourceSpans"].as_array().unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(
        rs[0]["scopeSpans"][0]["spans"][0]["traceId"],
        json!(hex(&ids[1]))
    );
    let (_, v) = search(format!("{window}&query.search_depth=1")).await;
    assert_eq!(v["result"]["resourceSpans"].as_array().unwrap().len(), 1);
    let (_, v) = search(format!(
        "{window}&query.operation_name={}&query.attributes={}&query.duration_min=15ms",
        enc("SELECT orders"),
        enc(r#"{"span.kind":"client"}"#)
    ))
    .await;
    assert_eq!(
        v["result"]["resourceSpans"].as_array().unwrap().len(),
        2,
        "{v}"
    );
    let (st, v) = search(format!("{window}&query.duration_min=60ms")).await;
    assert_eq!(
        (st, v),
        (
            404,
            json!({"error": {"httpCode": 404, "message": "No traces found"}})
        )
    );
    let (st, v) = search("query.service_name=v3-a".into()).await;
    assert_eq!(st, 400);
    assert_eq!(
        v["error"]["message"],
        json!("query.startTimeMin and query.startTimeMax are required")
    );
    let (st, v) = search(format!("{window}&query.duration_min=fast")).await;
    assert_eq!(st, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("malformed parameter query.duration_min"));
    let (st, v) = search(format!("{window}&query.attributes=%7B")).await;
    assert_eq!(st, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("malformed parameter query.attributes"));

    // summaries: proto3 JSON (zero fields omitted, 64-bit times as strings)
    let (st, v) = get(
        &client,
        &server,
        &format!("/api/v3/trace-summaries?{window}&query.serviceName=v3-a"),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (start, end) = starts(&reqs[0]);
    assert_eq!(
        v,
        json!({"summaries": [{
            "traceId": id,
            "rootServiceName": "v3-a",
            "rootOperationName": "GET /orders/{id}",
            "minStartTimeUnixNano": start.to_string(),
            "maxEndTimeUnixNano": end.to_string(),
            "spanCount": 3,
            "errorSpanCount": 1,
            "services": [{"name": "v3-a", "spanCount": 3, "errorSpanCount": 1}],
        }]})
    );
}

#[tokio::test]
async fn transform_and_archive_without_archive_dir() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    // Jaeger's own fixture through /api/transform gives Jaeger's own answer
    let fx = repo_root().join("crates/weft-proto/tests/fixtures/jaeger");
    let r = client
        .post(server.api("/api/transform"))
        .body(std::fs::read(fx.join("otlp2jaeger-in.json")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    let want: Value =
        serde_json::from_slice(&std::fs::read(fx.join("otlp2jaeger-out.json")).unwrap()).unwrap();
    assert_eq!(got, want);
    let r = client
        .post(server.api("/api/transform"))
        .body("{nope")
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    assert_jaeger_error(
        st,
        &r.json().await.unwrap(),
        400,
        "cannot unmarshal OTLP",
        "transform",
    );

    let tid = random_trace_id();
    post_protobuf(&client, &server, &sample_trace("arch", &tid)).await;
    let r = client
        .post(server.api(&format!("/api/archive/{}", hex(&tid))))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    assert_jaeger_error(
        st,
        &r.json().await.unwrap(),
        500,
        "archive span storage was not configured",
        "archive",
    );
}

/// What the Python SDK script reports sending.
fn run_python(server: &Server) -> Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/interop/python_send.py"))
        .args(["http", &format!("http://{}", server.otlp_http), "py-jaeger"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the Python sender ({e}): run scripts/test.sh, which installs the SDK"
            )
        });
    assert!(
        out.status.success(),
        "python sender failed: {}\n(run scripts/test.sh, which installs the SDK)",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the sender prints JSON")
}

#[tokio::test]
async fn python_sdk_trace_through_api_traces() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let sent = run_python(&server);
    let id = sent["traceId"].as_str().unwrap();
    let mut v = Value::Null;
    for _ in 0..50 {
        let (st, body) = get(&client, &server, &format!("/api/traces/{id}")).await;
        if st == 200
            && body["data"][0]["spans"]
                .as_array()
                .is_some_and(|s| s.len() == 2)
        {
            v = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_envelope(&v, 0, "python trace");
    let t = &v["data"][0];
    assert_eq!(t["traceID"], json!(id));
    let (root_sent, child_sent) = (&sent["spans"][0], &sent["spans"][1]);
    let root = span_named(t, "GET /checkout");
    let child = span_named(t, "charge card");
    assert_eq!(root["spanID"], root_sent["spanId"]);
    assert_eq!(root["startTime"], json!(1_700_000_000_123_456u64));
    assert_eq!(root["duration"], json!(50_000));
    assert_eq!(child["duration"], json!(29_000));

    // the process: service.name becomes serviceName, the other resource attributes (the SDK's
    // own telemetry.sdk.* among them) typed process tags
    let p = &t["processes"][root["processID"].as_str().unwrap()];
    assert_eq!(p["serviceName"], json!("py-jaeger"));
    let ptags: Vec<_> = p["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap(),
                t["type"].as_str().unwrap(),
                t["value"].clone(),
            )
        })
        .collect();
    assert!(
        ptags.contains(&("deployment.environment.name", "string", json!("test"))),
        "{ptags:?}"
    );
    assert!(
        ptags.contains(&("telemetry.sdk.language", "string", json!("python"))),
        "{ptags:?}"
    );
    assert!(
        ptags.contains(&("telemetry.sdk.name", "string", json!("opentelemetry"))),
        "{ptags:?}"
    );
    assert!(ptags.iter().all(|(k, _, _)| *k != "service.name"));
    assert_eq!(
        child["processID"], root["processID"],
        "one process for one resource"
    );

    // scope, kind, typed attributes (arrays as JSON strings, ints beyond 2^53 as strings)
    assert_eq!(
        tag(root, "otel.scope.name"),
        Some(("string", &json!("interop.python")))
    );
    assert_eq!(
        tag(root, "otel.scope.version"),
        Some(("string", &json!("1.2.3")))
    );
    assert_eq!(tag(root, "span.kind"), Some(("string", &json!("server"))));
    assert_eq!(tag(child, "span.kind"), Some(("string", &json!("client"))));
    assert_eq!(tag(root, "str"), Some(("string", &json!("hello wörld"))));
    assert_eq!(tag(root, "bool"), Some(("bool", &json!(true))));
    assert_eq!(
        tag(root, "int"),
        Some(("int64", &json!("-9007199254740993")))
    );
    assert_eq!(tag(root, "double"), Some(("float64", &json!(3.25))));
    assert_eq!(
        tag(root, "str_array"),
        Some(("string", &json!("[\"a\",\"b\"]")))
    );
    assert_eq!(tag(root, "int_array"), Some(("string", &json!("[1,2,3]"))));
    assert_eq!(
        tag(root, "double_array"),
        Some(("string", &json!("[0.5,-1.5]")))
    );
    assert_eq!(
        tag(root, "bool_array"),
        Some(("string", &json!("[true,false]")))
    );
    assert_eq!(
        tag(root, "otel.status_code"),
        None,
        "unset status has no tag"
    );
    assert_eq!(tag(root, "error"), None);

    // status → otel.status_code, error=true, otel.status_description
    assert_eq!(
        tag(child, "otel.status_code"),
        Some(("string", &json!("ERROR")))
    );
    assert_eq!(tag(child, "error"), Some(("bool", &json!(true))));
    assert_eq!(
        tag(child, "otel.status_description"),
        Some(("string", &json!("card declined")))
    );

    // parent → CHILD_OF first, link → FOLLOWS_FROM
    assert_eq!(
        child["references"],
        json!([
            {"refType": "CHILD_OF", "traceID": id, "spanID": root_sent["spanId"]},
            {"refType": "FOLLOWS_FROM", "traceID": "0af7651916cd43dd8448eb211c80319c", "spanID": "b7ad6b7169203331"},
        ])
    );
    assert_eq!(root["references"], json!([]));

    // event → log with an `event` field, attributes typed
    assert_eq!(
        child["logs"],
        json!([{"timestamp": 1_700_000_000_125_456u64, "fields": [
            {"key": "event", "type": "string", "value": "exception"},
            {"key": "attempt", "type": "int64", "value": 2},
            {"key": "exception.message", "type": "string", "value": "card declined"}]}]),
        "{}",
        child_sent
    );
    assert_eq!(root["warnings"], Value::Null);
    assert_eq!(
        child["warnings"],
        Value::Null,
        "the child fits in its parent: no skew warning"
    );
}
