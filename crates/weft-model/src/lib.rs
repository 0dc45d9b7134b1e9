//! weft's data model.
//!
//! The model is OpenTelemetry's (OTLP's): a [`Batch`] holds resources, each resource holds
//! instrumentation scopes, each scope holds spans. Attribute values stay typed ([`AnyValue`]).
//! Nothing here does I/O or is async; codecs live in `weft-proto`.

pub mod duration;
mod ids;
mod summary;
pub mod tree;
mod value;

pub use ids::{IdError, SpanId, TraceId};
pub use summary::{TraceSummary, SERVICE_NAME};
pub use tree::{Node, TraceTree};
pub use value::{AnyValue, CompactString, KeyValue};

use std::sync::Arc;

/// OTLP span kind. Numbers match the OTLP enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[repr(i32)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_i32(v: i32) -> Option<SpanKind> {
        Some(match v {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => return None,
        })
    }
    /// The OTLP enum name, e.g. `SPAN_KIND_SERVER`.
    pub fn otlp_name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
    /// Lowercase short name, as TraceQL and Jaeger spell it (`server`, `client`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// OTLP status code. Numbers match the OTLP enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(i32)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_i32(v: i32) -> Option<StatusCode> {
        Some(match v {
            0 => StatusCode::Unset,
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => return None,
        })
    }
    pub fn otlp_name(self) -> &'static str {
        match self {
            StatusCode::Unset => "STATUS_CODE_UNSET",
            StatusCode::Ok => "STATUS_CODE_OK",
            StatusCode::Error => "STATUS_CODE_ERROR",
        }
    }
    pub fn short_name(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    pub time_unix_nano: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

/// One span, as OTLP carries it (its resource and scope are held by the enclosing groups).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    /// `None` for a root span (OTLP's empty `parent_span_id`).
    pub parent_span_id: Option<SpanId>,
    pub flags: u32,
    pub name: CompactString,
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    pub status: Status,
}

impl Span {
    /// Duration in nanoseconds; zero when the end precedes the start.
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        value::find(&self.attributes, key)
    }
}

/// The entity that produced spans (OTLP `Resource` plus the `schema_url` of its `ResourceSpans`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl Resource {
    /// `service.name`, or `unknown_service` as the OTel spec says when it is absent.
    pub fn service_name(&self) -> &str {
        match value::find(&self.attributes, SERVICE_NAME) {
            Some(AnyValue::String(s)) => s,
            _ => "unknown_service",
        }
    }
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        value::find(&self.attributes, key)
    }
}

/// The instrumentation scope (OTLP `InstrumentationScope` plus the `schema_url` of its `ScopeSpans`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ScopeSpans {
    pub scope: Arc<Scope>,
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ResourceSpans {
    pub resource: Arc<Resource>,
    pub scope_spans: Vec<ScopeSpans>,
}

/// A batch of spans in OTLP's nesting: what one export request carries, or one whole trace.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Batch {
    pub resource_spans: Vec<ResourceSpans>,
}

/// A span together with the resource and scope it came with.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRef<'a> {
    pub resource: &'a Arc<Resource>,
    pub scope: &'a Arc<Scope>,
    pub span: &'a Span,
}

/// A span that owns (shared pointers to) its resource and scope: the unit stores keep.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatSpan {
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub span: Span,
}

impl Batch {
    pub fn span_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }
    pub fn is_empty(&self) -> bool {
        self.span_count() == 0
    }
    pub fn spans(&self) -> impl Iterator<Item = SpanRef<'_>> {
        self.resource_spans.iter().flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans.iter().map(move |span| SpanRef {
                    resource: &rs.resource,
                    scope: &ss.scope,
                    span,
                })
            })
        })
    }
    /// Flattens the batch into spans that each hold their resource and scope.
    pub fn into_flat(self) -> Vec<FlatSpan> {
        let mut out = Vec::with_capacity(self.span_count());
        self.for_each_flat(|fs| out.push(fs));
        out
    }

    /// Hands each span, holding its resource and scope, to `f`, moving it out of the batch
    /// (no intermediate vector: the head takes spans straight into its own).
    pub fn for_each_flat(self, mut f: impl FnMut(FlatSpan)) {
        for rs in self.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    f(FlatSpan {
                        resource: rs.resource.clone(),
                        scope: ss.scope.clone(),
                        span,
                    });
                }
            }
        }
    }
    /// Groups flat spans back into OTLP nesting. Consecutive spans that share a resource (and
    /// scope) by pointer or by value land in one group, so a batch flattened and regrouped in
    /// order comes back equal.
    pub fn from_flat(spans: impl IntoIterator<Item = FlatSpan>) -> Batch {
        let mut out: Vec<ResourceSpans> = Vec::new();
        for fs in spans {
            let rs = match out.last_mut() {
                Some(last) if same(&last.resource, &fs.resource) => last,
                _ => {
                    out.push(ResourceSpans {
                        resource: fs.resource.clone(),
                        scope_spans: Vec::new(),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            match rs.scope_spans.last_mut() {
                Some(last) if same(&last.scope, &fs.scope) => last.spans.push(fs.span),
                _ => rs.scope_spans.push(ScopeSpans {
                    scope: fs.scope,
                    spans: vec![fs.span],
                }),
            }
        }
        Batch {
            resource_spans: out,
        }
    }
}

impl Batch {
    /// Groups spans of one trace (in the given order) by resource and then by scope, each group
    /// at the place its first span had: the shape an OTLP reader expects of a whole trace.
    pub fn from_flat_grouped(spans: impl IntoIterator<Item = FlatSpan>) -> Batch {
        let mut out: Vec<ResourceSpans> = Vec::new();
        for fs in spans {
            let ri = match out.iter().position(|r| same(&r.resource, &fs.resource)) {
                Some(i) => i,
                None => {
                    out.push(ResourceSpans {
                        resource: fs.resource.clone(),
                        scope_spans: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let rs = &mut out[ri];
            match rs
                .scope_spans
                .iter_mut()
                .find(|s| same(&s.scope, &fs.scope))
            {
                Some(ss) => ss.spans.push(fs.span),
                None => rs.scope_spans.push(ScopeSpans {
                    scope: fs.scope,
                    spans: vec![fs.span],
                }),
            }
        }
        Batch {
            resource_spans: out,
        }
    }
}

fn same<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8) -> Span {
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([id; 8]),
            name: format!("s{id}").into(),
            ..Default::default()
        }
    }

    #[test]
    fn flatten_and_regroup_round_trips() {
        let r1 = Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", AnyValue::String("a".into()))],
            ..Default::default()
        });
        let r2 = Arc::new(Resource::default());
        let s1 = Arc::new(Scope {
            name: "x".into(),
            ..Default::default()
        });
        let b = Batch {
            resource_spans: vec![
                ResourceSpans {
                    resource: r1.clone(),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: s1.clone(),
                            spans: vec![span(1), span(2)],
                        },
                        ScopeSpans {
                            scope: Arc::new(Scope::default()),
                            spans: vec![span(3)],
                        },
                    ],
                },
                ResourceSpans {
                    resource: r2,
                    scope_spans: vec![ScopeSpans {
                        scope: s1,
                        spans: vec![span(4)],
                    }],
                },
            ],
        };
        assert_eq!(b.span_count(), 4);
        assert_eq!(Batch::from_flat(b.clone().into_flat()), b);
        assert_eq!(b.resource_spans[0].resource.service_name(), "a");
        assert_eq!(
            b.resource_spans[1].resource.service_name(),
            "unknown_service"
        );
    }
}
