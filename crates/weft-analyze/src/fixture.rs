//! Hand-built traces for the unit tests, written as text.
//!
//! One span a line: `id service parent start end [flag...]`. `parent` is `-` for a root; times
//! are milliseconds (the span then runs from `start` ms to `end` ms). The span id is the id's
//! bytes padded to 8 bytes (so at most 8 characters) and the span name is the id, unless a
//! `name=...` flag says otherwise. Flags: `err` (status error), `err=msg` (with a message),
//! `exc=msg` (an `exception` event carrying `exception.message`), `kind=server|client|
//! producer|consumer|internal`, `host=h` (a `host.name` resource attribute), `name=n`.
//! Spans of one service (and host) share one resource. A line starting with `#` is a comment.

use std::sync::Arc;

use weft_model::{
    AnyValue, Batch, Event, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId,
    SpanKind, Status, StatusCode, TraceId,
};

pub const MS: u64 = 1_000_000;

/// The span id a fixture writes as `name`.
pub fn id(name: &str) -> SpanId {
    assert!(name.len() <= 8, "fixture ids have at most 8 characters");
    let mut b = [0u8; 8];
    b[..name.len()].copy_from_slice(name.as_bytes());
    SpanId(b)
}

/// The fixture name of a span id.
pub fn name(id: SpanId) -> String {
    String::from_utf8_lossy(&id.0)
        .trim_end_matches('\0')
        .to_string()
}

pub fn trace(text: &str) -> Batch {
    trace_with_id(text, TraceId([7; 16]))
}

pub fn trace_with_id(text: &str, trace_id: TraceId) -> Batch {
    // (service, host) -> spans
    type Group = ((String, Option<String>), Vec<Span>);
    let mut groups: Vec<Group> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            f.len() >= 5,
            "fixture line {line:?}: id service parent start end"
        );
        let ms = |s: &str| -> u64 {
            let v: f64 = s.parse().expect("milliseconds");
            (v * MS as f64).round() as u64
        };
        let mut span = Span {
            trace_id,
            span_id: id(f[0]),
            parent_span_id: (f[2] != "-").then(|| id(f[2])),
            name: f[0].into(),
            start_time_unix_nano: ms(f[3]),
            end_time_unix_nano: ms(f[4]),
            kind: SpanKind::Internal,
            ..Default::default()
        };
        let mut host = None;
        for flag in &f[5..] {
            let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
            match k {
                "err" => {
                    span.status = Status {
                        code: StatusCode::Error,
                        message: v.replace('_', " "),
                    }
                }
                "exc" => span.events.push(Event {
                    time_unix_nano: span.start_time_unix_nano,
                    name: "exception".into(),
                    attributes: vec![KeyValue::new(
                        "exception.message",
                        AnyValue::String(v.replace('_', " ").into()),
                    )],
                    dropped_attributes_count: 0,
                }),
                "kind" => {
                    span.kind = match v {
                        "server" => SpanKind::Server,
                        "client" => SpanKind::Client,
                        "producer" => SpanKind::Producer,
                        "consumer" => SpanKind::Consumer,
                        _ => SpanKind::Internal,
                    }
                }
                "host" => host = Some(v.to_string()),
                "name" => span.name = v.replace('_', " ").into(),
                other => panic!("unknown fixture flag {other:?}"),
            }
        }
        let key = (f[1].to_string(), host);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, spans)) => spans.push(span),
            None => groups.push((key, vec![span])),
        }
    }
    Batch {
        resource_spans: groups
            .into_iter()
            .map(|((service, host), spans)| {
                let mut attributes = vec![KeyValue::new(
                    "service.name",
                    AnyValue::String(service.into()),
                )];
                if let Some(h) = host {
                    attributes.push(KeyValue::new("host.name", AnyValue::String(h.into())));
                }
                ResourceSpans {
                    resource: Arc::new(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Arc::new(Scope::default()),
                        spans,
                    }],
                }
            })
            .collect(),
    }
}
