//! Round trips through both encodings, the OTLP/JSON fixture, and what the encoder writes.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use weft_model::*;
use weft_proto::{json, otlp};

/// Bitwise comparison: `Debug` prints the shortest round-trip form of each double, so it tells
/// `-0.0` from `0.0` and distinguishes every finite value (`==` on the model would not).
fn same_bits(a: &Batch, b: &Batch) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// What comes in over OTLP comes out over OTLP unchanged, in both encodings, and both
    /// encodings decode to the same request.
    #[test]
    fn protobuf_and_json_round_trip(batch in weft_testkit::arb::batch()) {
        let bytes = otlp::encode_request(&batch);
        let from_pb = otlp::decode_request(&bytes).unwrap();
        prop_assert_eq!(&from_pb, &otlp::batch_to_request(&batch));
        let (back, rejected) = otlp::batch_from_request(from_pb.clone());
        prop_assert_eq!(&rejected, &otlp::Rejected::default());
        prop_assert_eq!(&back, &batch);

        let text = json::encode_traces_data(&batch);
        let from_json = json::decode_request(&text).unwrap();
        prop_assert_eq!(&from_json, &from_pb);
        let (back, rejected) = otlp::batch_from_request(from_json);
        prop_assert_eq!(rejected.count, 0);
        prop_assert_eq!(&back, &batch);
        // the Value form is the same document, byte for byte once serialized
        prop_assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), json::encode_traces_data_value(&batch));
        prop_assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            serde_json::to_string(&json::encode_traces_data_value(&batch)).unwrap()
        );
    }

    /// Every finite double (any bit pattern: subnormals, -0.0, the extremes), any i64 and any
    /// bytes survive both encodings bit for bit, nested in arrays and lists.
    #[test]
    fn full_range_values_round_trip(batch in weft_testkit::arb::batch(), extra in extreme_attributes()) {
        let mut batch = batch;
        let span = &mut batch.resource_spans[0].scope_spans[0].spans[0];
        span.attributes.extend(extra.clone());
        if let Some(e) = span.events.first_mut() {
            e.attributes = extra;
        }
        let (back, _) = otlp::batch_from_request(otlp::decode_request(&otlp::encode_request(&batch)).unwrap());
        prop_assert!(same_bits(&back, &batch), "protobuf: {:?}", back);
        let text = json::encode_traces_data(&batch);
        prop_assert_eq!(&text, &serde_json::to_vec(&json::encode_traces_data_value(&batch)).unwrap());
        let (back, _) = otlp::batch_from_request(json::decode_request(&text).unwrap());
        prop_assert!(same_bits(&back, &batch), "json: {:?}", back);
    }

    /// The decoder reads what other producers write: snake_case names, 64-bit integers as
    /// numbers, uppercase hex, enum names, unpadded base64, unknown fields and nulls, in any mix.
    #[test]
    fn json_decoder_accepts_every_spelling(batch in weft_testkit::arb::batch(), seed in any::<u64>()) {
        let canonical = json::decode_request(&json::encode_traces_data(&batch)).unwrap();
        let mut doc = json::encode_traces_data_value(&batch);
        let mut rng = Rng(seed | 1);
        respell(&mut doc, "", &mut rng);
        let text = serde_json::to_vec(&doc).unwrap();
        let decoded = json::decode_request(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{doc}")))?;
        prop_assert_eq!(decoded, canonical);
    }
}

/// Attribute values with doubles from raw bit patterns and integers/bytes from the full range.
fn extreme_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    let leaf = prop_oneof![
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(AnyValue::Double),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(AnyValue::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(AnyValue::Bytes),
        any::<String>().prop_map(|s| AnyValue::String(s.into())),
    ];
    let value = leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            proptest::collection::vec((any::<String>(), inner), 0..4).prop_map(|kvs| {
                AnyValue::KvList(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
            }),
        ]
    });
    proptest::collection::vec((any::<String>(), value), 1..6)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

/// xorshift64: a few random choices per document, reproducible from the proptest seed.
struct Rng(u64);

impl Rng {
    fn coin(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
    }
}

fn snake(camel: &str) -> String {
    let mut s = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

const KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// Rewrites a canonical OTLP/JSON document into equivalent spellings, chosen at random.
fn respell(v: &mut Value, key: &str, rng: &mut Rng) {
    match v {
        Value::Object(o) => {
            let old = std::mem::take(o);
            let mut new = Map::new();
            for (k, mut child) in old {
                respell(&mut child, &k, rng);
                let k = if rng.coin() { snake(&k) } else { k };
                new.insert(k, child);
            }
            if rng.coin() {
                new.insert("futureField".into(), json!({"a": [1, "x", null]}));
            }
            if rng.coin() {
                // absent fields may be written as null, also next to the snake_case
                // spelling of the same field (null is absent, the other spelling counts)
                for k in [
                    "traceState",
                    "droppedAttributesCount",
                    "schemaUrl",
                    "status",
                ] {
                    new.entry(k).or_insert(Value::Null);
                }
            }
            *o = new;
        }
        Value::Array(a) => a.iter_mut().for_each(|c| respell(c, "", rng)),
        Value::String(s) => match key {
            "startTimeUnixNano" | "endTimeUnixNano" | "timeUnixNano" if rng.coin() => {
                *v = Value::from(s.parse::<u64>().unwrap());
            }
            "intValue" if rng.coin() => *v = Value::from(s.parse::<i64>().unwrap()),
            "traceId" | "spanId" | "parentSpanId" if rng.coin() => *s = s.to_uppercase(),
            "bytesValue" if rng.coin() => *s = s.trim_end_matches('=').to_string(),
            _ => {}
        },
        Value::Number(n) => match key {
            "kind" if rng.coin() => *v = Value::from(KINDS[n.as_u64().unwrap() as usize]),
            "code" if rng.coin() => *v = Value::from(CODES[n.as_u64().unwrap() as usize]),
            "flags" | "droppedAttributesCount" | "droppedEventsCount" | "droppedLinksCount"
                if rng.coin() =>
            {
                *v = Value::from(n.to_string())
            }
            _ => {}
        },
        _ => {}
    }
}

#[test]
fn special_doubles_round_trip_bitwise() {
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1), // the smallest subnormal
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        0.1 + 0.2,
    ];
    let values: Vec<KeyValue> = specials
        .iter()
        .enumerate()
        .map(|(i, d)| KeyValue::new(format!("d{i}"), AnyValue::Double(*d)))
        .collect();
    let mut attributes = values.clone();
    attributes.push(KeyValue::new(
        "all",
        AnyValue::Array(specials.iter().map(|d| AnyValue::Double(*d)).collect()),
    ));
    attributes.push(KeyValue::new("kv", AnyValue::KvList(values)));
    let batch = one_span_batch(values_span(attributes));
    let bits = |b: &Batch| -> Vec<u64> {
        fn walk(v: &AnyValue, out: &mut Vec<u64>) {
            match v {
                AnyValue::Double(d) => out.push(d.to_bits()),
                AnyValue::Array(a) => a.iter().for_each(|v| walk(v, out)),
                AnyValue::KvList(kvs) => kvs.iter().for_each(|kv| walk(&kv.value, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for s in b.spans() {
            s.span
                .attributes
                .iter()
                .for_each(|kv| walk(&kv.value, &mut out));
        }
        out
    };
    let want = bits(&batch);
    assert_eq!(want.len(), 3 * specials.len());
    assert!(want.contains(&f64::NAN.to_bits()));

    let (pb, _) =
        otlp::batch_from_request(otlp::decode_request(&otlp::encode_request(&batch)).unwrap());
    assert_eq!(bits(&pb), want);

    let doc = json::encode_traces_data_value(&batch);
    let attrs = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
    assert_eq!(attrs[0]["value"]["doubleValue"], "NaN");
    assert_eq!(attrs[1]["value"]["doubleValue"], "Infinity");
    assert_eq!(attrs[2]["value"]["doubleValue"], "-Infinity");
    assert_eq!(
        attrs[3]["value"]["doubleValue"].as_f64().map(f64::to_bits),
        Some((-0.0f64).to_bits())
    );
    let (js, _) =
        otlp::batch_from_request(json::decode_request(&json::encode_traces_data(&batch)).unwrap());
    assert_eq!(bits(&js), want);
}

fn values_span(attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TraceId([0xab; 16]),
        span_id: SpanId([0xcd; 8]),
        attributes,
        ..Default::default()
    }
}

fn one_span_batch(span: Span) -> Batch {
    Batch {
        resource_spans: vec![ResourceSpans {
            resource: Arc::new(Resource::default()),
            scope_spans: vec![ScopeSpans {
                scope: Arc::new(Scope::default()),
                spans: vec![span],
            }],
        }],
    }
}

/// Exactly what the encoder writes: defaults left out, 64-bit integers as strings, 32-bit
/// integers and enums as numbers, lowercase hex, standard padded base64.
#[test]
fn encoder_writes_proto3_json() {
    let minimal = one_span_batch(values_span(vec![]));
    assert_eq!(
        json::encode_traces_data_value(&minimal),
        json!({"resourceSpans": [{
            "resource": {},
            "scopeSpans": [{"scope": {}, "spans": [{
                "traceId": "abababababababababababababababab",
                "spanId": "cdcdcdcdcdcdcdcd",
            }]}],
        }]})
    );
    let full = Batch {
        resource_spans: vec![ResourceSpans {
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String("api".into()),
                )],
                dropped_attributes_count: 1,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }),
            scope_spans: vec![ScopeSpans {
                scope: Arc::new(Scope {
                    name: "lib".into(),
                    version: "1.2".into(),
                    attributes: vec![KeyValue::new("e", AnyValue::Empty)],
                    dropped_attributes_count: 2,
                    schema_url: "s".into(),
                }),
                spans: vec![Span {
                    trace_state: "k=v".into(),
                    parent_span_id: Some(SpanId([0xEF; 8])),
                    flags: 0x301,
                    name: "GET /".into(),
                    kind: SpanKind::Client,
                    start_time_unix_nano: u64::MAX,
                    end_time_unix_nano: 1,
                    dropped_attributes_count: 3,
                    events: vec![Event {
                        time_unix_nano: 9,
                        name: "exception".into(),
                        attributes: vec![],
                        dropped_attributes_count: 4,
                    }],
                    dropped_events_count: 5,
                    links: vec![Link {
                        trace_id: TraceId([0x0A; 16]),
                        span_id: SpanId([0x0B; 8]),
                        trace_state: "l=1".into(),
                        attributes: vec![KeyValue::new("b", AnyValue::Bool(false))],
                        dropped_attributes_count: 6,
                        flags: 1,
                    }],
                    dropped_links_count: 7,
                    status: Status {
                        code: StatusCode::Unset,
                        message: "only a message".into(),
                    },
                    ..values_span(vec![
                        KeyValue::new("i", AnyValue::Int(i64::MIN)),
                        KeyValue::new("b", AnyValue::Bytes(vec![0xfb, 0xff])),
                        KeyValue::new(
                            "a",
                            AnyValue::Array(vec![AnyValue::Empty, AnyValue::Double(0.5)]),
                        ),
                        KeyValue::new("l", AnyValue::KvList(vec![])),
                    ])
                }],
            }],
        }],
    };
    assert_eq!(
        json::encode_traces_data_value(&full),
        json!({"resourceSpans": [{
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}],
                "droppedAttributesCount": 1,
            },
            "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
            "scopeSpans": [{
                "scope": {
                    "name": "lib", "version": "1.2",
                    "attributes": [{"key": "e"}],
                    "droppedAttributesCount": 2,
                },
                "schemaUrl": "s",
                "spans": [{
                    "traceId": "abababababababababababababababab",
                    "spanId": "cdcdcdcdcdcdcdcd",
                    "traceState": "k=v",
                    "parentSpanId": "efefefefefefefef",
                    "flags": 769,
                    "name": "GET /",
                    "kind": 3,
                    "startTimeUnixNano": "18446744073709551615",
                    "endTimeUnixNano": "1",
                    "attributes": [
                        {"key": "i", "value": {"intValue": "-9223372036854775808"}},
                        {"key": "b", "value": {"bytesValue": "+/8="}},
                        {"key": "a", "value": {"arrayValue": {"values": [{}, {"doubleValue": 0.5}]}}},
                        {"key": "l", "value": {"kvlistValue": {"values": []}}},
                    ],
                    "droppedAttributesCount": 3,
                    "events": [{"timeUnixNano": "9", "name": "exception", "droppedAttributesCount": 4}],
                    "droppedEventsCount": 5,
                    "links": [{
                        "traceId": "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
                        "spanId": "0b0b0b0b0b0b0b0b",
                        "traceState": "l=1",
                        "attributes": [{"key": "b", "value": {"boolValue": false}}],
                        "droppedAttributesCount": 6,
                        "flags": 1,
                    }],
                    "droppedLinksCount": 7,
                    "status": {"message": "only a message"},
                }],
            }],
        }]})
    );
    let (back, _) =
        otlp::batch_from_request(json::decode_request(&json::encode_traces_data(&full)).unwrap());
    assert_eq!(back, full);
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes a fixture and checks that it also survives our own encoders unchanged.
fn decode_fixture(name: &str) -> Batch {
    let (b, rejected) = otlp::batch_from_request(json::decode_request(&fixture(name)).unwrap());
    assert_eq!(rejected, otlp::Rejected::default(), "{name}");
    let (via_json, _) =
        otlp::batch_from_request(json::decode_request(&json::encode_traces_data(&b)).unwrap());
    assert!(same_bits(&via_json, &b), "{name} through JSON");
    let (via_pb, _) =
        otlp::batch_from_request(otlp::decode_request(&otlp::encode_request(&b)).unwrap());
    assert!(same_bits(&via_pb, &b), "{name} through protobuf");
    b
}

/// Shaped like opentelemetry-proto's examples/trace.json, with every value type, enum names,
/// a 64-bit integer as a number and an unknown field added.
#[test]
fn fixture_with_names_strings_and_every_value_type() {
    let b = decode_fixture("trace.json");
    let s = b.spans().next().unwrap();
    assert_eq!(s.resource.service_name(), "my.service");
    assert_eq!(
        (s.scope.name.as_str(), s.scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    assert_eq!(
        s.scope.attributes,
        [KeyValue::new(
            "my.scope.attribute",
            AnyValue::String("some scope attribute".into())
        )]
    );
    let sp = s.span;
    assert_eq!(sp.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(sp.span_id.to_hex(), "eee19b7ec3c1b174");
    assert_eq!(sp.parent_span_id.unwrap().to_hex(), "eee19b7ec3c1b173");
    assert_eq!(sp.name, "I'm a server span");
    assert_eq!(sp.kind, SpanKind::Server);
    assert_eq!(sp.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(sp.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(
        (sp.status.code, sp.status.message.as_str()),
        (StatusCode::Error, "boom")
    );
    assert_eq!(
        sp.attribute("my.span.attr"),
        Some(&AnyValue::String("some value".into()))
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
    assert_eq!(
        sp.attribute("map"),
        Some(&AnyValue::KvList(vec![KeyValue::new(
            "k",
            AnyValue::String("v".into())
        )]))
    );
    assert_eq!(sp.attribute("empty"), Some(&AnyValue::Empty));
    // and out again: lowercase hex, 64-bit integers as strings, enums as numbers
    let out = json::encode_traces_data_value(&b);
    let span = &out["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(span["startTimeUnixNano"], "1544712660000000000");
    assert_eq!(span["endTimeUnixNano"], "1544712661000000000");
    assert_eq!(span["kind"], 2);
    assert_eq!(span["status"]["code"], 2);
    assert_eq!(span["attributes"][1]["value"]["intValue"], "42");
    assert_eq!(span["attributes"][2]["value"]["doubleValue"], "NaN");
    assert_eq!(span.get("unknownField"), None);
}

/// A realistic export from two services, as an SDK writes it (numbers for enums, strings for
/// 64-bit integers): resource and scope schema URLs, server and client spans, an exception
/// event, a link to another trace, an error status, dropped counts and W3C flags.
#[test]
fn fixture_checkout_two_services() {
    let b = decode_fixture("checkout.json");
    assert_eq!(b.resource_spans.len(), 2);
    assert_eq!(b.span_count(), 4);
    let services: Vec<&str> = b
        .resource_spans
        .iter()
        .map(|r| r.resource.service_name())
        .collect();
    assert_eq!(services, ["frontend", "payment"]);
    let front = &b.resource_spans[0];
    assert_eq!(
        front.resource.schema_url,
        "https://opentelemetry.io/schemas/1.26.0"
    );
    assert_eq!(
        front.resource.attribute("process.pid"),
        Some(&AnyValue::Int(4242))
    );
    assert_eq!(
        front.resource.attribute("process.command_args"),
        Some(&AnyValue::Array(vec![
            AnyValue::String("node".into()),
            AnyValue::String("server.js".into())
        ]))
    );
    assert_eq!(front.scope_spans.len(), 2);
    assert_eq!(
        front.scope_spans[0].scope.name,
        "@opentelemetry/instrumentation-http"
    );
    assert_eq!(
        front.scope_spans[0].scope.schema_url,
        "https://opentelemetry.io/schemas/1.24.0"
    );

    let spans: Vec<&Span> = b.spans().map(|s| s.span).collect();
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    assert!(spans.iter().all(|s| s.trace_id == trace));
    let root = spans[0];
    assert_eq!(
        (root.name.as_str(), root.kind, root.parent_span_id),
        ("POST /checkout", SpanKind::Server, None)
    );
    assert_eq!(root.flags, 0x301);
    assert_eq!(root.duration_nanos(), 187_500_000);
    assert_eq!(
        root.attribute("http.response.status_code"),
        Some(&AnyValue::Int(502))
    );
    assert_eq!(root.status.code, StatusCode::Error);
    assert_eq!(root.links.len(), 1);
    let link = &root.links[0];
    assert_eq!(link.trace_id.to_hex(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(
        (
            link.span_id.to_hex().as_str(),
            link.trace_state.as_str(),
            link.flags
        ),
        ("b7ad6b7169203331", "rojo=00f067aa0ba902b7", 1)
    );
    assert_eq!(
        link.attributes,
        [KeyValue::new(
            "messaging.operation.type",
            AnyValue::String("receive".into())
        )]
    );

    let client = spans[1];
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.parent_span_id, Some(root.span_id));
    assert_eq!(client.attribute("server.port"), Some(&AnyValue::Int(8443)));
    assert_eq!(
        client.attribute("http.request.resend_count"),
        Some(&AnyValue::Int(1))
    );

    let internal = spans[2];
    assert_eq!(
        (internal.kind, internal.dropped_attributes_count),
        (SpanKind::Internal, 2)
    );
    assert_eq!(
        internal.attribute("cart.total"),
        Some(&AnyValue::Double(129.95))
    );
    assert_eq!(
        internal.status,
        Status {
            code: StatusCode::Ok,
            message: String::new()
        }
    );

    let charge = spans[3];
    assert_eq!(charge.parent_span_id, Some(client.span_id));
    assert_eq!(charge.kind, SpanKind::Server);
    assert_eq!(
        (charge.dropped_events_count, charge.dropped_links_count),
        (3, 1)
    );
    assert_eq!(charge.status.message, "card declined by issuer");
    assert_eq!(charge.events.len(), 2);
    let ex = &charge.events[1];
    assert_eq!(ex.name, "exception");
    assert_eq!(ex.time_unix_nano, 1_718_000_000_150_000_000);
    assert_eq!(
        ex.attribute_for_test("exception.type"),
        Some(&AnyValue::String("CardDeclinedError".into()))
    );
    assert!(
        matches!(ex.attribute_for_test("exception.stacktrace"), Some(AnyValue::String(s)) if s.contains("\n    at charge"))
    );
    assert_eq!(
        charge.attribute("payment.card"),
        Some(&AnyValue::KvList(vec![
            KeyValue::new("brand", AnyValue::String("visa".into())),
            KeyValue::new("last4", AnyValue::String("4242".into())),
            KeyValue::new("token", AnyValue::Bytes(b"tok_\x00\x01".to_vec())),
        ]))
    );
}

trait EventAttr {
    fn attribute_for_test(&self, key: &str) -> Option<&AnyValue>;
}

impl EventAttr for Event {
    fn attribute_for_test(&self, key: &str) -> Option<&AnyValue> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
}
