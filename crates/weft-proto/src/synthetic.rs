//! A synthetic OTLP workload: realistic multi-service traces, as `weft bench` sends them and
//! as the decode benchmark reads them (one generator, so both measure the same thing).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
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
    /// `app.attr_<n>` for each extra attribute
    extra_keys: Vec<String>,
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
            extra_keys: (0..extra_attributes)
                .map(|x| format!("app.attr_{x}"))
                .collect(),
            error_rate,
        }
    }

    /// Generates about `n` spans of whole traces, all started within the second before
    /// `now_unix_nano`, handing each to `each`; returns the trace ids. Both encodings below
    /// draw from this one generator, so they describe the same traces for the same `rng`.
    fn generate(
        &self,
        rng: &mut impl Rng,
        n: usize,
        now_unix_nano: u64,
        mut each: impl FnMut(&GenSpan<'_>),
    ) -> Vec<[u8; 16]> {
        let mut ids = Vec::new();
        let now = now_unix_nano.max(1_000_000_000);
        let mut extra = vec![0i64; self.extra_attributes];
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
                    (None, start, total)
                } else {
                    let p = parents[rng.random_range(0..parents.len())];
                    (Some(p.0), p.1, p.2)
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
                let user = rng.random_range(0..10_000i32);
                for x in extra.iter_mut() {
                    *x = rng.random_range(0..1000i64);
                }
                each(&GenSpan {
                    svc,
                    trace_id,
                    span_id,
                    parent,
                    name,
                    start: pstart + off,
                    end: pstart + off + dur,
                    error: error_trace && k == self.args_spans_per_trace - 1,
                    user,
                    extra: &extra,
                });
                parents.push((span_id, pstart + off, dur));
                made += 1;
            }
        }
        ids
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
        let ids = self.generate(rng, n, now_unix_nano, |g| {
            let mut attributes = vec![
                kv("http.request.method", s(g.method())),
                kv("http.route", s(g.name)),
                kv("http.response.status_code", i(g.status_code())),
                kv("user.id", s(&format!("user-{}", g.user))),
            ];
            if g.is_db() {
                attributes.push(kv("db.system.name", s("postgresql")));
                attributes.push(kv("db.query.text", s(DB_QUERY)));
            }
            for (k, v) in self.extra_keys.iter().zip(g.extra) {
                attributes.push(kv(k, i(*v)));
            }
            per_service[g.svc].push(Span {
                trace_id: g.trace_id.to_vec(),
                span_id: g.span_id.to_vec(),
                parent_span_id: g.parent.map(|p| p.to_vec()).unwrap_or_default(),
                name: g.name.to_string(),
                kind: g.kind() as i32,
                start_time_unix_nano: g.start,
                end_time_unix_nano: g.end,
                attributes,
                status: g.error.then(|| Status {
                    code: status::StatusCode::Error as i32,
                    message: ERROR_MESSAGE.into(),
                }),
                ..Default::default()
            });
        });
        let resource_spans = per_service
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, spans)| ResourceSpans {
                resource: Some(self.resources[k].clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope()),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        (ExportTraceServiceRequest { resource_spans }, ids)
    }

    /// The same request as [`Self::request`] (byte for byte, for the same `rng`), written
    /// straight into `out` as protobuf without building the message: what `weft bench` sends,
    /// so that the load generator spends its CPU on the wire, not on allocations. Returns the
    /// trace ids and the number of spans.
    pub fn encode_request(
        &self,
        rng: &mut impl Rng,
        n: usize,
        now_unix_nano: u64,
        out: &mut Vec<u8>,
    ) -> (Vec<[u8; 16]>, usize) {
        let mut per_service: Vec<Vec<u8>> = vec![Vec::new(); SERVICES.len()];
        let mut body = Vec::with_capacity(512);
        let mut attr = Vec::with_capacity(64);
        let mut spans = 0;
        let ids = self.generate(rng, n, now_unix_nano, |g| {
            spans += 1;
            body.clear();
            pb::bytes(&mut body, 1, &g.trace_id);
            pb::bytes(&mut body, 2, &g.span_id);
            if let Some(p) = &g.parent {
                pb::bytes(&mut body, 4, p);
            }
            pb::bytes(&mut body, 5, g.name.as_bytes());
            pb::varint_field(&mut body, 6, g.kind() as u64);
            pb::fixed64(&mut body, 7, g.start);
            pb::fixed64(&mut body, 8, g.end);
            let mut kv = |key: &[u8], value: AttrValue<'_>| {
                attr.clear();
                pb::bytes(&mut attr, 1, key);
                match value {
                    AttrValue::Str(parts) => {
                        let len: usize = parts.iter().map(|p| p.len()).sum();
                        pb::key(&mut attr, 2, 2);
                        pb::varint(&mut attr, (1 + pb::varint_len(len as u64) + len) as u64);
                        pb::key(&mut attr, 1, 2);
                        pb::varint(&mut attr, len as u64);
                        for p in parts {
                            attr.extend_from_slice(p);
                        }
                    }
                    AttrValue::Int(v) => {
                        pb::key(&mut attr, 2, 2);
                        pb::varint(&mut attr, (1 + pb::varint_len(v as u64)) as u64);
                        pb::varint_field(&mut attr, 3, v as u64);
                    }
                }
                pb::bytes(&mut body, 9, &attr);
            };
            kv(
                b"http.request.method",
                AttrValue::Str(&[g.method().as_bytes()]),
            );
            kv(b"http.route", AttrValue::Str(&[g.name.as_bytes()]));
            kv(
                b"http.response.status_code",
                AttrValue::Int(g.status_code()),
            );
            let mut digits = [0u8; 20];
            kv(
                b"user.id",
                AttrValue::Str(&[b"user-", decimal(g.user as u64, &mut digits)]),
            );
            if g.is_db() {
                kv(b"db.system.name", AttrValue::Str(&[b"postgresql"]));
                kv(b"db.query.text", AttrValue::Str(&[DB_QUERY.as_bytes()]));
            }
            for (k, v) in self.extra_keys.iter().zip(g.extra) {
                kv(k.as_bytes(), AttrValue::Int(*v));
            }
            if g.error {
                attr.clear();
                pb::bytes(&mut attr, 2, ERROR_MESSAGE.as_bytes());
                pb::varint_field(&mut attr, 3, status::StatusCode::Error as u64);
                pb::bytes(&mut body, 15, &attr);
            }
            pb::bytes(&mut per_service[g.svc], 2, &body);
        });
        // ResourceSpans { resource, scope_spans: [ScopeSpans { scope, spans }] }, lengths
        // computed up front so that each span's bytes are copied once more, into `out`
        let scope = scope().encode_to_vec();
        let scope_field = 1 + pb::varint_len(scope.len() as u64) + scope.len();
        for (k, spans) in per_service.iter().enumerate() {
            if spans.is_empty() {
                continue;
            }
            let resource = self.resources[k].encode_to_vec();
            let ss_len = scope_field + spans.len();
            let rs_len = 1
                + pb::varint_len(resource.len() as u64)
                + resource.len()
                + 1
                + pb::varint_len(ss_len as u64)
                + ss_len;
            out.reserve(1 + pb::varint_len(rs_len as u64) + rs_len);
            pb::key(out, 1, 2);
            pb::varint(out, rs_len as u64);
            pb::bytes(out, 1, &resource);
            pb::key(out, 2, 2);
            pb::varint(out, ss_len as u64);
            pb::bytes(out, 1, &scope);
            out.extend_from_slice(spans);
        }
        (ids, spans)
    }
}

const DB_QUERY: &str = "SELECT * FROM orders WHERE id = ?";
const ERROR_MESSAGE: &str = "upstream returned 500";

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "weft-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// One generated span, before it is encoded either way.
struct GenSpan<'a> {
    svc: usize,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: &'static str,
    start: u64,
    end: u64,
    error: bool,
    user: i32,
    extra: &'a [i64],
}

impl GenSpan<'_> {
    fn method(&self) -> &'static str {
        if self.name.starts_with("POST") {
            "POST"
        } else {
            "GET"
        }
    }
    fn status_code(&self) -> i64 {
        if self.error {
            500
        } else {
            200
        }
    }
    fn is_db(&self) -> bool {
        SERVICES[self.svc].0 == "postgres"
    }
    fn kind(&self) -> span::SpanKind {
        if self.parent.is_none() {
            span::SpanKind::Server
        } else {
            span::SpanKind::Internal
        }
    }
}

enum AttrValue<'a> {
    /// a string given in pieces, written one after the other
    Str(&'a [&'a [u8]]),
    Int(i64),
}

/// The decimal digits of `v`, written at the end of `buf`.
fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[at..]
}

/// The few protobuf wire-format writes the direct encoder needs.
mod pb {
    #[inline]
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    #[inline]
    pub fn varint_len(v: u64) -> usize {
        (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
    }
    #[inline]
    pub fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
        varint(out, u64::from(field << 3 | wire));
    }
    #[inline]
    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    #[inline]
    pub fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
        key(out, field, 0);
        varint(out, v);
    }
    #[inline]
    pub fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
        key(out, field, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use rand::SeedableRng;

    #[test]
    fn the_direct_encoding_is_the_message_encoding() {
        for (spans_per_trace, extra, error_rate) in [(10, 4, 0.01), (3, 0, 1.0), (1, 12, 0.5)] {
            let w = Workload::new(spans_per_trace, extra, error_rate);
            for seed in 0..5 {
                let mut a = rand::rngs::StdRng::seed_from_u64(seed);
                let mut b = rand::rngs::StdRng::seed_from_u64(seed);
                let (req, ids) = w.request(&mut a, 500, 1_700_000_000_000_000_000);
                let mut out = Vec::new();
                let (ids2, n) = w.encode_request(&mut b, 500, 1_700_000_000_000_000_000, &mut out);
                assert_eq!(ids, ids2);
                let count: usize = req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                assert_eq!(n, count);
                assert!(n >= 500);
                assert_eq!(out, req.encode_to_vec(), "seed {seed}");
            }
        }
    }
}
