//! An OTLP protobuf request of 1000 spans into weft's model: the two-step path
//! (`decode_request` into opentelemetry-proto's structs, then `batch_from_request`) against
//! the one-pass `decode_batch`. The request is built as `weft bench` builds its default
//! workload: traces of 10 spans across five services (one resource each), four
//! semantic-convention attributes per span plus two for database spans plus four extra, an
//! error span in 1% of traces.
//!
//! `cargo bench -p weft-proto --bench decode`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use std::hint::black_box;
use weft_proto::otlp;

const SPANS: usize = 1000;
const SPANS_PER_TRACE: usize = 10;
const EXTRA_ATTRIBUTES: usize = 4;
const ERROR_RATE: f64 = 0.01;

const SERVICES: &[(&str, &[&str])] = &[
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

/// xorshift64, so the request is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0; N];
        for x in &mut b {
            *x = self.next() as u8;
        }
        b
    }
}

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

/// The request `weft bench` sends with its default arguments (`Generator::request`).
fn request(rng: &mut Rng) -> ExportTraceServiceRequest {
    let now: u64 = 1_750_000_000_000_000_000;
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut made = 0;
    while made < SPANS {
        let trace_id: [u8; 16] = rng.bytes();
        let error_trace = (rng.below(1_000_000) as f64) < ERROR_RATE * 1e6;
        let start = now - rng.below(1_000_000_000);
        let mut parents: Vec<([u8; 8], u64, u64)> = Vec::new();
        let total = 2_000_000 + rng.below(200_000_000);
        for k in 0..SPANS_PER_TRACE {
            let span_id: [u8; 8] = rng.bytes();
            let (parent, pstart, pdur) = if k == 0 {
                (Vec::new(), start, total)
            } else {
                let p = parents[rng.below(parents.len() as u64) as usize];
                (p.0.to_vec(), p.1, p.2)
            };
            let svc = if k == 0 {
                0
            } else {
                1 + rng.below(SERVICES.len() as u64 - 1) as usize
            };
            let ops = SERVICES[svc].1;
            let name = ops[rng.below(ops.len() as u64) as usize];
            let off = if k == 0 { 0 } else { rng.below(pdur / 2 + 1) };
            let dur = if k == 0 {
                total
            } else {
                1 + rng.below((pdur - off).max(2) - 1)
            };
            let error = error_trace && k == SPANS_PER_TRACE - 1;
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
                kv("user.id", s(&format!("user-{}", rng.below(10_000)))),
            ];
            if SERVICES[svc].0 == "postgres" {
                attributes.push(kv("db.system.name", s("postgresql")));
                attributes.push(kv("db.query.text", s("SELECT * FROM orders WHERE id = ?")));
            }
            for x in 0..EXTRA_ATTRIBUTES {
                attributes.push(kv(&format!("app.attr_{x}"), i(rng.below(1000) as i64)));
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
        .map(|(k, spans)| {
            let svc = SERVICES[k].0;
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s(svc)),
                        kv("service.version", s("1.4.2")),
                        kv("deployment.environment.name", s("bench")),
                        kv("host.name", s(&format!("{svc}-7d9f8"))),
                        kv("telemetry.sdk.language", s("rust")),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "weft-bench".into(),
                        version: "0.1.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn decode(c: &mut Criterion) {
    let bytes = request(&mut Rng(0x9e37_79b9_7f4a_7c15)).encode_to_vec();
    let two_step = otlp::batch_from_request(otlp::decode_request(&bytes).unwrap());
    let one_pass = otlp::decode_batch(&bytes).unwrap();
    assert_eq!(one_pass, two_step, "both paths decode the request the same");
    assert_eq!(one_pass.0.span_count(), SPANS);

    let mut g = c.benchmark_group(format!(
        "decode {SPANS}-span request ({} bytes)",
        bytes.len()
    ));
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("decode_request + batch_from_request", |b| {
        b.iter(|| otlp::batch_from_request(otlp::decode_request(black_box(&bytes)).unwrap()))
    });
    g.bench_function("decode_batch", |b| {
        b.iter(|| otlp::decode_batch(black_box(&bytes)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
