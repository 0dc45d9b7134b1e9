//! OTLP/JSON, as the OTLP specification defines it ("JSON Protobuf Encoding"):
//! lowerCamelCase field names (the proto's snake_case names are accepted too), trace and span
//! ids as hex strings, 64-bit integers as strings (numbers accepted), enums as numbers (names
//! accepted), bytes as base64, unknown fields ignored, default values omitted on output.
//!
//! Decoding produces the same protobuf structs the protobuf decoder does, so both encodings
//! share one validation path (`otlp::batch_from_request`). A malformed document is an error
//! naming the JSON path; hex ids of the wrong length pass through as bytes so that the span is
//! rejected with OTLP partial success, as it would be over protobuf.

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

/// Looks a field up by its JSON (camelCase) or proto (snake_case) name; `null` is absent.
fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| if snake != camel { o.get(snake) } else { None })
        .filter(|v| !v.is_null())
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
            &format!("{path}.{camel}"),
            format!("expected an array, got {}", kind(v)),
        ),
    }
}

fn string(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => err(
            &format!("{path}.{camel}"),
            format!("expected a string, got {}", kind(v)),
        ),
    }
}

fn int_of(v: &Value, path: &str) -> R<i128> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i as i128)
            } else if let Some(u) = n.as_u64() {
                Ok(u as i128)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => Ok(f as i128),
                    _ => err(path, format!("expected an integer, got {n}")),
                }
            }
        }
        Value::String(s) => s
            .trim()
            .parse::<i128>()
            .or_else(|_| err(path, format!("expected an integer, got {s:?}"))),
        v => err(path, format!("expected an integer, got {}", kind(v))),
    }
}

fn uint64(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<u64> {
    let p = format!("{path}.{camel}");
    match field(o, camel, snake) {
        None => Ok(0),
        Some(v) => {
            let i = int_of(v, &p)?;
            u64::try_from(i).or_else(|_| err(&p, format!("{i} is out of range for uint64")))
        }
    }
}

fn uint32(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<u32> {
    let p = format!("{path}.{camel}");
    match field(o, camel, snake) {
        None => Ok(0),
        Some(v) => {
            let i = int_of(v, &p)?;
            u32::try_from(i).or_else(|_| err(&p, format!("{i} is out of range for uint32")))
        }
    }
}

fn enumeration(o: &Map<String, Value>, camel: &str, path: &str, names: &[&str]) -> R<i32> {
    let p = format!("{path}.{camel}");
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

/// A hex id: empty is absent; bad hex is a malformed document; a wrong length passes through
/// (the span is then rejected with partial success, as over protobuf).
fn id(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<Vec<u8>> {
    let s = string(o, camel, snake, path)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.len() % 2 != 0 {
        return err(
            &format!("{path}.{camel}"),
            format!(
                "expected an even number of hex characters, got {} ({s:?})",
                s.len()
            ),
        );
    }
    hex::decode(&s).or_else(|_| {
        err(
            &format!("{path}.{camel}"),
            format!("not a hex string: {s:?}"),
        )
    })
}

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
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                s => s
                    .parse()
                    .or_else(|_| err(&p, format!("expected a number, got {s:?}")))?,
            },
            v => return err(&p, format!("expected a number, got {}", kind(v))),
        }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let p = format!("{path}.bytesValue");
        let s = b
            .as_str()
            .map_or_else(|| err(&p, "expected a base64 string"), Ok)?;
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
            let p = format!("{path}.{camel}[{i}]");
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
                trace_id: id(lo, "traceId", "trace_id", &p)?,
                span_id: id(lo, "spanId", "span_id", &p)?,
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
        trace_id: id(o, "traceId", "trace_id", path)?,
        span_id: id(o, "spanId", "span_id", path)?,
        trace_state: string(o, "traceState", "trace_state", path)?,
        parent_span_id: id(o, "parentSpanId", "parent_span_id", path)?,
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
            m.insert("stringValue".into(), Value::String(s.clone()));
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
            m.insert("key".into(), Value::String(kv.key.clone()));
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

pub fn encode_traces_data(b: &Batch) -> Vec<u8> {
    serde_json::to_vec(&encode_traces_data_value(b)).expect("a JSON value serializes")
}
