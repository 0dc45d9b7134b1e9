//! OTLP protobuf types ↔ weft's model.
//!
//! `batch_from_request` validates as it converts: a span with an invalid trace, span, parent
//! or link id, or an unknown kind or status code, is rejected and counted (OTLP partial
//! success) with a message naming where it was; the rest of the request is kept.

#[path = "otlp_decode.rs"]
mod decode;
pub use decode::decode_batch;

use crate::DecodeError;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as pb_resource;
use opentelemetry_proto::tonic::trace::v1 as pb;
use prost::Message;
use std::sync::Arc;
use weft_model::{
    AnyValue, Batch, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span,
    SpanId, SpanKind, Status, StatusCode, TraceId,
};

/// Spans dropped while converting a request, and why: the first few reasons, each naming the
/// span by its place in the request (`resourceSpans[0].scopeSpans[1].spans[3]: traceId: ...`),
/// then `and N more` when there were more. Empty when nothing was rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    pub count: u64,
    pub message: String,
}

const MAX_REASONS: u64 = 3;

impl Rejected {
    fn add(&mut self, reason: String) {
        self.count += 1;
        if self.count <= MAX_REASONS {
            if !self.message.is_empty() {
                self.message.push_str("; ");
            }
            self.message.push_str(&reason);
        }
    }
    fn finish(&mut self) {
        if self.count > MAX_REASONS {
            self.message
                .push_str(&format!("; and {} more", self.count - MAX_REASONS));
        }
    }
}

/// Decodes an OTLP protobuf `ExportTraceServiceRequest` (a gRPC message or an OTLP/HTTP body).
pub fn decode_request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    ExportTraceServiceRequest::decode(bytes).map_err(|e| DecodeError {
        message: format!("not a valid OTLP protobuf ExportTraceServiceRequest: {e}"),
    })
}

/// `b` as an OTLP protobuf `ExportTraceServiceRequest`.
pub fn encode_request(b: &Batch) -> Vec<u8> {
    batch_to_request(b).encode_to_vec()
}

/// Converts a request to the model, validating as it goes: a span with an invalid trace or
/// span id (wrong length or all zeros), a parent id of the wrong length, an invalid link id, or
/// an unknown kind or status code is left out and counted in [`Rejected`]. Resources and
/// scopes left without spans (by rejection or because they came empty) are left out too.
pub fn batch_from_request(req: ExportTraceServiceRequest) -> (Batch, Rejected) {
    let mut rejected = Rejected::default();
    let mut out = Vec::with_capacity(req.resource_spans.len());
    for (ri, rs) in req.resource_spans.into_iter().enumerate() {
        let resource = Arc::new(resource_from_proto(
            rs.resource.unwrap_or_default(),
            rs.schema_url,
        ));
        let mut scope_spans = Vec::with_capacity(rs.scope_spans.len());
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            let scope = Arc::new(scope_from_proto(
                ss.scope.unwrap_or_default(),
                ss.schema_url,
            ));
            let mut spans = Vec::with_capacity(ss.spans.len());
            for (k, s) in ss.spans.into_iter().enumerate() {
                match span_from_proto(s) {
                    Ok(s) => spans.push(s),
                    Err(why) => rejected.add(format!(
                        "resourceSpans[{ri}].scopeSpans[{si}].spans[{k}].{why}"
                    )),
                }
            }
            if !spans.is_empty() {
                scope_spans.push(ScopeSpans { scope, spans });
            }
        }
        if !scope_spans.is_empty() {
            out.push(ResourceSpans {
                resource,
                scope_spans,
            });
        }
    }
    rejected.finish();
    (
        Batch {
            resource_spans: out,
        },
        rejected,
    )
}

/// The request that carries `b`; `batch_from_request` turns it back into `b` exactly.
pub fn batch_to_request(b: &Batch) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: b
            .resource_spans
            .iter()
            .map(|rs| pb::ResourceSpans {
                resource: Some(resource_to_proto(&rs.resource)),
                schema_url: rs.resource.schema_url.clone(),
                scope_spans: rs
                    .scope_spans
                    .iter()
                    .map(|ss| pb::ScopeSpans {
                        scope: Some(scope_to_proto(&ss.scope)),
                        schema_url: ss.scope.schema_url.clone(),
                        spans: ss.spans.iter().map(span_to_proto).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The resource without its `schema_url`, which OTLP carries on `ResourceSpans`.
pub fn resource_to_proto(r: &Resource) -> pb_resource::Resource {
    pb_resource::Resource {
        attributes: attributes_to_proto(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        ..Default::default()
    }
}

pub fn resource_from_proto(r: pb_resource::Resource, schema_url: String) -> Resource {
    Resource {
        attributes: attributes_from_proto(r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        schema_url,
    }
}

/// The scope without its `schema_url`, which OTLP carries on `ScopeSpans`.
pub fn scope_to_proto(s: &Scope) -> common::InstrumentationScope {
    common::InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: attributes_to_proto(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

pub fn scope_from_proto(s: common::InstrumentationScope, schema_url: String) -> Scope {
    Scope {
        name: s.name,
        version: s.version,
        attributes: attributes_from_proto(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        schema_url,
    }
}

pub fn value_to_proto(v: &AnyValue) -> common::AnyValue {
    use common::any_value::Value as V;
    common::AnyValue {
        value: match v {
            AnyValue::Empty => None,
            AnyValue::String(s) => Some(V::StringValue(s.to_string())),
            AnyValue::Bool(b) => Some(V::BoolValue(*b)),
            AnyValue::Int(i) => Some(V::IntValue(*i)),
            AnyValue::Double(d) => Some(V::DoubleValue(*d)),
            AnyValue::Bytes(b) => Some(V::BytesValue(b.clone())),
            AnyValue::Array(a) => Some(V::ArrayValue(common::ArrayValue {
                values: a.iter().map(value_to_proto).collect(),
            })),
            AnyValue::KvList(kvs) => Some(V::KvlistValue(common::KeyValueList {
                values: attributes_to_proto(kvs),
            })),
        },
    }
}

pub fn value_from_proto(v: Option<common::AnyValue>) -> AnyValue {
    use common::any_value::Value as V;
    match v.and_then(|v| v.value) {
        None => AnyValue::Empty,
        Some(V::StringValue(s)) => AnyValue::String(s.into()),
        Some(V::BoolValue(b)) => AnyValue::Bool(b),
        Some(V::IntValue(i)) => AnyValue::Int(i),
        Some(V::DoubleValue(d)) => AnyValue::Double(d),
        Some(V::BytesValue(b)) => AnyValue::Bytes(b),
        Some(V::ArrayValue(a)) => AnyValue::Array(
            a.values
                .into_iter()
                .map(|v| value_from_proto(Some(v)))
                .collect(),
        ),
        Some(V::KvlistValue(l)) => AnyValue::KvList(attributes_from_proto(l.values)),
        // string-table references exist only in OTLP profiles; traces carry no table
        Some(V::StringValueStrindex(_)) => AnyValue::Empty,
    }
}

pub fn attributes_to_proto(a: &[KeyValue]) -> Vec<common::KeyValue> {
    a.iter()
        .map(|kv| common::KeyValue {
            key: kv.key.to_string(),
            value: match kv.value {
                AnyValue::Empty => None,
                ref v => Some(value_to_proto(v)),
            },
            ..Default::default()
        })
        .collect()
}

pub fn attributes_from_proto(a: Vec<common::KeyValue>) -> Vec<KeyValue> {
    a.into_iter()
        .map(|kv| KeyValue {
            key: kv.key.into(),
            value: value_from_proto(kv.value),
        })
        .collect()
}

pub fn event_to_proto(e: &Event) -> pb::span::Event {
    pb::span::Event {
        time_unix_nano: e.time_unix_nano,
        name: e.name.clone(),
        attributes: attributes_to_proto(&e.attributes),
        dropped_attributes_count: e.dropped_attributes_count,
    }
}

pub fn link_to_proto(l: &Link) -> pb::span::Link {
    pb::span::Link {
        trace_id: l.trace_id.0.to_vec(),
        span_id: l.span_id.0.to_vec(),
        trace_state: l.trace_state.clone(),
        attributes: attributes_to_proto(&l.attributes),
        dropped_attributes_count: l.dropped_attributes_count,
        flags: l.flags,
    }
}

pub fn span_to_proto(s: &Span) -> pb::Span {
    pb::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.to_string(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes_to_proto(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s.events.iter().map(event_to_proto).collect(),
        dropped_events_count: s.dropped_events_count,
        links: s.links.iter().map(link_to_proto).collect(),
        dropped_links_count: s.dropped_links_count,
        status: (s.status != Status::default()).then(|| pb::Status {
            code: s.status.code as i32,
            message: s.status.message.clone(),
        }),
    }
}

/// Converts one span; the error names the offending field (`traceId: expected 16 bytes, got 3`).
///
/// An empty parent id means a root span; so does an all-zero one, as in the OpenTelemetry
/// Collector (an all-zero id is its "empty" id), so such a span is kept as a root.
pub fn span_from_proto(s: pb::Span) -> Result<Span, String> {
    let trace_id = TraceId::from_bytes(&s.trace_id).map_err(|e| format!("traceId: {e}"))?;
    let span_id = SpanId::from_bytes(&s.span_id).map_err(|e| format!("spanId: {e}"))?;
    let parent_span_id = if s.parent_span_id.is_empty() || s.parent_span_id == [0; SpanId::LEN] {
        None
    } else {
        Some(SpanId::from_bytes(&s.parent_span_id).map_err(|e| format!("parentSpanId: {e}"))?)
    };
    let kind =
        SpanKind::from_i32(s.kind).ok_or_else(|| format!("kind: unknown span kind {}", s.kind))?;
    let status = match s.status {
        None => Status::default(),
        Some(st) => Status {
            code: StatusCode::from_i32(st.code)
                .ok_or_else(|| format!("status.code: unknown status code {}", st.code))?,
            message: st.message,
        },
    };
    let mut links = Vec::with_capacity(s.links.len());
    for (i, l) in s.links.into_iter().enumerate() {
        links.push(Link {
            trace_id: TraceId::from_bytes(&l.trace_id)
                .map_err(|e| format!("links[{i}].traceId: {e}"))?,
            span_id: SpanId::from_bytes(&l.span_id)
                .map_err(|e| format!("links[{i}].spanId: {e}"))?,
            trace_state: l.trace_state,
            attributes: attributes_from_proto(l.attributes),
            dropped_attributes_count: l.dropped_attributes_count,
            flags: l.flags,
        });
    }
    Ok(Span {
        trace_id,
        span_id,
        trace_state: s.trace_state,
        parent_span_id,
        flags: s.flags,
        name: s.name.into(),
        kind,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes_from_proto(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name,
                attributes: attributes_from_proto(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links,
        dropped_links_count: s.dropped_links_count,
        status,
    })
}
