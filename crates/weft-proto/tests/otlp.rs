//! Protobuf ↔ model: validation with OTLP partial success, and decode errors.

use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::trace::v1 as pb;
use prost::Message;
use weft_model::*;
use weft_proto::{json, otlp, ExportTraceServiceRequest};

fn valid_span(n: u8) -> pb::Span {
    pb::Span {
        trace_id: vec![1; 16],
        span_id: vec![n; 8],
        name: format!("s{n}"),
        links: vec![pb::span::Link {
            trace_id: vec![2; 16],
            span_id: vec![3; 8],
            ..Default::default()
        }],
        status: Some(pb::Status {
            code: 2,
            message: "m".into(),
        }),
        ..Default::default()
    }
}

/// Converts `valid_span(7)` changed by `edit`; `expect` is the model span or the exact reason.
fn check(edit: impl FnOnce(&mut pb::Span), expect: Result<(), &str>) {
    let mut s = valid_span(7);
    edit(&mut s);
    let what = format!("{s:?}");
    match (otlp::span_from_proto(s), expect) {
        (Ok(_), Ok(())) => {}
        (Err(got), Err(want)) => assert_eq!(got, want, "{what}"),
        (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn span_validation_reasons() {
    check(|_| {}, Ok(()));
    check(
        |s| s.trace_id = vec![1, 2, 3],
        Err("traceId: expected 16 bytes, got 3"),
    );
    check(
        |s| s.trace_id = vec![],
        Err("traceId: expected 16 bytes, got 0"),
    );
    check(
        |s| s.trace_id = vec![0; 16],
        Err("traceId: all-zero id is invalid"),
    );
    check(
        |s| s.span_id = vec![9; 16],
        Err("spanId: expected 8 bytes, got 16"),
    );
    check(
        |s| s.span_id = vec![0; 8],
        Err("spanId: all-zero id is invalid"),
    );
    check(
        |s| s.parent_span_id = vec![9; 3],
        Err("parentSpanId: expected 8 bytes, got 3"),
    );
    check(
        |s| s.parent_span_id = vec![0; 3],
        Err("parentSpanId: expected 8 bytes, got 3"),
    );
    check(|s| s.parent_span_id = vec![9; 8], Ok(()));
    check(|s| s.kind = 6, Err("kind: unknown span kind 6"));
    check(|s| s.kind = -1, Err("kind: unknown span kind -1"));
    check(
        |s| s.status.as_mut().unwrap().code = 3,
        Err("status.code: unknown status code 3"),
    );
    check(
        |s| s.links[0].trace_id = vec![1; 15],
        Err("links[0].traceId: expected 16 bytes, got 15"),
    );
    check(
        |s| {
            s.links.push(s.links[0].clone());
            s.links[1].span_id = vec![0; 8];
        },
        Err("links[1].spanId: all-zero id is invalid"),
    );
}

#[test]
fn parent_ids_empty_or_all_zero_mean_root() {
    for parent in [vec![], vec![0; 8]] {
        let mut s = valid_span(7);
        s.parent_span_id = parent.clone();
        assert_eq!(
            otlp::span_from_proto(s).unwrap().parent_span_id,
            None,
            "{parent:?}"
        );
    }
    let mut s = valid_span(7);
    s.parent_span_id = vec![5; 8];
    assert_eq!(
        otlp::span_from_proto(s).unwrap().parent_span_id,
        Some(SpanId([5; 8]))
    );
}

#[test]
fn every_field_converts() {
    let p = pb::Span {
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
        trace_state: "a=b".into(),
        parent_span_id: (11..=18).collect(),
        flags: 0x101,
        name: "n".into(),
        kind: 4,
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        attributes: vec![common::KeyValue {
            key: "k".into(),
            value: Some(common::AnyValue {
                value: Some(common::any_value::Value::IntValue(-1)),
            }),
            ..Default::default()
        }],
        dropped_attributes_count: 1,
        events: vec![pb::span::Event {
            time_unix_nano: 15,
            name: "e".into(),
            attributes: vec![],
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![pb::span::Link {
            trace_id: vec![2; 16],
            span_id: vec![3; 8],
            trace_state: "l".into(),
            attributes: vec![],
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status: Some(pb::Status {
            code: 1,
            message: "ok".into(),
        }),
    };
    let s = otlp::span_from_proto(p.clone()).unwrap();
    assert_eq!(
        s,
        Span {
            trace_id: TraceId(std::array::from_fn(|i| i as u8 + 1)),
            span_id: SpanId(std::array::from_fn(|i| i as u8 + 1)),
            trace_state: "a=b".into(),
            parent_span_id: Some(SpanId(std::array::from_fn(|i| i as u8 + 11))),
            flags: 0x101,
            name: "n".into(),
            kind: SpanKind::Producer,
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            attributes: vec![KeyValue::new("k", AnyValue::Int(-1))],
            dropped_attributes_count: 1,
            events: vec![Event {
                time_unix_nano: 15,
                name: "e".into(),
                attributes: vec![],
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![Link {
                trace_id: TraceId([2; 16]),
                span_id: SpanId([3; 8]),
                trace_state: "l".into(),
                attributes: vec![],
                dropped_attributes_count: 4,
                flags: 1,
            }],
            dropped_links_count: 5,
            status: Status {
                code: StatusCode::Ok,
                message: "ok".into(),
            },
        }
    );
    assert_eq!(otlp::span_to_proto(&s), p);
    // a default status is absent on the wire, and absent reads as the default
    let mut bare = valid_span(1);
    bare.status = None;
    let m = otlp::span_from_proto(bare.clone()).unwrap();
    assert_eq!(m.status, Status::default());
    assert_eq!(otlp::span_to_proto(&m), bare);
}

fn request(resources: Vec<Vec<Vec<pb::Span>>>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .enumerate()
            .map(|(i, scopes)| pb::ResourceSpans {
                resource: Some(Default::default()),
                schema_url: format!("r{i}"),
                scope_spans: scopes
                    .into_iter()
                    .enumerate()
                    .map(|(j, spans)| pb::ScopeSpans {
                        scope: Some(common::InstrumentationScope {
                            name: format!("scope{i}.{j}"),
                            ..Default::default()
                        }),
                        schema_url: String::new(),
                        spans,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn bad(n: u8) -> pb::Span {
    pb::Span {
        trace_id: vec![n],
        ..valid_span(n)
    }
}

#[test]
fn rejected_spans_are_counted_and_emptied_groups_dropped() {
    let req = request(vec![
        vec![vec![bad(1), bad(2)]], // resource 0: nothing left
        vec![vec![bad(3)], vec![valid_span(4), bad(5)]], // resource 1: scope 0 emptied
        vec![vec![]],               // came empty
    ]);
    let (b, r) = otlp::batch_from_request(req);
    assert_eq!(r.count, 4);
    assert_eq!(
        r.message,
        "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 1; \
         resourceSpans[0].scopeSpans[0].spans[1].traceId: expected 16 bytes, got 1; \
         resourceSpans[1].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 1; \
         and 1 more"
    );
    assert_eq!(b.resource_spans.len(), 1);
    assert_eq!(b.resource_spans[0].resource.schema_url, "r1");
    assert_eq!(b.resource_spans[0].scope_spans.len(), 1);
    assert_eq!(b.resource_spans[0].scope_spans[0].scope.name, "scope1.1");
    let names: Vec<&str> = b.spans().map(|s| s.span.name.as_str()).collect();
    assert_eq!(names, ["s4"]);
}

#[test]
fn few_rejections_are_all_listed() {
    let (_, r) = otlp::batch_from_request(request(vec![vec![vec![
        bad(1),
        valid_span(2),
        bad(3),
        bad(4),
    ]]]));
    assert_eq!(r.count, 3);
    assert_eq!(r.message.matches("traceId").count(), 3, "{}", r.message);
    assert!(!r.message.contains("more"), "{}", r.message);
    assert!(r
        .message
        .ends_with("spans[3].traceId: expected 16 bytes, got 1"));

    let (b, r) = otlp::batch_from_request(ExportTraceServiceRequest::default());
    assert_eq!((b, r), (Batch::default(), otlp::Rejected::default()));
}

/// OTLP/JSON shares the validation: a wrong-length or zero id is partial success, not an error.
#[test]
fn json_ids_of_the_wrong_length_are_partial_success() {
    let doc = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"0102","spanId":"0102030405060708","name":"short trace id"},
        {"traceId":"00000000000000000000000000000000","spanId":"0102030405060708","name":"zero trace id"},
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"ok"},
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","parentSpanId":"01","name":"bad parent"},
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","kind":9,"name":"bad kind"},
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","links":[{"traceId":"01","spanId":"0102030405060708"}]}
    ]}]}]}"#;
    let (b, r) = otlp::batch_from_request(json::decode_request(doc.as_bytes()).unwrap());
    assert_eq!(b.span_count(), 1);
    assert_eq!(b.spans().next().unwrap().span.name, "ok");
    assert_eq!(r.count, 5);
    assert_eq!(
        r.message,
        "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 2; \
         resourceSpans[0].scopeSpans[0].spans[1].traceId: all-zero id is invalid; \
         resourceSpans[0].scopeSpans[0].spans[3].parentSpanId: expected 8 bytes, got 1; \
         and 2 more"
    );
}

#[test]
fn protobuf_decode_errors_say_what_was_expected() {
    let full = request(vec![vec![vec![valid_span(1)]]]).encode_to_vec();
    for body in [
        &full[..full.len() - 3],
        b"\x0a\x05\x0a\x03",
        b"not protobuf at all",
    ] {
        let e = otlp::decode_request(body).expect_err("invalid");
        assert!(
            e.to_string()
                .starts_with("not a valid OTLP protobuf ExportTraceServiceRequest: "),
            "{e}"
        );
        assert!(e.message.len() > 55, "prost's reason is included: {e}");
    }
    // unknown fields (a newer OTLP) are skipped, as protobuf requires
    let mut newer = full.clone();
    newer.extend_from_slice(&[0xf8, 0x06, 0x01]); // field 111, varint 1
    assert_eq!(
        otlp::decode_request(&newer).unwrap(),
        otlp::decode_request(&full).unwrap()
    );
    assert_eq!(
        otlp::decode_request(b"").unwrap(),
        ExportTraceServiceRequest::default()
    );
}

#[test]
fn empty_values_and_attribute_lists() {
    let attrs = vec![
        KeyValue::new("empty", AnyValue::Empty),
        KeyValue::new("arr", AnyValue::Array(vec![AnyValue::Empty])),
        KeyValue::new(
            "kv",
            AnyValue::KvList(vec![KeyValue::new("e", AnyValue::Empty)]),
        ),
    ];
    let p = otlp::attributes_to_proto(&attrs);
    assert_eq!(p[0].value, None);
    assert_eq!(otlp::attributes_from_proto(p), attrs);
    // a value message with nothing set is empty, too
    let explicit = vec![common::KeyValue {
        key: "k".into(),
        value: Some(common::AnyValue { value: None }),
        ..Default::default()
    }];
    assert_eq!(
        otlp::attributes_from_proto(explicit),
        [KeyValue::new("k", AnyValue::Empty)]
    );
}
