//! Jaeger JSON: our output for an equivalent input compared key by key and type by type with
//! Jaeger's own fixtures (see tests/fixtures/jaeger/README.md for their origin), and Jaeger's
//! adjusters checked on hand-built traces (the clock-skew table is Jaeger's own test table).

use serde_json::{json, Value};
use std::sync::Arc;
use weft_model::*;
use weft_proto::jaeger::{self, WARNINGS_ATTRIBUTE};
use weft_proto::{json as otlp_json, otlp};

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/jaeger/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn batch_from_fixture(name: &str) -> Batch {
    let p = format!(
        "{}/tests/fixtures/jaeger/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let req = otlp_json::decode_request(&std::fs::read(&p).unwrap()).expect("valid OTLP/JSON");
    let (b, rejected) = otlp::batch_from_request(req);
    assert_eq!(rejected.count, 0, "{}", rejected.message);
    b
}

/// Asserts that `ours` has exactly the keys, JSON types and values of `theirs` (numbers compare
/// by value, so Go's `3` equals `3.0`); the message names the first differing path.
fn assert_same(ours: &Value, theirs: &Value, path: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<_> = a.keys().collect();
            let kb: Vec<_> = b.keys().collect();
            assert_eq!(ka, kb, "keys of {path}");
            for (k, v) in b {
                assert_same(&a[k], v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "length of {path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{path}")
        }
        (a, b) => {
            assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "JSON type of {path}: ours {a}, Jaeger's {b}"
            );
            assert_eq!(a, b, "{path}");
        }
    }
}

fn envelope(data: Value) -> Value {
    json!({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": null})
}

#[test]
fn transform_fixture_matches_jaeger() {
    // /api/transform converts without adjusters: the same input, the same output
    let b = batch_from_fixture("otlp2jaeger-in.json");
    let t = jaeger::to_ui_trace(&b).expect("spans");
    let ours = envelope(json!([serde_json::to_value(&t).unwrap()]));
    assert_same(&ours, &fixture("otlp2jaeger-out.json"), "$");
}

#[test]
fn ui_01_fixture_matches_jaeger() {
    let b = batch_from_fixture("ui_01.otlp.json");
    let mut ours = serde_json::to_value(jaeger::to_ui_trace(&b).expect("spans")).unwrap();
    // trace-level warnings only come from Jaeger's v1 model, never from an OTLP trace
    assert_eq!(ours["warnings"], Value::Null);
    ours["warnings"] = json!(["some trace warning"]);
    assert_same(&ours, &fixture("ui_01.json"), "$");
}

#[test]
fn v3_get_trace_snapshot() {
    let b = Batch {
        resource_spans: vec![ResourceSpans {
            resource: Arc::default(),
            scope_spans: vec![ScopeSpans {
                scope: Arc::default(),
                spans: vec![Span {
                    trace_id: TraceId::from_hex("00000000000000000000000000000001").unwrap(),
                    span_id: SpanId::from_hex("0000000000000002").unwrap(),
                    name: "foobar".into(),
                    kind: SpanKind::Server,
                    status: Status {
                        code: weft_model::StatusCode::Error,
                        message: String::new(),
                    },
                    ..Default::default()
                }],
            }],
        }],
    };
    let ours = json!({"result": jaeger::otlp_json(&b)});
    assert_same(&ours, &fixture("v3_GetTrace.json"), "$");
}

fn span(id: u64, parent: Option<u64>, name: &str, start: u64, end: u64) -> Span {
    Span {
        trace_id: TraceId::from_hex("00000000000000000000000000000001").unwrap(),
        span_id: SpanId(id.to_be_bytes()),
        parent_span_id: parent.map(|p| SpanId(p.to_be_bytes())),
        name: name.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    }
}

fn resource(attrs: &[(&str, AnyValue)]) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: attrs
            .iter()
            .map(|(k, v)| KeyValue::new(*k, v.clone()))
            .collect(),
        ..Default::default()
    })
}

fn one_resource(r: Arc<Resource>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: r,
        scope_spans: vec![ScopeSpans {
            scope: Arc::default(),
            spans,
        }],
    }
}

#[test]
fn v3_trace_summary_snapshot() {
    // Jaeger's gateway_test builds: root "HTTP GET /" 1000 s..1001 s, an error child
    let mut child = span(2, Some(1), "child", 1_000_000_000_100, 1_000_000_000_900);
    child.status.code = weft_model::StatusCode::Error;
    let b = Batch {
        resource_spans: vec![one_resource(
            resource(&[("service.name", AnyValue::String("frontend".into()))]),
            vec![
                span(1, None, "HTTP GET /", 1_000_000_000_000, 1_001_000_000_000),
                child,
            ],
        )],
    };
    let ours = json!({"summaries": [jaeger::trace_summary_v3(&b)]});
    assert_same(&ours, &fixture("v3_FindTraceSummaries.json"), "$");
    // an orphan and a missing root are counted as Jaeger counts them
    let b = Batch {
        resource_spans: vec![one_resource(
            resource(&[]),
            vec![span(5, Some(9), "late", 10, 20)],
        )],
    };
    assert_eq!(
        jaeger::trace_summary_v3(&b),
        json!({"traceId": "00000000000000000000000000000001", "minStartTimeUnixNano": "10",
               "maxEndTimeUnixNano": "20", "spanCount": 1, "orphanSpanCount": 1,
               "services": [{"spanCount": 1}]})
    );
}

fn warnings_of(s: &Span) -> Vec<String> {
    match s.attribute(WARNINGS_ATTRIBUTE) {
        Some(AnyValue::Array(a)) => a.iter().map(|v| v.to_string()).collect(),
        None => vec![],
        other => panic!("warnings attribute {other:?}"),
    }
}

/// One span of Jaeger's clock-skew table: id, parent, start ms, duration ms, host; then the
/// warnings weft must leave (Jaeger's default disables adjustment, so every non-zero delta is
/// reported, not applied).
type SkewSpan = (u8, u8, u64, u64, &'static str);

fn check_skew(spans: &[SkewSpan], expect: &[&[&str]]) {
    let ms = 1_000_000u64;
    let b = Batch {
        resource_spans: spans
            .iter()
            .enumerate()
            // distinct names: two equal spans would be dropped as duplicates before the skew check
            .map(|(i, &(id, parent, start, dur, host))| {
                let mut s = span(
                    u64::from(id) << 56,
                    (parent != 0).then_some(if parent == 99 {
                        99
                    } else {
                        u64::from(parent) << 56
                    }),
                    &format!("op{i}"),
                    start * ms,
                    (start + dur) * ms,
                );
                s.trace_id = TraceId::from_hex("00000000000000000000000000000001").unwrap();
                let r = if host.is_empty() {
                    resource(&[])
                } else {
                    resource(&[(
                        "host.ip",
                        AnyValue::Array(vec![AnyValue::String(host.into())]),
                    )])
                };
                one_resource(r, vec![s])
            })
            .collect(),
    };
    let mut adjusted = b.clone();
    jaeger::adjust(&mut adjusted);
    for (i, want) in expect.iter().enumerate() {
        let got = &adjusted.resource_spans[i].scope_spans[0].spans[0];
        let orig = &b.resource_spans[i].scope_spans[0].spans[0];
        assert_eq!(
            got.start_time_unix_nano, orig.start_time_unix_nano,
            "never adjusted"
        );
        assert_eq!(warnings_of(got), *want, "span {i} of {spans:?}");
    }
}

#[test]
fn clock_skew_table_from_jaeger() {
    check_skew(
        &[(1, 99, 0, 100, "a")],
        &[&["parent span ID=0000000000000063 is not in the trace; skipping clock skew adjustment"]],
    );
    check_skew(&[(1, 0, 0, 100, "")], &[&[]]);
    check_skew(
        &[(1, 0, 0, 100, "a"), (1, 0, 0, 100, "a")],
        &[&[], &["duplicate span IDs; skipping clock skew adjustment"]],
    );
    check_skew(&[(1, 0, 0, 100, "a"), (2, 1, 10, 50, "a")], &[&[], &[]]);
    check_skew(&[(1, 0, 10, 100, "a"), (2, 1, 0, 50, "a")], &[&[], &[]]);
    check_skew(&[(1, 0, 10, 100, "a"), (2, 1, 20, 50, "b")], &[&[], &[]]);
    check_skew(&[(1, 0, 10, 100, "a"), (2, 1, 20, 150, "b")], &[&[], &[]]);
    let disabled =
        |d: &str| format!("clock skew adjustment disabled; not applying calculated delta of {d}");
    check_skew(
        &[(1, 0, 10, 100, "a"), (2, 1, 0, 50, "b")],
        &[&[], &[&disabled("35ms")]],
    );
    check_skew(
        &[(1, 0, 10, 100, "a"), (2, 1, 80, 50, "b")],
        &[&[], &[&disabled("-45ms")]],
    );
    check_skew(
        &[(1, 0, 10, 100, "a"), (2, 1, 0, 150, "b")],
        &[&[], &[&disabled("10ms")]],
    );
    // the skew of a host carries to its children on the same host
    check_skew(
        &[
            (1, 0, 10, 100, "a"),
            (2, 1, 50, 70, "b"),
            (3, 2, 60, 20, "b"),
        ],
        &[&[], &[&disabled("-25ms")], &[&disabled("-25ms")]],
    );
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue::new(k, v)
}

fn s(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

#[test]
fn adjusters_sort_move_normalize_and_dedupe() {
    let mut server = span(7, Some(1), "server", 0, 10);
    server.kind = SpanKind::Server;
    server.attributes = vec![
        kv("z", s("last")),
        kv("telemetry.sdk.language", s("python")),
        kv("peer.ipv4", AnyValue::Int(0x7f000001)),
        kv("a", s("first")),
    ];
    server.events = vec![
        Event {
            name: "b".into(),
            ..Default::default()
        },
        Event {
            name: "a".into(),
            attributes: vec![kv("y", s("1")), kv("x", s("2"))],
            ..Default::default()
        },
    ];
    let mut client = span(7, Some(1), "client", 0, 10);
    client.kind = SpanKind::Client;
    let child = span(8, Some(7), "child of the server", 1, 2);
    let mut conflicting = span(9, Some(1), "other sdk", 0, 10);
    conflicting.attributes = vec![kv("telemetry.sdk.language", s("go"))];
    let dup = span(10, Some(1), "dup", 3, 4);
    let b = Batch {
        resource_spans: vec![one_resource(
            resource(&[
                ("service.name", s("svc")),
                ("host.name", s("h")),
                ("ip", AnyValue::Int(0x0a000001)),
            ]),
            vec![server, client, child, conflicting, dup.clone(), dup.clone()],
        )],
    };
    let mut a = b.clone();
    jaeger::adjust(&mut a);
    let rs = &a.resource_spans[0];
    let spans = &rs.scope_spans[0].spans;
    assert_eq!(spans.len(), 5, "the duplicate span is dropped");
    // server span: fresh id 1 (the lowest unused), parent = the shared id 7
    let server = &spans[0];
    assert_eq!(server.span_id, SpanId(1u64.to_be_bytes()));
    assert_eq!(server.parent_span_id, Some(SpanId(7u64.to_be_bytes())));
    assert_eq!(
        spans[2].parent_span_id,
        Some(server.span_id),
        "children of the server span follow it"
    );
    let keys: Vec<_> = server.attributes.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["a", "peer.ipv4", "z"], "sorted; telemetry.sdk moved");
    assert_eq!(server.attribute("peer.ipv4"), Some(&s("127.0.0.1")));
    assert_eq!(
        server
            .events
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(server.events[0].attributes[0].key, "x");
    assert_eq!(
        rs.resource.attribute("telemetry.sdk.language"),
        Some(&s("python"))
    );
    assert_eq!(rs.resource.attribute("ip"), Some(&s("10.0.0.1")));
    assert_eq!(
        warnings_of(&spans[3]),
        ["conflicting values between Span and Resource for attribute telemetry.sdk.language"]
    );
    assert_eq!(spans[3].attribute("telemetry.sdk.language"), Some(&s("go")));
}

#[test]
fn otel_to_jaeger_tags_references_and_logs() {
    let tid = TraceId::from_hex("83a9efd15c1c98a977e0711cc93ee28b").unwrap();
    let other = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
    let mut sp = span(
        2,
        Some(1),
        "charge",
        1_700_000_000_123_456_789,
        1_700_000_000_153_456_789,
    );
    sp.trace_id = tid;
    sp.kind = SpanKind::Client;
    sp.trace_state = "vendor=abc".into();
    sp.status = Status {
        code: weft_model::StatusCode::Error,
        message: "card declined".into(),
    };
    sp.attributes = vec![
        kv("str", s("hello")),
        kv("bool", AnyValue::Bool(true)),
        kv("int", AnyValue::Int(-9_007_199_254_740_993)),
        kv("small", AnyValue::Int(42)),
        kv("double", AnyValue::Double(3.25)),
        kv("bytes", AnyValue::Bytes(vec![0, 1, 254])),
        kv("arr", AnyValue::Array(vec![s("a"), AnyValue::Int(2)])),
        kv(
            "map",
            AnyValue::KvList(vec![kv("k", AnyValue::Bool(false))]),
        ),
    ];
    sp.events = vec![
        Event {
            time_unix_nano: 1_700_000_000_125_000_000,
            name: "exception".into(),
            attributes: vec![kv("exception.message", s("declined"))],
            ..Default::default()
        },
        Event {
            time_unix_nano: 1_700_000_000_126_000_000,
            name: "ignored name".into(),
            attributes: vec![kv("event", s("explicit"))],
            ..Default::default()
        },
    ];
    sp.links = vec![
        Link {
            trace_id: other,
            span_id: SpanId::from_hex("b7ad6b7169203331").unwrap(),
            attributes: vec![kv("link.reason", s("retry-of"))],
            ..Default::default()
        },
        Link {
            trace_id: tid,
            span_id: SpanId(1u64.to_be_bytes()),
            attributes: vec![kv("opentracing.ref_type", s("follows_from"))],
            ..Default::default()
        },
    ];
    let b = Batch {
        resource_spans: vec![ResourceSpans {
            resource: resource(&[
                ("service.name", s("checkout")),
                ("deployment.environment.name", s("test")),
            ]),
            scope_spans: vec![ScopeSpans {
                scope: Arc::new(Scope {
                    name: "interop.python".into(),
                    version: "1.2.3".into(),
                    ..Default::default()
                }),
                spans: vec![sp],
            }],
        }],
    };
    let got = serde_json::to_value(jaeger::to_ui_trace(&b).unwrap()).unwrap();
    let want = json!({
        "traceID": "83a9efd15c1c98a977e0711cc93ee28b",
        "spans": [{
            "traceID": "83a9efd15c1c98a977e0711cc93ee28b",
            "spanID": "0000000000000002",
            "operationName": "charge",
            // the link to the parent overrides the parent reference's type
            "references": [
                {"refType": "FOLLOWS_FROM", "traceID": "83a9efd15c1c98a977e0711cc93ee28b", "spanID": "0000000000000001"},
                {"refType": "FOLLOWS_FROM", "traceID": "0af7651916cd43dd8448eb211c80319c", "spanID": "b7ad6b7169203331"},
            ],
            "startTime": 1_700_000_000_123_456u64,
            "duration": 30_000,
            "tags": [
                {"key": "otel.scope.name", "type": "string", "value": "interop.python"},
                {"key": "otel.scope.version", "type": "string", "value": "1.2.3"},
                {"key": "str", "type": "string", "value": "hello"},
                {"key": "bool", "type": "bool", "value": true},
                {"key": "int", "type": "int64", "value": "-9007199254740993"},
                {"key": "small", "type": "int64", "value": 42},
                {"key": "double", "type": "float64", "value": 3.25},
                {"key": "bytes", "type": "binary", "value": "AAH+"},
                {"key": "arr", "type": "string", "value": "[\"a\",2]"},
                {"key": "map", "type": "string", "value": "{\"k\":false}"},
                {"key": "span.kind", "type": "string", "value": "client"},
                {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                {"key": "error", "type": "bool", "value": true},
                {"key": "otel.status_description", "type": "string", "value": "card declined"},
                {"key": "w3c.tracestate", "type": "string", "value": "vendor=abc"},
            ],
            "logs": [
                {"timestamp": 1_700_000_000_125_000u64, "fields": [
                    {"key": "event", "type": "string", "value": "exception"},
                    {"key": "exception.message", "type": "string", "value": "declined"}]},
                {"timestamp": 1_700_000_000_126_000u64, "fields": [
                    {"key": "event", "type": "string", "value": "explicit"}]},
            ],
            "processID": "p1",
            "warnings": null,
        }],
        "processes": {"p1": {"serviceName": "checkout", "tags": [
            {"key": "deployment.environment.name", "type": "string", "value": "test"}]}},
        "warnings": null,
    });
    assert_same(&got, &want, "$");
}

#[test]
fn processes_are_shared_by_value_and_numbered_in_order() {
    let r1 = resource(&[("service.name", s("a"))]);
    let r1_copy = resource(&[("service.name", s("a"))]);
    let r2 = resource(&[("service.name", s("b")), ("k", s("v"))]);
    let b = Batch {
        resource_spans: vec![
            one_resource(r1, vec![span(1, None, "x", 0, 1)]),
            one_resource(r2, vec![span(2, Some(1), "y", 0, 1)]),
            one_resource(r1_copy, vec![span(3, Some(1), "z", 0, 1)]),
        ],
    };
    let t = jaeger::to_ui_trace(&b).unwrap();
    let ids: Vec<_> = t.spans.iter().map(|s| s.process_id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p1"]);
    assert_eq!(t.processes.0.len(), 2);
    assert_eq!(
        t.trace_id, "0000000000000001",
        "high 64 bits zero: 16 digits"
    );
    assert!(jaeger::to_ui_trace(&Batch::default()).is_none());
}
