//! A synthetic OTLP workload: realistic multi-service traces, as `weft bench` sends them and
//! as the decode benchmark reads them (one generator, so both measure the same thing).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use rand::Rng;

/// The services of the workload and their operations; a trace starts at the first.
pub const SERVICES: &[(&str, &[&str])] = &[
    ("frontend", &["GET /", "GET /cart", "POST /checkout"]),
    (
        "api-gateway",
        &[
            "GET /api/orders/{id}",
            "POST /api/orders",
            "GET /api/products",
        ],
    ),
    ("orders", &["CreateOrder", "GetOrder", "ListOrders"]),
    ("payments", &["Charge", "Refund"]),
    ("inventory", &["Reserve", "Release", "Lookup"]),
    (
        "postgres",
        &["SELECT orders", "INSERT orders", "UPDATE stock"],
    ),
];

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.to_string())),
    })
}
fn i(v: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    })
}
fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: v,
        ..Default::default()
    }
}

/// Builds requests of realistic traces: a tree across services with HTTP, DB and custom
/// attributes, errors at the configured rate.
#[derive(Clone, Debug)]
pub struct Workload {
    resources: Vec<Resource>,
    args_spans_per_trace: usize,
    extra_attributes: usize,
    error_rate: f64,
}

impl Workload {
    /// Traces of `spans_per_trace` spans with `extra_attributes` random integer attributes
    /// each (`app.attr_<n>`, 0–999) on top of the HTTP, user and database ones, and an error
    /// span in `error_rate` of the traces.
    pub fn new(spans_per_trace: usize, extra_attributes: usize, error_rate: f64) -> Workload {
        let resources = SERVICES
            .iter()
            .map(|(svc, _)| Resource {
                attributes: vec![
                    kv("service.name", s(svc)),
                    kv("service.version", s("1.4.2")),
                    kv("deployment.environment.name", s("bench")),
                    kv("host.name", s(&format!("{svc}-7d9f8"))),
                    kv("telemetry.sdk.language", s("rust")),
                ],
                ..Default::default()
            })
            .collect();
        Workload {
            resources,
            args_spans_per_trace: spans_per_trace.max(1),
            extra_attributes,
            error_rate,
        }
    }

    /// One request of about `n` spans, all traces started within the second before
    /// `now_unix_nano`; returns it with the trace ids it holds.
    pub fn request(
        &self,
        rng: &mut impl Rng,
        n: usize,
        now_unix_nano: u64,
    ) -> (ExportTraceServiceRequest, Vec<[u8; 16]>) {
        let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        let mut ids = Vec::new();
        let now = now_unix_nano.max(1_000_000_000);
        let mut made = 0;
        while made < n {
            let trace_id: [u8; 16] = rng.random();
            ids.push(trace_id);
            let error_trace = rng.random_bool(self.error_rate.clamp(0.0, 1.0));
            let start = now - rng.random_range(0..1_000_000_000u64);
            let mut parents: Vec<([u8; 8], u64, u64)> = Vec::new();
            let total = 2_000_000 + rng.random_range(0..200_000_000u64);
            for k in 0..self.args_spans_per_trace {
                let span_id: [u8; 8] = rng.random();
                let (parent, pstart, pdur) = if k == 0 {
                    (Vec::new(), start, total)
                } else {
                    let p = parents[rng.random_range(0..parents.len())];
                    (p.0.to_vec(), p.1, p.2)
                };
                let svc = if k == 0 {
                    0
                } else {
                    1 + rng.random_range(0..SERVICES.len() - 1)
                };
                let ops = SERVICES[svc].1;
                let name = ops[rng.random_range(0..ops.len())];
                let off = if k == 0 {
                    0
                } else {
                    rng.random_range(0..pdur / 2 + 1)
                };
                let dur = if k == 0 {
                    total
                } else {
                    rng.random_range(1..(pdur - off).max(2))
                };
                let error = error_trace && k == self.args_spans_per_trace - 1;
                let mut attributes = vec![
                    kv(
                        "http.request.method",
                        s(if name.starts_with("POST") {
                            "POST"
                        } else {
                            "GET"
                        }),
                    ),
                    kv("http.route", s(name)),
                    kv(
                        "http.response.status_code",
                        i(if error { 500 } else { 200 }),
                    ),
                    kv(
                        "user.id",
                        s(&format!("user-{}", rng.random_range(0..10_000))),
                    ),
                ];
                if SERVICES[svc].0 == "postgres" {
                    attributes.push(kv("db.system.name", s("postgresql")));
                    attributes.push(kv("db.query.text", s("SELECT * FROM orders WHERE id = ?")));
                }
                for x in 0..self.extra_attributes {
                    attributes.push(kv(&format!("app.attr_{x}"), i(rng.random_range(0..1000))));
                }
                per_service[svc].push(Span {
                    trace_id: trace_id.to_vec(),
                    span_id: span_id.to_vec(),
                    parent_span_id: parent,
                    name: name.to_string(),
                    kind: if k == 0 {
                        span::SpanKind::Server as i32
                    } else {
                        span::SpanKind::Internal as i32
                    },
                    start_time_unix_nano: pstart + off,
                    end_time_unix_nano: pstart + off + dur,
                    attributes,
                    status: error.then(|| Status {
                        code: status::StatusCode::Error as i32,
                        message: "upstream returned 500".into(),
                    }),
                    ..Default::default()
                });
                parents.push((span_id, pstart + off, dur));
                made += 1;
            }
        }
        let resource_spans = per_service
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, spans)| ResourceSpans {
                resource: Some(self.resources[k].clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "weft-bench".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        (ExportTraceServiceRequest { resource_spans }, ids)
    }
}
