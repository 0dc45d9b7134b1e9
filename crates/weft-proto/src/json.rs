//! OTLP/JSON, as the OTLP specification defines it ("JSON Protobuf Encoding").
//!
//! Output is exactly what the specification asks for: lowerCamelCase field names, trace and
//! span ids as lowercase hex, 64-bit integers as decimal strings, 32-bit integers and enums as
//! numbers, bytes as standard base64, doubles as numbers (or `"NaN"`, `"Infinity"`,
//! `"-Infinity"`), and fields with default values left out (proto3 JSON).
//!
//! Input is read the way protobuf JSON parsers read it, which is more lenient than the OTLP
//! text: the proto's snake_case field names are accepted besides lowerCamelCase, enums may be
//! names (`"SPAN_KIND_SERVER"`) as well as numbers, 64-bit integers may be numbers or strings,
//! hex ids may be upper- or lowercase, base64 may omit padding (or be URL-safe), `null` means
//! absent, and unknown fields are ignored (the specification requires that).
//!
//! Decoding produces the same protobuf structs the protobuf decoder does, so both encodings
//! share one validation path (`otlp::batch_from_request`). A malformed document (not JSON, a
//! value of the wrong type, an id that is not hex) is a [`JsonError`] naming the JSON path;
//! an id that is valid hex but of the wrong length, or all zeros, passes through as bytes so
//! that only its span is rejected, with OTLP partial success, as it would be over protobuf.

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as pb_resource;
use opentelemetry_proto::tonic::trace::v1 as pb;
use serde_json::{Map, Value};
use weft_model::{AnyValue, Batch, KeyValue, Span};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JsonError {
    pub path: String,
    pub message: String,
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError {
        path: path.to_string(),
        message: message.into(),
    })
}

type R<T> = Result<T, JsonError>;

/// The path of field `name` inside `path`: `resourceSpans[0].resource`; at the root (`$`)
/// just the field name, so every path reads like the brief's `resourceSpans[0].scopeSpans...`.
fn sub(path: &str, name: &str) -> String {
    if path == "$" {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Looks a field up by its JSON (camelCase) or proto (snake_case) name; `null` is absent. When
/// both spellings are present (with values), the camelCase one wins.
fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    let present = |k: &str| o.get(k).filter(|v| !v.is_null());
    present(camel).or_else(|| if snake != camel { present(snake) } else { None })
}

fn obj<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
    v.as_object().map_or_else(
        || err(path, format!("expected an object, got {}", kind(v))),
        Ok,
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn array<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<&'a [Value]> {
    match field(o, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => err(
            &sub(path, camel),
            format!("expected an array, got {}", kind(v)),
        ),
    }
}

fn string(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => err(
            &sub(path, camel),
            format!("expected a string, got {}", kind(v)),
        ),
    }
}

/// An integer written as a JSON number or a decimal string (proto3 JSON accepts both); the
/// caller checks the range of its type.
fn int_of(v: &Value, path: &str) -> R<i128> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else {
                // written with a fraction or exponent (`1e3`, `5.0`), or beyond 64 bits
                match n.as_f64() {
                    Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(f as i128),
                    _ => err(path, format!("expected an integer, got {n}")),
                }
            }
        }
        Value::String(s) => s
            .parse::<i128>()
            .or_else(|_| err(path, format!("expected an integer, got {s:?}"))),
        v => err(path, format!("expected an integer, got {}", kind(v))),
    }
}

fn uint64(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<u64> {
    let p = sub(path, camel);
    match field(o, camel, snake) {
        None => Ok(0),
        Some(v) => {
            let i = int_of(v, &p)?;
            u64::try_from(i).or_else(|_| err(&p, format!("{i} is out of range for uint64")))
        }
    }
}

fn uint32(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<u32> {
    let p = sub(path, camel);
    match field(o, camel, snake) {
        None => Ok(0),
        Some(v) => {
            let i = int_of(v, &p)?;
            u32::try_from(i).or_else(|_| err(&p, format!("{i} is out of range for uint32")))
        }
    }
}

fn enumeration(o: &Map<String, Value>, camel: &str, path: &str, names: &[&str]) -> R<i32> {
    let p = sub(path, camel);
    match field(o, camel, camel) {
        None => Ok(0),
        Some(Value::String(s)) => match names.iter().position(|n| n == s) {
            Some(i) => Ok(i as i32),
            None => s.parse::<i32>().or_else(|_| {
                err(
                    &p,
                    format!("unknown value {s:?}; expected one of {}", names.join(", ")),
                )
            }),
        },
        Some(v) => {
            let i = int_of(v, &p)?;
            i32::try_from(i).or_else(|_| err(&p, format!("{i} is out of range for an enum")))
        }
    }
}

/// A hex id of `len` bytes: empty is absent; anything that is not hex is a malformed document;
/// valid hex of the wrong length (or all zeros) passes through as bytes, so that the span is
/// rejected with partial success, as it would be over protobuf.
fn id(o: &Map<String, Value>, camel: &str, snake: &str, path: &str, len: usize) -> R<Vec<u8>> {
    let s = string(o, camel, snake, path)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.len() % 2 != 0 {
        return err(
            &sub(path, camel),
            format!("expected {} hex characters, got {}", 2 * len, s.len()),
        );
    }
    hex::decode(&s).or_else(|_| {
        err(
            &sub(path, camel),
            format!("expected {} hex characters, got {s:?}", 2 * len),
        )
    })
}

const TRACE_ID: usize = 16;
const SPAN_ID: usize = 8;

fn any_value(v: &Value, path: &str) -> R<common::AnyValue> {
    use common::any_value::Value as V;
    let o = obj(v, path)?;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        match s {
            Value::String(s) => Some(V::StringValue(s.clone())),
            v => {
                return err(
                    &format!("{path}.stringValue"),
                    format!("expected a string, got {}", kind(v)),
                )
            }
        }
    } else if let Some(b) = field(o, "boolValue", "bool_value") {
        match b {
            Value::Bool(b) => Some(V::BoolValue(*b)),
            v => {
                return err(
                    &format!("{path}.boolValue"),
                    format!("expected a boolean, got {}", kind(v)),
                )
            }
        }
    } else if let Some(i) = field(o, "intValue", "int_value") {
        let p = format!("{path}.intValue");
        let i = int_of(i, &p)?;
        Some(V::IntValue(i64::try_from(i).or_else(|_| {
            err(&p, format!("{i} is out of range for int64"))
        })?))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        let p = format!("{path}.doubleValue");
        Some(V::DoubleValue(match d {
            Value::Number(n) => match n.as_f64() {
                Some(f) => f,
                None => return err(&p, format!("expected a number, got {n}")),
            },
            Value::String(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                // a number in a string; "inf", "nan" and overflowing literals are not JSON's
                s => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => f,
                    _ => {
                        return err(
                            &p,
                            format!(
                            "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\", got {s:?}"
                        ),
                        )
                    }
                },
            },
            v => return err(&p, format!("expected a number, got {}", kind(v))),
        }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let p = format!("{path}.bytesValue");
        let s = match b {
            Value::String(s) => s.as_str(),
            v => return err(&p, format!("expected a base64 string, got {}", kind(v))),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(s.trim_end_matches('='))
            })
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
            })
            .or_else(|_| err(&p, format!("not base64: {s:?}")))?;
        Some(V::BytesValue(bytes))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        let p = format!("{path}.arrayValue");
        let ao = obj(a, &p)?;
        let values = array(ao, "values", "values", &p)?
            .iter()
            .enumerate()
            .map(|(i, v)| any_value(v, &format!("{p}.values[{i}]")))
            .collect::<R<_>>()?;
        Some(V::ArrayValue(common::ArrayValue { values }))
    } else if let Some(l) = field(o, "kvlistValue", "kvlist_value") {
        let p = format!("{path}.kvlistValue");
        let lo = obj(l, &p)?;
        Some(V::KvlistValue(common::KeyValueList {
            values: key_values(lo, "values", "values", &p)?,
        }))
    } else {
        None
    };
    Ok(common::AnyValue { value })
}

fn key_values(
    o: &Map<String, Value>,
    camel: &str,
    snake: &str,
    path: &str,
) -> R<Vec<common::KeyValue>> {
    array(o, camel, snake, path)?
        .iter()
        .enumerate()
        .map(|(i, kv)| {
            let p = format!("{}[{i}]", sub(path, camel));
            let kvo = obj(kv, &p)?;
            Ok(common::KeyValue {
                key: string(kvo, "key", "key", &p)?,
                value: field(kvo, "value", "value")
                    .map(|v| any_value(v, &format!("{p}.value")))
                    .transpose()?,
                ..Default::default()
            })
        })
        .collect()
}

const KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

fn span(v: &Value, path: &str) -> R<pb::Span> {
    let o = obj(v, path)?;
    let events = array(o, "events", "events", path)?
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let p = format!("{path}.events[{i}]");
            let eo = obj(e, &p)?;
            Ok(pb::span::Event {
                time_unix_nano: uint64(eo, "timeUnixNano", "time_unix_nano", &p)?,
                name: string(eo, "name", "name", &p)?,
                attributes: key_values(eo, "attributes", "attributes", &p)?,
                dropped_attributes_count: uint32(
                    eo,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                    &p,
                )?,
            })
        })
        .collect::<R<_>>()?;
    let links = array(o, "links", "links", path)?
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = format!("{path}.links[{i}]");
            let lo = obj(l, &p)?;
            Ok(pb::span::Link {
                trace_id: id(lo, "traceId", "trace_id", &p, TRACE_ID)?,
                span_id: id(lo, "spanId", "span_id", &p, SPAN_ID)?,
                trace_state: string(lo, "traceState", "trace_state", &p)?,
                attributes: key_values(lo, "attributes", "attributes", &p)?,
                dropped_attributes_count: uint32(
                    lo,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                    &p,
                )?,
                flags: uint32(lo, "flags", "flags", &p)?,
            })
        })
        .collect::<R<_>>()?;
    let status = match field(o, "status", "status") {
        None => None,
        Some(s) => {
            let p = format!("{path}.status");
            let so = obj(s, &p)?;
            Some(pb::Status {
                message: string(so, "message", "message", &p)?,
                code: enumeration(so, "code", &p, CODES)?,
            })
        }
    };
    Ok(pb::Span {
        trace_id: id(o, "traceId", "trace_id", path, TRACE_ID)?,
        span_id: id(o, "spanId", "span_id", path, SPAN_ID)?,
        trace_state: string(o, "traceState", "trace_state", path)?,
        parent_span_id: id(o, "parentSpanId", "parent_span_id", path, SPAN_ID)?,
        flags: uint32(o, "flags", "flags", path)?,
        name: string(o, "name", "name", path)?,
        kind: enumeration(o, "kind", path, KINDS)?,
        start_time_unix_nano: uint64(o, "startTimeUnixNano", "start_time_unix_nano", path)?,
        end_time_unix_nano: uint64(o, "endTimeUnixNano", "end_time_unix_nano", path)?,
        attributes: key_values(o, "attributes", "attributes", path)?,
        dropped_attributes_count: uint32(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
            path,
        )?,
        events,
        dropped_events_count: uint32(o, "droppedEventsCount", "dropped_events_count", path)?,
        links,
        dropped_links_count: uint32(o, "droppedLinksCount", "dropped_links_count", path)?,
        status,
    })
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (the same shape as `TracesData`).
pub fn decode_request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    let v: Value =
        serde_json::from_slice(bytes).or_else(|e| err("$", format!("not valid JSON: {e}")))?;
    let root = obj(&v, "$")?;
    let mut resource_spans = Vec::new();
    for (ri, rs) in array(root, "resourceSpans", "resource_spans", "$")?
        .iter()
        .enumerate()
    {
        let rp = format!("resourceSpans[{ri}]");
        let rso = obj(rs, &rp)?;
        let resource = match field(rso, "resource", "resource") {
            None => None,
            Some(r) => {
                let p = format!("{rp}.resource");
                let ro = obj(r, &p)?;
                Some(pb_resource::Resource {
                    attributes: key_values(ro, "attributes", "attributes", &p)?,
                    dropped_attributes_count: uint32(
                        ro,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                        &p,
                    )?,
                    ..Default::default()
                })
            }
        };
        let mut scope_spans = Vec::new();
        for (si, ss) in array(rso, "scopeSpans", "scope_spans", &rp)?
            .iter()
            .enumerate()
        {
            let sp = format!("{rp}.scopeSpans[{si}]");
            let sso = obj(ss, &sp)?;
            let scope = match field(sso, "scope", "scope") {
                None => None,
                Some(s) => {
                    let p = format!("{sp}.scope");
                    let so = obj(s, &p)?;
                    Some(common::InstrumentationScope {
                        name: string(so, "name", "name", &p)?,
                        version: string(so, "version", "version", &p)?,
                        attributes: key_values(so, "attributes", "attributes", &p)?,
                        dropped_attributes_count: uint32(
                            so,
                            "droppedAttributesCount",
                            "dropped_attributes_count",
                            &p,
                        )?,
                    })
                }
            };
            let spans = array(sso, "spans", "spans", &sp)?
                .iter()
                .enumerate()
                .map(|(k, s)| span(s, &format!("{sp}.spans[{k}]")))
                .collect::<R<_>>()?;
            scope_spans.push(pb::ScopeSpans {
                scope,
                spans,
                schema_url: string(sso, "schemaUrl", "schema_url", &sp)?,
            });
        }
        resource_spans.push(pb::ResourceSpans {
            resource,
            scope_spans,
            schema_url: string(rso, "schemaUrl", "schema_url", &rp)?,
        });
    }
    Ok(ExportTraceServiceRequest { resource_spans })
}

// ---- encoding (model -> OTLP/JSON) ----

fn value_json(v: &AnyValue) -> Value {
    let mut m = Map::new();
    match v {
        AnyValue::Empty => {}
        AnyValue::String(s) => {
            m.insert("stringValue".into(), Value::String(s.to_string()));
        }
        AnyValue::Bool(b) => {
            m.insert("boolValue".into(), Value::Bool(*b));
        }
        AnyValue::Int(i) => {
            m.insert("intValue".into(), Value::String(i.to_string()));
        }
        AnyValue::Double(d) => {
            let j = if d.is_nan() {
                Value::String("NaN".into())
            } else if d.is_infinite() {
                Value::String(if *d > 0.0 { "Infinity" } else { "-Infinity" }.into())
            } else {
                serde_json::Number::from_f64(*d)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            };
            m.insert("doubleValue".into(), j);
        }
        AnyValue::Bytes(b) => {
            m.insert(
                "bytesValue".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
        AnyValue::Array(a) => {
            m.insert(
                "arrayValue".into(),
                serde_json::json!({"values": a.iter().map(value_json).collect::<Vec<_>>()}),
            );
        }
        AnyValue::KvList(kvs) => {
            m.insert(
                "kvlistValue".into(),
                serde_json::json!({"values": attrs_json(kvs)}),
            );
        }
    }
    Value::Object(m)
}

fn attrs_json(a: &[KeyValue]) -> Vec<Value> {
    a.iter()
        .map(|kv| {
            let mut m = Map::new();
            m.insert("key".into(), Value::String(kv.key.to_string()));
            if kv.value != AnyValue::Empty {
                m.insert("value".into(), value_json(&kv.value));
            }
            Value::Object(m)
        })
        .collect()
}

/// Inserts only non-default values, as proto3 JSON does.
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Obj {
        Obj(Map::new())
    }
    fn str(mut self, k: &str, v: &str) -> Obj {
        if !v.is_empty() {
            self.0.insert(k.into(), Value::String(v.to_string()));
        }
        self
    }
    fn u64s(mut self, k: &str, v: u64) -> Obj {
        if v != 0 {
            self.0.insert(k.into(), Value::String(v.to_string()));
        }
        self
    }
    fn num(mut self, k: &str, v: i64) -> Obj {
        if v != 0 {
            self.0.insert(k.into(), Value::from(v));
        }
        self
    }
    fn attrs(mut self, k: &str, a: &[KeyValue]) -> Obj {
        if !a.is_empty() {
            self.0.insert(k.into(), Value::Array(attrs_json(a)));
        }
        self
    }
    fn val(mut self, k: &str, v: Value) -> Obj {
        let empty = match &v {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            self.0.insert(k.into(), v);
        }
        self
    }
    /// A message field that is set: emitted even when empty.
    fn msg(mut self, k: &str, v: Value) -> Obj {
        self.0.insert(k.into(), v);
        self
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn span_json(s: &Span) -> Value {
    Obj::new()
        .str("traceId", &s.trace_id.to_hex())
        .str("spanId", &s.span_id.to_hex())
        .str("traceState", &s.trace_state)
        .str(
            "parentSpanId",
            &s.parent_span_id.map(|p| p.to_hex()).unwrap_or_default(),
        )
        .num("flags", s.flags as i64)
        .str("name", &s.name)
        .num("kind", s.kind as i64)
        .u64s("startTimeUnixNano", s.start_time_unix_nano)
        .u64s("endTimeUnixNano", s.end_time_unix_nano)
        .attrs("attributes", &s.attributes)
        .num("droppedAttributesCount", s.dropped_attributes_count as i64)
        .val(
            "events",
            Value::Array(
                s.events
                    .iter()
                    .map(|e| {
                        Obj::new()
                            .u64s("timeUnixNano", e.time_unix_nano)
                            .str("name", &e.name)
                            .attrs("attributes", &e.attributes)
                            .num("droppedAttributesCount", e.dropped_attributes_count as i64)
                            .done()
                    })
                    .collect(),
            ),
        )
        .num("droppedEventsCount", s.dropped_events_count as i64)
        .val(
            "links",
            Value::Array(
                s.links
                    .iter()
                    .map(|l| {
                        Obj::new()
                            .str("traceId", &l.trace_id.to_hex())
                            .str("spanId", &l.span_id.to_hex())
                            .str("traceState", &l.trace_state)
                            .attrs("attributes", &l.attributes)
                            .num("droppedAttributesCount", l.dropped_attributes_count as i64)
                            .num("flags", l.flags as i64)
                            .done()
                    })
                    .collect(),
            ),
        )
        .num("droppedLinksCount", s.dropped_links_count as i64)
        .val(
            "status",
            Obj::new()
                .str("message", &s.status.message)
                .num("code", s.status.code as i64)
                .done(),
        )
        .done()
}

/// `{"resourceSpans":[...]}`: OTLP/JSON `TracesData` (the same shape as an export request).
pub fn encode_traces_data_value(b: &Batch) -> Value {
    let rs: Vec<Value> = b
        .resource_spans
        .iter()
        .map(|rs| {
            Obj::new()
                .msg(
                    "resource",
                    Obj::new()
                        .attrs("attributes", &rs.resource.attributes)
                        .num(
                            "droppedAttributesCount",
                            rs.resource.dropped_attributes_count as i64,
                        )
                        .done(),
                )
                .val(
                    "scopeSpans",
                    Value::Array(
                        rs.scope_spans
                            .iter()
                            .map(|ss| {
                                Obj::new()
                                    .msg(
                                        "scope",
                                        Obj::new()
                                            .str("name", &ss.scope.name)
                                            .str("version", &ss.scope.version)
                                            .attrs("attributes", &ss.scope.attributes)
                                            .num(
                                                "droppedAttributesCount",
                                                ss.scope.dropped_attributes_count as i64,
                                            )
                                            .done(),
                                    )
                                    .val(
                                        "spans",
                                        Value::Array(ss.spans.iter().map(span_json).collect()),
                                    )
                                    .str("schemaUrl", &ss.scope.schema_url)
                                    .done()
                            })
                            .collect(),
                    ),
                )
                .str("schemaUrl", &rs.resource.schema_url)
                .done()
        })
        .collect();
    serde_json::json!({ "resourceSpans": rs })
}

/// `{"resourceSpans":[...]}` as bytes, written straight into the buffer (no JSON value tree:
/// a trace of 100,000 spans encodes in a fraction of the time). The bytes are exactly those of
/// `serde_json::to_vec(&encode_traces_data_value(b))`: the same fields, omitted by the same
/// proto3 rules, keys in the same (sorted) order.
pub fn encode_traces_data(b: &Batch) -> Vec<u8> {
    let mut w = JsonWriter {
        out: Vec::with_capacity(256 + b.span_count() * 512),
    };
    w.out.extend_from_slice(b"{\"resourceSpans\":[");
    for (i, rs) in b.resource_spans.iter().enumerate() {
        w.comma(i);
        let mut o = w.object();
        o.key("resource");
        {
            let mut r = o.w.object();
            r.attrs("attributes", &rs.resource.attributes);
            r.num(
                "droppedAttributesCount",
                i64::from(rs.resource.dropped_attributes_count),
            );
            r.end();
        }
        o.str("schemaUrl", &rs.resource.schema_url);
        if !rs.scope_spans.is_empty() {
            o.key("scopeSpans");
            o.w.out.push(b'[');
            for (j, ss) in rs.scope_spans.iter().enumerate() {
                o.w.comma(j);
                let mut so = o.w.object();
                so.str("schemaUrl", &ss.scope.schema_url);
                so.key("scope");
                {
                    let mut sc = so.w.object();
                    sc.attrs("attributes", &ss.scope.attributes);
                    sc.num(
                        "droppedAttributesCount",
                        i64::from(ss.scope.dropped_attributes_count),
                    );
                    sc.str("name", &ss.scope.name);
                    sc.str("version", &ss.scope.version);
                    sc.end();
                }
                if !ss.spans.is_empty() {
                    so.key("spans");
                    so.w.out.push(b'[');
                    for (k, span) in ss.spans.iter().enumerate() {
                        so.w.comma(k);
                        so.w.span(span);
                    }
                    so.w.out.push(b']');
                }
                so.end();
            }
            o.w.out.push(b']');
        }
        o.end();
    }
    w.out.extend_from_slice(b"]}");
    w.out
}

struct JsonWriter {
    out: Vec<u8>,
}

/// An object being written: tracks whether a field was written (for commas).
struct ObjWriter<'a> {
    w: &'a mut JsonWriter,
    first: bool,
}

impl JsonWriter {
    fn comma(&mut self, i: usize) {
        if i > 0 {
            self.out.push(b',');
        }
    }
    fn object(&mut self) -> ObjWriter<'_> {
        self.out.push(b'{');
        ObjWriter {
            w: self,
            first: true,
        }
    }
    fn string(&mut self, s: &str) {
        serde_json::to_writer(&mut self.out, s).expect("writing to a Vec cannot fail");
    }
    fn hex(&mut self, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.push(b'"');
        for b in bytes {
            self.out.push(HEX[(b >> 4) as usize]);
            self.out.push(HEX[(b & 15) as usize]);
        }
        self.out.push(b'"');
    }
    fn value(&mut self, v: &AnyValue) {
        use std::io::Write;
        let mut o = self.object();
        match v {
            AnyValue::Empty => {}
            AnyValue::Bool(b) => {
                o.key("boolValue");
                o.w.out
                    .extend_from_slice(if *b { b"true" } else { b"false" });
            }
            AnyValue::Bytes(b) => {
                o.key("bytesValue");
                o.w.string(&base64::engine::general_purpose::STANDARD.encode(b));
            }
            AnyValue::Double(d) => {
                o.key("doubleValue");
                if d.is_nan() {
                    o.w.out.extend_from_slice(b"\"NaN\"");
                } else if d.is_infinite() {
                    o.w.out.extend_from_slice(if *d > 0.0 {
                        b"\"Infinity\""
                    } else {
                        b"\"-Infinity\""
                    });
                } else {
                    serde_json::to_writer(&mut o.w.out, d).expect("a finite double serializes");
                }
            }
            AnyValue::Int(i) => {
                o.key("intValue");
                let _ = write!(o.w.out, "\"{i}\"");
            }
            AnyValue::String(s) => {
                o.key("stringValue");
                o.w.string(s);
            }
            AnyValue::Array(a) => {
                o.key("arrayValue");
                o.w.out.extend_from_slice(b"{\"values\":[");
                for (i, x) in a.iter().enumerate() {
                    o.w.comma(i);
                    o.w.value(x);
                }
                o.w.out.extend_from_slice(b"]}");
            }
            AnyValue::KvList(kvs) => {
                o.key("kvlistValue");
                o.w.out.extend_from_slice(b"{\"values\":");
                o.w.attr_list(kvs);
                o.w.out.push(b'}');
            }
        }
        o.end();
    }
    fn attr_list(&mut self, a: &[KeyValue]) {
        self.out.push(b'[');
        for (i, kv) in a.iter().enumerate() {
            self.comma(i);
            let mut o = self.object();
            o.str_always("key", &kv.key);
            if kv.value != AnyValue::Empty {
                o.key("value");
                o.w.value(&kv.value);
            }
            o.end();
        }
        self.out.push(b']');
    }
    fn span(&mut self, s: &Span) {
        let mut o = self.object();
        o.attrs("attributes", &s.attributes);
        o.num(
            "droppedAttributesCount",
            i64::from(s.dropped_attributes_count),
        );
        o.num("droppedEventsCount", i64::from(s.dropped_events_count));
        o.num("droppedLinksCount", i64::from(s.dropped_links_count));
        o.u64s("endTimeUnixNano", s.end_time_unix_nano);
        if !s.events.is_empty() {
            o.key("events");
            o.w.out.push(b'[');
            for (i, e) in s.events.iter().enumerate() {
                o.w.comma(i);
                let mut eo = o.w.object();
                eo.attrs("attributes", &e.attributes);
                eo.num(
                    "droppedAttributesCount",
                    i64::from(e.dropped_attributes_count),
                );
                eo.str("name", &e.name);
                eo.u64s("timeUnixNano", e.time_unix_nano);
                eo.end();
            }
            o.w.out.push(b']');
        }
        o.num("flags", i64::from(s.flags));
        o.num("kind", s.kind as i64);
        if !s.links.is_empty() {
            o.key("links");
            o.w.out.push(b'[');
            for (i, l) in s.links.iter().enumerate() {
                o.w.comma(i);
                let mut lo = o.w.object();
                lo.attrs("attributes", &l.attributes);
                lo.num(
                    "droppedAttributesCount",
                    i64::from(l.dropped_attributes_count),
                );
                lo.num("flags", i64::from(l.flags));
                lo.key("spanId");
                lo.w.hex(&l.span_id.0);
                lo.key("traceId");
                lo.w.hex(&l.trace_id.0);
                lo.str("traceState", &l.trace_state);
                lo.end();
            }
            o.w.out.push(b']');
        }
        o.str("name", &s.name);
        if let Some(p) = s.parent_span_id {
            o.key("parentSpanId");
            o.w.hex(&p.0);
        }
        o.key("spanId");
        o.w.hex(&s.span_id.0);
        o.u64s("startTimeUnixNano", s.start_time_unix_nano);
        if s.status.code as i64 != 0 || !s.status.message.is_empty() {
            o.key("status");
            let mut so = o.w.object();
            so.num("code", s.status.code as i64);
            so.str("message", &s.status.message);
            so.end();
        }
        o.key("traceId");
        o.w.hex(&s.trace_id.0);
        o.str("traceState", &s.trace_state);
        o.end();
    }
}

impl ObjWriter<'_> {
    fn key(&mut self, k: &str) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
        self.w.out.push(b'"');
        self.w.out.extend_from_slice(k.as_bytes());
        self.w.out.extend_from_slice(b"\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.str_always(k, v);
        }
    }
    fn str_always(&mut self, k: &str, v: &str) {
        self.key(k);
        self.w.string(v);
    }
    fn u64s(&mut self, k: &str, v: u64) {
        use std::io::Write;
        if v != 0 {
            self.key(k);
            let _ = write!(self.w.out, "\"{v}\"");
        }
    }
    fn num(&mut self, k: &str, v: i64) {
        use std::io::Write;
        if v != 0 {
            self.key(k);
            let _ = write!(self.w.out, "{v}");
        }
    }
    fn attrs(&mut self, k: &str, a: &[KeyValue]) {
        if !a.is_empty() {
            self.key(k);
            self.w.attr_list(a);
        }
    }
    fn end(self) {
        self.w.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp;

    /// Decodes one attribute value (`{"stringValue": ...}`) and converts it to the model.
    fn check_value(input: &str, expect: Result<AnyValue, (&str, &str)>) {
        let doc = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"k","value":{input}}}]}}}}]}}"#
        );
        let got = decode_request(doc.as_bytes()).map(|req| {
            let r = req.resource_spans[0].resource.clone().unwrap_or_default();
            otlp::resource_from_proto(r, String::new()).attributes[0]
                .value
                .clone()
        });
        match (got, expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(e), Err((path, message))) => {
                assert_eq!(
                    e.path,
                    format!("resourceSpans[0].resource.attributes[0].value{path}"),
                    "{input}: {e}"
                );
                assert!(e.message.contains(message), "{input}: {e}");
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    /// Decodes a whole document, expecting an error at `path` whose message contains `message`.
    fn check_err(doc: &str, path: &str, message: &str) {
        match decode_request(doc.as_bytes()) {
            Ok(req) => panic!("{doc}: decoded to {req:?}, want an error at {path}"),
            Err(e) => {
                assert_eq!(e.path, path, "{doc}: {e}");
                assert!(e.message.contains(message), "{doc}: {e}");
                assert_eq!(e.to_string(), format!("{path}: {}", e.message));
            }
        }
    }

    /// A document with one span whose fields are `fields` (JSON object members).
    fn span_doc(fields: &str) -> String {
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{fields}}}]}}]}}]}}"#)
    }

    const SPAN: &str = "resourceSpans[0].scopeSpans[0].spans[0]";

    /// Decodes a one-span document and returns the protobuf span.
    fn one_span(fields: &str) -> pb::Span {
        let mut req = decode_request(span_doc(fields).as_bytes()).expect(fields);
        req.resource_spans
            .remove(0)
            .scope_spans
            .remove(0)
            .spans
            .remove(0)
    }

    #[test]
    fn strings_and_bools() {
        check_value(
            r#"{"stringValue":"héllo \"x\""}"#,
            Ok(AnyValue::String("héllo \"x\"".into())),
        );
        check_value(
            r#"{"stringValue":""}"#,
            Ok(AnyValue::String(weft_model::CompactString::default())),
        );
        check_value(
            r#"{"string_value":"snake"}"#,
            Ok(AnyValue::String("snake".into())),
        );
        check_value(r#"{"boolValue":true}"#, Ok(AnyValue::Bool(true)));
        check_value(r#"{"boolValue":false}"#, Ok(AnyValue::Bool(false)));
        check_value(
            r#"{"stringValue":5}"#,
            Err((".stringValue", "expected a string, got a number")),
        );
        check_value(
            r#"{"boolValue":"true"}"#,
            Err((".boolValue", "expected a boolean, got a string")),
        );
    }

    #[test]
    fn ints() {
        check_value(r#"{"intValue":"42"}"#, Ok(AnyValue::Int(42)));
        check_value(r#"{"intValue":42}"#, Ok(AnyValue::Int(42)));
        check_value(r#"{"intValue":"-7"}"#, Ok(AnyValue::Int(-7)));
        check_value(r#"{"intValue":1e3}"#, Ok(AnyValue::Int(1000)));
        check_value(
            r#"{"intValue":"9223372036854775807"}"#,
            Ok(AnyValue::Int(i64::MAX)),
        );
        check_value(
            r#"{"intValue":-9223372036854775808}"#,
            Ok(AnyValue::Int(i64::MIN)),
        );
        check_value(r#"{"int_value":"3"}"#, Ok(AnyValue::Int(3)));
        check_value(
            r#"{"intValue":"9223372036854775808"}"#,
            Err((".intValue", "out of range for int64")),
        );
        check_value(
            r#"{"intValue":18446744073709551616}"#,
            Err((".intValue", "out of range for int64")),
        );
        check_value(
            r#"{"intValue":"1.5"}"#,
            Err((".intValue", r#"expected an integer, got "1.5""#)),
        );
        check_value(
            r#"{"intValue":1.5}"#,
            Err((".intValue", "expected an integer, got 1.5")),
        );
        check_value(
            r#"{"intValue":true}"#,
            Err((".intValue", "expected an integer, got a boolean")),
        );
    }

    #[test]
    fn doubles() {
        check_value(r#"{"doubleValue":1.5}"#, Ok(AnyValue::Double(1.5)));
        check_value(r#"{"doubleValue":2}"#, Ok(AnyValue::Double(2.0)));
        check_value(r#"{"doubleValue":"-0.25"}"#, Ok(AnyValue::Double(-0.25)));
        check_value(
            r#"{"doubleValue":"Infinity"}"#,
            Ok(AnyValue::Double(f64::INFINITY)),
        );
        check_value(
            r#"{"doubleValue":"-Infinity"}"#,
            Ok(AnyValue::Double(f64::NEG_INFINITY)),
        );
        check_value(r#"{"double_value":1e-300}"#, Ok(AnyValue::Double(1e-300)));
        check_value(
            r#"{"doubleValue":"nan"}"#,
            Err((".doubleValue", "expected a number")),
        );
        check_value(
            r#"{"doubleValue":"inf"}"#,
            Err((".doubleValue", "expected a number")),
        );
        check_value(
            r#"{"doubleValue":"1e400"}"#,
            Err((".doubleValue", "expected a number")),
        );
        check_value(
            r#"{"doubleValue":"x"}"#,
            Err((".doubleValue", "expected a number")),
        );
        check_value(
            r#"{"doubleValue":[]}"#,
            Err((".doubleValue", "expected a number, got an array")),
        );
        // NaN cannot be compared with ==
        let s = one_span(r#""attributes":[{"key":"k","value":{"doubleValue":"NaN"}}]"#);
        let v = otlp::attributes_from_proto(s.attributes);
        assert!(
            matches!(v[0].value, AnyValue::Double(d) if d.is_nan()),
            "{v:?}"
        );
    }

    #[test]
    fn bytes() {
        let b = |v: &[u8]| Ok(AnyValue::Bytes(v.to_vec()));
        check_value(r#"{"bytesValue":"AAEC/w=="}"#, b(&[0, 1, 2, 255]));
        check_value(r#"{"bytesValue":"AAEC/w"}"#, b(&[0, 1, 2, 255]));
        check_value(r#"{"bytesValue":"AAEC_w"}"#, b(&[0, 1, 2, 255]));
        check_value(r#"{"bytesValue":"aGk="}"#, b(b"hi"));
        check_value(r#"{"bytesValue":""}"#, b(&[]));
        check_value(r#"{"bytes_value":"aGk"}"#, b(b"hi"));
        check_value(
            r#"{"bytesValue":"!!!!"}"#,
            Err((".bytesValue", "not base64")),
        );
        check_value(r#"{"bytesValue":"a"}"#, Err((".bytesValue", "not base64")));
        check_value(
            r#"{"bytesValue":12}"#,
            Err((".bytesValue", "expected a base64 string, got a number")),
        );
    }

    #[test]
    fn arrays_kvlists_and_empty() {
        check_value(r#"{}"#, Ok(AnyValue::Empty));
        check_value(r#"null"#, Ok(AnyValue::Empty));
        check_value(r#"{"stringValue":null}"#, Ok(AnyValue::Empty));
        check_value(r#"{"someFutureValue":1}"#, Ok(AnyValue::Empty));
        check_value(
            r#"{"arrayValue":{"values":[{"intValue":"1"},{},{"arrayValue":{"values":[{"boolValue":false}]}}]}}"#,
            Ok(AnyValue::Array(vec![
                AnyValue::Int(1),
                AnyValue::Empty,
                AnyValue::Array(vec![AnyValue::Bool(false)]),
            ])),
        );
        check_value(r#"{"arrayValue":{}}"#, Ok(AnyValue::Array(vec![])));
        check_value(
            r#"{"kvlist_value":{"values":[{"key":"a","value":{"kvlistValue":{"values":[{"key":"b"}]}}}]}}"#,
            Ok(AnyValue::KvList(vec![KeyValue::new(
                "a",
                AnyValue::KvList(vec![KeyValue::new("b", AnyValue::Empty)]),
            )])),
        );
        check_value(
            r#"{"arrayValue":[]}"#,
            Err((".arrayValue", "expected an object, got an array")),
        );
        check_value(
            r#"{"arrayValue":{"values":{}}}"#,
            Err((".arrayValue.values", "expected an array")),
        );
        check_value(
            r#"{"arrayValue":{"values":[{},{"intValue":"x"}]}}"#,
            Err((".arrayValue.values[1].intValue", "expected an integer")),
        );
        check_value(
            r#"{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":1}}]}}"#,
            Err((
                ".kvlistValue.values[0].value.boolValue",
                "expected a boolean",
            )),
        );
        check_value(r#""text""#, Err(("", "expected an object, got a string")));
    }

    #[test]
    fn syntax_and_shape_errors() {
        check_err("", "$", "not valid JSON");
        check_err("{", "$", "line 1 column 1");
        check_err("{\n\"resourceSpans\": [}", "$", "line 2 column");
        check_err("[]", "$", "expected an object, got an array");
        check_err(
            r#"{"resourceSpans":{}}"#,
            "resourceSpans",
            "expected an array, got an object",
        );
        check_err(
            r#"{"resource_spans":5}"#,
            "resourceSpans",
            "expected an array, got a number",
        );
        check_err(
            r#"{"resourceSpans":[1]}"#,
            "resourceSpans[0]",
            "expected an object",
        );
        check_err(
            r#"{"resourceSpans":[{"resource":[]}]}"#,
            "resourceSpans[0].resource",
            "expected an object",
        );
        check_err(
            r#"{"resourceSpans":[{"resource":{"droppedAttributesCount":-1}}]}"#,
            "resourceSpans[0].resource.droppedAttributesCount",
            "-1 is out of range for uint32",
        );
        check_err(
            r#"{"resourceSpans":[{"schemaUrl":1}]}"#,
            "resourceSpans[0].schemaUrl",
            "expected a string",
        );
        check_err(
            r#"{"resourceSpans":[{"scopeSpans":[{"scope":{"name":false}}]}]}"#,
            "resourceSpans[0].scopeSpans[0].scope.name",
            "expected a string, got a boolean",
        );
        check_err(
            &span_doc(r#""events":[{"timeUnixNano":"-1"}]"#),
            &format!("{SPAN}.events[0].timeUnixNano"),
            "out of range for uint64",
        );
        check_err(
            &span_doc(r#""links":[{"spanId":"xyz0"}]"#),
            &format!("{SPAN}.links[0].spanId"),
            "expected 16 hex characters",
        );
        check_err(
            &span_doc(r#""status":{"code":"STATUS_CODE_BAD"}"#),
            &format!("{SPAN}.status.code"),
            "unknown value \"STATUS_CODE_BAD\"",
        );
        check_err(
            &span_doc(r#""status":"error""#),
            &format!("{SPAN}.status"),
            "expected an object",
        );
        check_err(
            &span_doc(r#""kind":4294967296"#),
            &format!("{SPAN}.kind"),
            "out of range",
        );
        check_err(
            &span_doc(r#""flags":4294967296"#),
            &format!("{SPAN}.flags"),
            "out of range for uint32",
        );
        check_err(
            &span_doc(r#""attributes":[{"key":1}]"#),
            &format!("{SPAN}.attributes[0].key"),
            "expected a string",
        );
    }

    #[test]
    fn ids() {
        // the brief's example, exactly
        check_err(
            &span_doc(r#""traceId":"0102030405060708090a0b0c0d0e0f1""#),
            &format!("{SPAN}.traceId"),
            "expected 32 hex characters, got 31",
        );
        check_err(
            &span_doc(r#""spanId":"01020304050607g8""#),
            &format!("{SPAN}.spanId"),
            "expected 16 hex characters, got \"01020304050607g8\"",
        );
        check_err(
            &span_doc(r#""parent_span_id":"zz""#),
            &format!("{SPAN}.parentSpanId"),
            "expected 16 hex characters",
        );
        check_err(
            &span_doc(r#""traceId":16"#),
            &format!("{SPAN}.traceId"),
            "expected a string, got a number",
        );
        // case-insensitive; empty and null are absent
        let s = one_span(
            r#""traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"abCDef0102030405","parentSpanId":"""#,
        );
        assert_eq!(s.trace_id, (1..=16).collect::<Vec<u8>>());
        assert_eq!(s.span_id, [0xab, 0xcd, 0xef, 1, 2, 3, 4, 5]);
        assert!(s.parent_span_id.is_empty());
        assert!(one_span(r#""parentSpanId":null"#).parent_span_id.is_empty());
        // valid hex of the wrong length or all zeros passes through for partial success
        assert_eq!(one_span(r#""traceId":"0102""#).trace_id, [1, 2]);
        assert_eq!(one_span(r#""spanId":"0000000000000000""#).span_id, [0; 8]);
    }

    #[test]
    fn integers_enums_and_names() {
        let s = one_span(
            r#""startTimeUnixNano":"18446744073709551615","end_time_unix_nano":1544712661000000000,
               "flags":"257","kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_OK"},
               "droppedAttributesCount":3,"dropped_events_count":"4","droppedLinksCount":null,
               "events":[{"time_unix_nano":"5","name":"e","dropped_attributes_count":6}],
               "links":[{"trace_state":"a=b","flags":7,"droppedAttributesCount":8}],
               "trace_state":"k=v","name":"n","someNewField":{"nested":[1,2,3]}"#,
        );
        assert_eq!(s.start_time_unix_nano, u64::MAX);
        assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(
            (s.flags, s.kind, s.status.as_ref().map(|st| st.code)),
            (257, 5, Some(1))
        );
        assert_eq!(
            (
                s.dropped_attributes_count,
                s.dropped_events_count,
                s.dropped_links_count
            ),
            (3, 4, 0)
        );
        assert_eq!(
            (
                s.events[0].time_unix_nano,
                s.events[0].name.as_str(),
                s.events[0].dropped_attributes_count
            ),
            (5, "e", 6)
        );
        assert_eq!(
            (
                s.links[0].trace_state.as_str(),
                s.links[0].flags,
                s.links[0].dropped_attributes_count
            ),
            ("a=b", 7, 8)
        );
        assert_eq!((s.trace_state.as_str(), s.name.as_str()), ("k=v", "n"));
        // numbers and numeric strings for enums; unknown numbers pass through (the span is
        // then rejected with partial success)
        assert_eq!(one_span(r#""kind":2"#).kind, 2);
        assert_eq!(one_span(r#""kind":"3""#).kind, 3);
        assert_eq!(one_span(r#""kind":9"#).kind, 9);
        assert_eq!(
            one_span(r#""status":{"code":2}"#).status.map(|s| s.code),
            Some(2)
        );
        assert_eq!(
            one_span(r#""status":{}"#).status,
            Some(pb::Status::default())
        );
        assert_eq!(one_span("").status, None);
        // camelCase wins when both spellings are present; a null spelling is absent
        assert_eq!(
            one_span(r#""traceState":"c","trace_state":"s""#).trace_state,
            "c"
        );
        assert_eq!(
            one_span(r#""traceState":null,"trace_state":"s""#).trace_state,
            "s"
        );
        assert_eq!(
            one_span(r#""trace_state":null,"traceState":"c""#).trace_state,
            "c"
        );
    }

    #[test]
    fn empty_documents() {
        assert_eq!(
            decode_request(b"{}").unwrap(),
            ExportTraceServiceRequest::default()
        );
        assert_eq!(
            decode_request(br#"{"resourceSpans":null}"#).unwrap(),
            ExportTraceServiceRequest::default()
        );
        assert_eq!(
            decode_request(br#"{"resourceSpans":[]}"#).unwrap(),
            ExportTraceServiceRequest::default()
        );
    }
}
