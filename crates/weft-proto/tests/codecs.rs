use proptest::prelude::*;
use weft_model::{AnyValue, SpanKind, StatusCode};
use weft_proto::{json, otlp};

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// What comes in over OTLP comes out over OTLP unchanged, in both encodings, and both
    /// encodings decode to the same request.
    #[test]
    fn protobuf_and_json_round_trip(batch in weft_testkit::arb::batch()) {
        let bytes = otlp::encode_request(&batch);
        let from_pb = otlp::decode_request(&bytes).unwrap();
        let (back, rejected) = otlp::batch_from_request(from_pb.clone());
        prop_assert_eq!(rejected.count, 0);
        prop_assert_eq!(&back, &batch);

        let text = json::encode_traces_data(&batch);
        let from_json = json::decode_request(&text).unwrap();
        prop_assert_eq!(&from_json, &from_pb);
        let (back, _) = otlp::batch_from_request(from_json);
        prop_assert_eq!(&back, &batch);
    }
}

#[test]
fn fixture_with_names_strings_and_every_value_type() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/trace.json"
    ))
    .unwrap();
    let (b, rejected) = otlp::batch_from_request(json::decode_request(&text).unwrap());
    assert_eq!(rejected.count, 0);
    let s = b.spans().next().unwrap();
    assert_eq!(s.resource.service_name(), "my.service");
    assert_eq!(
        (s.scope.name.as_str(), s.scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    let sp = s.span;
    assert_eq!(sp.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(sp.parent_span_id.unwrap().to_hex(), "eee19b7ec3c1b173");
    assert_eq!(sp.kind, SpanKind::Server);
    assert_eq!(sp.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(sp.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(
        (sp.status.code, sp.status.message.as_str()),
        (StatusCode::Error, "boom")
    );
    assert_eq!(sp.attribute("answer"), Some(&AnyValue::Int(42)));
    assert!(matches!(sp.attribute("ratio"), Some(AnyValue::Double(d)) if d.is_nan()));
    assert_eq!(
        sp.attribute("raw"),
        Some(&AnyValue::Bytes(vec![0, 1, 2, 255]))
    );
    assert_eq!(
        sp.attribute("list"),
        Some(&AnyValue::Array(vec![
            AnyValue::Bool(true),
            AnyValue::Int(-7)
        ]))
    );
    assert_eq!(sp.attribute("empty"), Some(&AnyValue::Empty));
    // and out again: lowercase hex, 64-bit integers as strings, enums as numbers
    let out = json::encode_traces_data_value(&b);
    let span = &out["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(span["startTimeUnixNano"], "1544712660000000000");
    assert_eq!(span["kind"], 2);
    assert_eq!(span["status"]["code"], 2);
    assert_eq!(span["attributes"][1]["value"]["intValue"], "42");
    assert_eq!(span["attributes"][2]["value"]["doubleValue"], "NaN");
}

fn check_err(doc: &str, path: &str, message: &str) {
    let e = json::decode_request(doc.as_bytes()).expect_err(doc);
    assert_eq!(e.path, path, "{doc}: {e}");
    assert!(e.message.contains(message), "{doc}: {e}");
}

#[test]
fn json_errors_name_the_path() {
    check_err("{", "$", "not valid JSON");
    check_err("[]", "$", "expected an object");
    check_err(
        r#"{"resourceSpans":{}}"#,
        "$.resourceSpans",
        "expected an array",
    );
    check_err(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
        "resourceSpans[0].scopeSpans[0].spans[0].traceId",
        "not a hex string",
    );
    check_err(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"abc"}]}]}]}"#,
        "resourceSpans[0].scopeSpans[0].spans[0].spanId",
        "even number",
    );
    check_err(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
        "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
        "expected an integer",
    );
    check_err(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SIDEWAYS"}]}]}]}"#,
        "resourceSpans[0].scopeSpans[0].spans[0].kind",
        "unknown value",
    );
    check_err(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"intValue":"1.5"}}]}]}]}]}"#,
        "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue",
        "expected an integer",
    );
    check_err(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":-1}]}]}]}"#,
        "resourceSpans[0].scopeSpans[0].spans[0].flags",
        "out of range",
    );
}

#[test]
fn snake_case_names_and_nulls_are_accepted() {
    let doc = r#"{"resource_spans":[{"resource":null,"scope_spans":[{"spans":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","parent_span_id":"","name":"x","start_time_unix_nano":5,"end_time_unix_nano":"6"}]}]}]}"#;
    let (b, r) = otlp::batch_from_request(json::decode_request(doc.as_bytes()).unwrap());
    assert_eq!(r.count, 0);
    let s = b.spans().next().unwrap().span.clone();
    assert_eq!(
        (
            s.start_time_unix_nano,
            s.end_time_unix_nano,
            s.parent_span_id
        ),
        (5, 6, None)
    );
}

#[test]
fn invalid_ids_are_partial_success_with_a_reason() {
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
    assert_eq!(r.count, 5);
    assert!(
        r.message.starts_with(
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 2"
        ),
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("spans[1].traceId: all-zero id is invalid"),
        "{}",
        r.message
    );
    assert!(r.message.ends_with("; ..."), "{}", r.message);
}

#[test]
fn truncated_protobuf_is_an_error() {
    let b = weft_proto::ExportTraceServiceRequest::default();
    assert!(otlp::decode_request(&b"\x0a\x05\x0a\x03"[..]).is_err());
    let _ = b;
}
