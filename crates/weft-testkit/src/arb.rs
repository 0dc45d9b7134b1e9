//! proptest strategies for model batches with every field exercised.

use proptest::prelude::*;
use std::sync::Arc;
use weft_model::*;

fn leaf() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        Just(AnyValue::Empty),
        // inline (up to 24 bytes) and heap-allocated compact strings both
        ".{0,40}".prop_map(|s: String| AnyValue::String(s.into())),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        (-1e12f64..1e12).prop_map(AnyValue::Double),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(AnyValue::Bytes),
    ]
}

pub fn any_value() -> impl Strategy<Value = AnyValue> {
    leaf().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            proptest::collection::vec(("[a-z.]{1,8}", inner), 0..4).prop_map(|kvs| {
                AnyValue::KvList(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
            }),
        ]
    })
}

pub fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(("[a-z_.]{1,10}", any_value()), 0..5)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

fn trace_id() -> impl Strategy<Value = TraceId> {
    any::<[u8; 16]>()
        .prop_filter("non-zero", |b| *b != [0; 16])
        .prop_map(TraceId)
}

fn span_id() -> impl Strategy<Value = SpanId> {
    any::<[u8; 8]>()
        .prop_filter("non-zero", |b| *b != [0; 8])
        .prop_map(SpanId)
}

fn event() -> impl Strategy<Value = Event> {
    (any::<u64>(), ".{0,8}", attributes(), any::<u32>()).prop_map(|(t, name, attributes, d)| {
        Event {
            time_unix_nano: t,
            name,
            attributes,
            dropped_attributes_count: d,
        }
    })
}

fn link() -> impl Strategy<Value = Link> {
    (
        trace_id(),
        span_id(),
        "[a-z=,]{0,8}",
        attributes(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(t, s, ts, a, d, f)| Link {
            trace_id: t,
            span_id: s,
            trace_state: ts,
            attributes: a,
            dropped_attributes_count: d,
            flags: f,
        })
}

pub fn span() -> impl Strategy<Value = Span> {
    (
        (
            trace_id(),
            span_id(),
            "[a-z=,]{0,8}",
            proptest::option::of(span_id()),
            any::<u32>(),
            ".{0,10}",
            0i32..6,
        ),
        (0u64..(1 << 62), 0u64..(1 << 62), attributes(), any::<u32>()),
        (
            proptest::collection::vec(event(), 0..3),
            any::<u32>(),
            proptest::collection::vec(link(), 0..2),
            any::<u32>(),
        ),
        (0i32..3, ".{0,8}"),
    )
        .prop_map(
            |(
                (t, s, ts, p, flags, name, kind),
                (start, end, attributes, da),
                (events, de, links, dl),
                (code, msg),
            )| Span {
                trace_id: t,
                span_id: s,
                trace_state: ts,
                parent_span_id: p,
                flags,
                name: name.into(),
                kind: SpanKind::from_i32(kind).expect("0..6"),
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: da,
                events,
                dropped_events_count: de,
                links,
                dropped_links_count: dl,
                status: Status {
                    code: StatusCode::from_i32(code).expect("0..3"),
                    message: msg,
                },
            },
        )
}

pub fn resource() -> impl Strategy<Value = Resource> {
    (
        attributes(),
        any::<u32>(),
        "[a-z:/.]{0,10}",
        proptest::option::of("[a-z]{1,6}"),
    )
        .prop_map(|(mut attributes, d, schema_url, svc)| {
            if let Some(svc) = svc {
                attributes.retain(|kv| kv.key != SERVICE_NAME);
                attributes.insert(0, KeyValue::new(SERVICE_NAME, AnyValue::String(svc.into())));
            }
            Resource {
                attributes,
                dropped_attributes_count: d,
                schema_url,
            }
        })
}

pub fn scope() -> impl Strategy<Value = Scope> {
    (
        ".{0,6}",
        ".{0,4}",
        attributes(),
        any::<u32>(),
        "[a-z:/.]{0,10}",
    )
        .prop_map(|(name, version, attributes, d, schema_url)| Scope {
            name,
            version,
            attributes,
            dropped_attributes_count: d,
            schema_url,
        })
}

/// Batches with 1..3 resources, 1..3 scopes each, 1..4 spans each.
pub fn batch() -> impl Strategy<Value = Batch> {
    proptest::collection::vec(
        (
            resource(),
            proptest::collection::vec((scope(), proptest::collection::vec(span(), 1..4)), 1..3),
        ),
        1..3,
    )
    .prop_map(|rs| Batch {
        resource_spans: rs
            .into_iter()
            .map(|(r, ss)| ResourceSpans {
                resource: Arc::new(r),
                scope_spans: ss
                    .into_iter()
                    .map(|(s, spans)| ScopeSpans {
                        scope: Arc::new(s),
                        spans,
                    })
                    .collect(),
            })
            .collect(),
    })
}
