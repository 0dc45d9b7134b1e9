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
    /// what [`Workload::encode_request`] copies instead of encoding again
    encoded: Encoded,
}

impl Workload {
    /// Traces of `spans_per_trace` spans with `extra_attributes` random integer attributes
    /// each (`app.attr_<n>`, 0–999) on top of the HTTP, user and database ones, and an error
    /// span in `error_rate` of the traces.
    pub fn new(spans_per_trace: usize, extra_attributes: usize, error_rate: f64) -> Workload {
        let resources: Vec<Resource> = SERVICES
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
        let extra_keys: Vec<String> = (0..extra_attributes)
            .map(|x| format!("app.attr_{x}"))
            .collect();
        Workload {
            encoded: Encoded::new(&resources, &extra_keys),
            resources,
            args_spans_per_trace: spans_per_trace.max(1),
            extra_attributes,
            extra_keys,
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
                let op = rng.random_range(0..ops.len());
                let name = ops[op];
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
                    op,
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
    /// so that the load generator spends its CPU on the wire, not on allocations. What does not
    /// change from span to span (names, routes, constant attributes, attribute keys) is encoded
    /// once, in [`Workload::new`], and copied; `scratch` keeps the per-service buffers from one
    /// request to the next. Returns the trace ids and the number of spans.
    pub fn encode_request(
        &self,
        rng: &mut impl Rng,
        n: usize,
        now_unix_nano: u64,
        scratch: &mut EncodeScratch,
        out: &mut Vec<u8>,
    ) -> (Vec<[u8; 16]>, usize) {
        let pre = &self.encoded;
        let EncodeScratch { per_service, body } = scratch;
        per_service.resize_with(SERVICES.len(), Vec::new);
        for v in per_service.iter_mut() {
            v.clear();
        }
        let mut spans = 0;
        let ids = self.generate(rng, n, now_unix_nano, |g| {
            spans += 1;
            body.clear();
            pb::bytes(body, 1, &g.trace_id);
            pb::bytes(body, 2, &g.span_id);
            if let Some(p) = &g.parent {
                pb::bytes(body, 4, p);
            }
            let op = &pre.ops[g.svc][g.op];
            body.extend_from_slice(&op.name_field);
            pb::varint_field(body, 6, g.kind() as u64);
            pb::fixed64(body, 7, g.start);
            pb::fixed64(body, 8, g.end);
            // http.request.method, http.route
            body.extend_from_slice(&op.attributes);
            body.extend_from_slice(&pre.status_code[usize::from(g.error)]);
            // user.id = "user-<n>"
            let mut digits = [0u8; 20];
            let digits = decimal(g.user as u64, &mut digits);
            let value_len = 5 + digits.len();
            let any_len = pb::field_len(value_len);
            pb::header(body, 9, pre.user_key.len() + pb::field_len(any_len));
            body.extend_from_slice(&pre.user_key);
            pb::header(body, 2, any_len);
            pb::header(body, 1, value_len);
            body.extend_from_slice(b"user-");
            body.extend_from_slice(digits);
            if g.is_db() {
                body.extend_from_slice(&pre.db_attributes);
            }
            for (key, v) in pre.extra_keys.iter().zip(g.extra) {
                let any_len = 1 + pb::varint_len(*v as u64);
                pb::header(body, 9, key.len() + pb::field_len(any_len));
                body.extend_from_slice(key);
                pb::header(body, 2, any_len);
                pb::varint_field(body, 3, *v as u64);
            }
            if g.error {
                body.extend_from_slice(&pre.error_status);
            }
            pb::bytes(&mut per_service[g.svc], 2, body);
        });
        // ResourceSpans { resource, scope_spans: [ScopeSpans { scope, spans }] }, lengths
        // computed up front so that each span's bytes are copied once more, into `out`
        let total: usize = per_service
            .iter()
            .zip(&pre.resources)
            .filter(|(s, _)| !s.is_empty())
            .map(|(s, r)| s.len() + r.len() + pre.scope_field.len() + 16)
            .sum();
        out.reserve(total);
        for (k, spans) in per_service.iter().enumerate() {
            if spans.is_empty() {
                continue;
            }
            let resource = &pre.resources[k];
            let ss_len = pre.scope_field.len() + spans.len();
            pb::header(out, 1, resource.len() + pb::field_len(ss_len));
            out.extend_from_slice(resource);
            pb::header(out, 2, ss_len);
            out.extend_from_slice(&pre.scope_field);
            out.extend_from_slice(spans);
        }
        (ids, spans)
    }
}

/// Buffers [`Workload::encode_request`] reuses from one request to the next.
#[derive(Debug, Default)]
pub struct EncodeScratch {
    per_service: Vec<Vec<u8>>,
    body: Vec<u8>,
}

/// The parts of a span's encoding that do not change from span to span, encoded once.
#[derive(Clone, Debug)]
struct Encoded {
    /// per service: the `resource` field of its ResourceSpans (key, length, message)
    resources: Vec<Vec<u8>>,
    /// the `scope` field of every ScopeSpans
    scope_field: Vec<u8>,
    /// per service, per operation
    ops: Vec<Vec<EncodedOp>>,
    /// the `http.response.status_code` attribute field: 200, then 500
    status_code: [Vec<u8>; 2],
    /// the key field of `user.id`'s KeyValue
    user_key: Vec<u8>,
    /// `db.system.name` and `db.query.text`, as attribute fields
    db_attributes: Vec<u8>,
    /// per extra attribute: the key field of its KeyValue
    extra_keys: Vec<Vec<u8>>,
    /// the `status` field of an error span
    error_status: Vec<u8>,
}

#[derive(Clone, Debug)]
struct EncodedOp {
    /// the span's `name` field
    name_field: Vec<u8>,
    /// `http.request.method` and `http.route`, as attribute fields
    attributes: Vec<u8>,
}

impl Encoded {
    fn new(resources: &[Resource], extra_keys: &[String]) -> Encoded {
        let bytes_field = |number: u32, b: &[u8]| {
            let mut out = Vec::new();
            pb::bytes(&mut out, number, b);
            out
        };
        // a field holding the message that `m` encodes
        let field = |number: u32, m: &dyn Fn(&mut Vec<u8>)| {
            let mut inner = Vec::new();
            m(&mut inner);
            bytes_field(number, &inner)
        };
        let attribute = |kv: KeyValue| field(9, &|b| kv.encode_raw(b));
        let key_field = |k: &str| bytes_field(1, k.as_bytes());
        Encoded {
            resources: resources
                .iter()
                .map(|r| field(1, &|b| r.encode_raw(b)))
                .collect(),
            scope_field: field(1, &|b| scope().encode_raw(b)),
            ops: SERVICES
                .iter()
                .map(|(_, ops)| {
                    ops.iter()
                        .map(|name| {
                            let name_field = bytes_field(5, name.as_bytes());
                            let mut attributes =
                                attribute(kv("http.request.method", s(method_of(name))));
                            attributes.extend(attribute(kv("http.route", s(name))));
                            EncodedOp {
                                name_field,
                                attributes,
                            }
                        })
                        .collect()
                })
                .collect(),
            status_code: [200, 500].map(|c| attribute(kv("http.response.status_code", i(c)))),
            user_key: key_field("user.id"),
            db_attributes: [
                attribute(kv("db.system.name", s("postgresql"))),
                attribute(kv("db.query.text", s(DB_QUERY))),
            ]
            .concat(),
            extra_keys: extra_keys.iter().map(|k| key_field(k)).collect(),
            error_status: field(15, &|b| {
                Status {
                    code: status::StatusCode::Error as i32,
                    message: ERROR_MESSAGE.into(),
                }
                .encode_raw(b)
            }),
        }
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
    /// the index of `name` in the service's operations
    op: usize,
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
        method_of(self.name)
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

/// The HTTP method of an operation: POST for `POST …`, GET for everything else.
fn method_of(name: &str) -> &'static str {
    if name.starts_with("POST") {
        "POST"
    } else {
        "GET"
    }
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
    /// The key and length of a length-delimited field of `len` bytes.
    #[inline]
    pub fn header(out: &mut Vec<u8>, field: u32, len: usize) {
        key(out, field, 2);
        varint(out, len as u64);
    }
    /// The size of a length-delimited field of `len` bytes whose number is below 16 (a
    /// one-byte key).
    #[inline]
    pub fn field_len(len: usize) -> usize {
        1 + varint_len(len as u64) + len
    }
    #[inline]
    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        header(out, field, b.len());
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
            // one scratch for all requests: what one request leaves in it must not leak into
            // the next
            let mut scratch = EncodeScratch::default();
            for seed in 0..5 {
                let mut a = rand::rngs::StdRng::seed_from_u64(seed);
                let mut b = rand::rngs::StdRng::seed_from_u64(seed);
                let (req, ids) = w.request(&mut a, 500, 1_700_000_000_000_000_000);
                let mut out = Vec::new();
                let (ids2, n) = w.encode_request(
                    &mut b,
                    500,
                    1_700_000_000_000_000_000,
                    &mut scratch,
                    &mut out,
                );
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
