//! OTLP protobuf straight into weft's model, in one pass.
//!
//! [`decode_batch`] reads an `ExportTraceServiceRequest` from the wire format into
//! [`weft_model::Batch`] without building opentelemetry-proto's generated structs first (a
//! `Vec<KeyValue>` per span, boxed `AnyValue` oneofs, ...). It is exactly
//! `batch_from_request(decode_request(bytes)?)`: the same batch, the same [`Rejected`], and an
//! error for every input prost refuses. That means following prost's decoding rules to the
//! letter: unknown fields of any wire type are skipped (groups included, nested as deep as
//! prost allows), the last occurrence of a singular field wins, repeated messages append, an
//! embedded message that occurs twice is merged into the first (so are the `arrayValue` and
//! `kvlistValue` of one `AnyValue`), a string must be UTF-8, enums are int32 truncations of the
//! varint, and messages may nest at most 100 deep (prost's recursion limit, counted the same
//! way). A wrong wire type on a known field, a length past the end of its message, a truncated
//! value or an end-group tag without its start is an error naming the field, e.g.
//! `resourceSpans[0].scopeSpans[1].spans[3].name: invalid UTF-8 in a string field`.

use super::Rejected;
use crate::DecodeError;
use prost::encoding::{decode_varint, WireType};
use std::fmt;
use std::sync::Arc;
use weft_model::{
    AnyValue, Batch, CompactString, Event, KeyValue, Link, Resource, ResourceSpans, Scope,
    ScopeSpans, Span, SpanId, SpanKind, StatusCode, TraceId,
};

/// prost's `RECURSION_LIMIT`: how many messages deep a request may nest.
const RECURSION_LIMIT: u32 = 100;

/// Decodes an OTLP protobuf `ExportTraceServiceRequest` into the model, validating spans as
/// [`batch_from_request`](super::batch_from_request) does (invalid ones are left out and
/// counted in [`Rejected`]); the same result as `batch_from_request(decode_request(bytes)?)`
/// without the intermediate structs.
pub fn decode_batch(bytes: &[u8]) -> Result<(Batch, Rejected), DecodeError> {
    let mut rejected = Rejected::default();
    let mut out = Vec::new();
    request(bytes, &mut out, &mut rejected).map_err(|e| DecodeError {
        message: format!("not a valid OTLP protobuf ExportTraceServiceRequest: {e}"),
    })?;
    rejected.finish();
    Ok((
        Batch {
            resource_spans: out,
        },
        rejected,
    ))
}

fn request(
    mut buf: &[u8],
    out: &mut Vec<ResourceSpans>,
    rejected: &mut Rejected,
) -> Result<(), Fail> {
    let ctx = RECURSION_LIMIT;
    let mut ri = 0;
    while !buf.is_empty() {
        let (tag, wt) = key(&mut buf)?;
        match tag {
            1 => {
                let rs = resource_spans(&mut buf, wt, ctx, ri, rejected)
                    .map_err(|e| e.item("resourceSpans", ri))?;
                out.extend(rs);
                ri += 1;
            }
            _ => skip(&mut buf, wt, tag, ctx)?,
        }
    }
    Ok(())
}

fn resource_spans(
    buf: &mut &[u8],
    wt: WireType,
    ctx: u32,
    ri: usize,
    rejected: &mut Rejected,
) -> Result<Option<ResourceSpans>, Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    let mut resource = Resource::default();
    let mut schema_url = String::new();
    let mut scope_spans = Vec::new();
    let mut si = 0;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => merge_resource(&mut m, wt, ctx, &mut resource).map_err(|e| e.at("resource"))?,
            2 => {
                let ss = self::scope_spans(&mut m, wt, ctx, ri, si, rejected)
                    .map_err(|e| e.item("scopeSpans", si))?;
                scope_spans.extend(ss);
                si += 1;
            }
            3 => schema_url = string(&mut m, wt, "schemaUrl")?,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    if scope_spans.is_empty() {
        return Ok(None);
    }
    resource.schema_url = schema_url;
    Ok(Some(ResourceSpans {
        resource: Arc::new(resource),
        scope_spans,
    }))
}

/// Merges one `Resource` message into `r` (prost merges an embedded message that occurs twice).
fn merge_resource(buf: &mut &[u8], wt: WireType, ctx: u32, r: &mut Resource) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => {
                if r.attributes.capacity() == 0 {
                    r.attributes.reserve_exact(count_with_first(m, 1));
                }
                let kv = key_value(&mut m, wt, ctx)
                    .map_err(|e| e.item("attributes", r.attributes.len()))?;
                r.attributes.push(kv);
            }
            2 => r.dropped_attributes_count = varint(&mut m, wt, "droppedAttributesCount")? as u32,
            // the model keeps no entity refs, but prost checks them: so do we
            3 => entity_ref(&mut m, wt, ctx).map_err(|e| e.at("entityRefs"))?,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

/// Checks one `EntityRef` message (all strings), keeping nothing.
fn entity_ref(buf: &mut &[u8], wt: WireType, ctx: u32) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => {
                str(&mut m, wt, "schemaUrl")?;
            }
            2 => {
                str(&mut m, wt, "type")?;
            }
            3 => {
                str(&mut m, wt, "idKeys")?;
            }
            4 => {
                str(&mut m, wt, "descriptionKeys")?;
            }
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

fn scope_spans(
    buf: &mut &[u8],
    wt: WireType,
    ctx: u32,
    ri: usize,
    si: usize,
    rejected: &mut Rejected,
) -> Result<Option<ScopeSpans>, Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    let mut scope = Scope::default();
    let mut schema_url = String::new();
    let mut spans = Vec::with_capacity(count(m, 2));
    // each span's attributes are decoded here, then copied into a vector of their exact
    // size (counting them first read every field of the span twice)
    let mut attributes: Vec<KeyValue> = Vec::new();
    let mut k = 0;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => merge_scope(&mut m, wt, ctx, &mut scope).map_err(|e| e.at("scope"))?,
            2 => {
                match span(&mut m, wt, ctx, &mut attributes).map_err(|e| e.item("spans", k))? {
                    Ok(s) => spans.push(s),
                    Err(why) => rejected.add(format!(
                        "resourceSpans[{ri}].scopeSpans[{si}].spans[{k}].{why}"
                    )),
                }
                k += 1;
            }
            3 => schema_url = string(&mut m, wt, "schemaUrl")?,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    if spans.is_empty() {
        return Ok(None);
    }
    scope.schema_url = schema_url;
    Ok(Some(ScopeSpans {
        scope: Arc::new(scope),
        spans,
    }))
}

/// Merges one `InstrumentationScope` message into `s`.
fn merge_scope(buf: &mut &[u8], wt: WireType, ctx: u32, s: &mut Scope) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => s.name = string(&mut m, wt, "name")?,
            2 => s.version = string(&mut m, wt, "version")?,
            3 => {
                let kv = key_value(&mut m, wt, ctx)
                    .map_err(|e| e.item("attributes", s.attributes.len()))?;
                s.attributes.push(kv);
            }
            4 => s.dropped_attributes_count = varint(&mut m, wt, "droppedAttributesCount")? as u32,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

/// One span: `Ok(Err(why))` when it decodes but is invalid (`why` as `span_from_proto` says it).
/// `attributes` is scratch space, reused from span to span.
fn span(
    buf: &mut &[u8],
    wt: WireType,
    ctx: u32,
    attributes: &mut Vec<KeyValue>,
) -> Result<Result<Span, String>, Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    attributes.clear();
    let mut s = Span::default();
    let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut kind = 0i32;
    let mut status_code: Option<i32> = None;
    let mut link_err: Option<String> = None;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => trace_id = bytes(&mut m, wt, "traceId")?,
            2 => span_id = bytes(&mut m, wt, "spanId")?,
            3 => s.trace_state = string(&mut m, wt, "traceState")?,
            4 => parent = bytes(&mut m, wt, "parentSpanId")?,
            5 => s.name = compact(&mut m, wt, "name")?,
            6 => kind = varint(&mut m, wt, "kind")? as i32,
            7 => s.start_time_unix_nano = fixed64(&mut m, wt, "startTimeUnixNano")?,
            8 => s.end_time_unix_nano = fixed64(&mut m, wt, "endTimeUnixNano")?,
            9 => {
                let kv = key_value(&mut m, wt, ctx)
                    .map_err(|e| e.item("attributes", attributes.len()))?;
                attributes.push(kv);
            }
            10 => s.dropped_attributes_count = varint(&mut m, wt, "droppedAttributesCount")? as u32,
            11 => {
                let ev = event(&mut m, wt, ctx).map_err(|e| e.item("events", s.events.len()))?;
                s.events.push(ev);
            }
            12 => s.dropped_events_count = varint(&mut m, wt, "droppedEventsCount")? as u32,
            13 => {
                let i = s.links.len();
                let (l, bad) = link(&mut m, wt, ctx).map_err(|e| e.item("links", i))?;
                if let (Some(why), None) = (bad, &link_err) {
                    link_err = Some(format!("links[{i}].{why}"));
                }
                s.links.push(l);
            }
            14 => s.dropped_links_count = varint(&mut m, wt, "droppedLinksCount")? as u32,
            15 => {
                let code = status_code.get_or_insert(0);
                merge_status(&mut m, wt, ctx, code, &mut s.status.message)
                    .map_err(|e| e.at("status"))?;
            }
            16 => s.flags = fixed32(&mut m, wt, "flags")?,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    s.attributes = Vec::with_capacity(attributes.len());
    s.attributes.append(attributes);
    // the checks and their order are span_from_proto's
    s.trace_id = match TraceId::from_bytes(trace_id) {
        Ok(id) => id,
        Err(e) => return Ok(Err(format!("traceId: {e}"))),
    };
    s.span_id = match SpanId::from_bytes(span_id) {
        Ok(id) => id,
        Err(e) => return Ok(Err(format!("spanId: {e}"))),
    };
    s.parent_span_id = if parent.is_empty() || parent == [0; SpanId::LEN] {
        None
    } else {
        match SpanId::from_bytes(parent) {
            Ok(id) => Some(id),
            Err(e) => return Ok(Err(format!("parentSpanId: {e}"))),
        }
    };
    s.kind = match SpanKind::from_i32(kind) {
        Some(k) => k,
        None => return Ok(Err(format!("kind: unknown span kind {kind}"))),
    };
    if let Some(code) = status_code {
        s.status.code = match StatusCode::from_i32(code) {
            Some(c) => c,
            None => return Ok(Err(format!("status.code: unknown status code {code}"))),
        };
    }
    if let Some(why) = link_err {
        return Ok(Err(why));
    }
    Ok(Ok(s))
}

/// Merges one `Status` message into `code` and `message`.
fn merge_status(
    buf: &mut &[u8],
    wt: WireType,
    ctx: u32,
    code: &mut i32,
    message: &mut String,
) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            2 => *message = string(&mut m, wt, "message")?,
            3 => *code = varint(&mut m, wt, "code")? as i32,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

fn event(buf: &mut &[u8], wt: WireType, ctx: u32) -> Result<Event, Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    let mut e = Event::default();
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => e.time_unix_nano = fixed64(&mut m, wt, "timeUnixNano")?,
            2 => e.name = string(&mut m, wt, "name")?,
            3 => {
                let kv = key_value(&mut m, wt, ctx)
                    .map_err(|err| err.item("attributes", e.attributes.len()))?;
                e.attributes.push(kv);
            }
            4 => e.dropped_attributes_count = varint(&mut m, wt, "droppedAttributesCount")? as u32,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(e)
}

/// One link, and why its ids are invalid if they are (the span is then rejected).
fn link(buf: &mut &[u8], wt: WireType, ctx: u32) -> Result<(Link, Option<String>), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    let mut l = Link::default();
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (&[], &[]);
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => trace_id = bytes(&mut m, wt, "traceId")?,
            2 => span_id = bytes(&mut m, wt, "spanId")?,
            3 => l.trace_state = string(&mut m, wt, "traceState")?,
            4 => {
                let kv = key_value(&mut m, wt, ctx)
                    .map_err(|e| e.item("attributes", l.attributes.len()))?;
                l.attributes.push(kv);
            }
            5 => l.dropped_attributes_count = varint(&mut m, wt, "droppedAttributesCount")? as u32,
            6 => l.flags = fixed32(&mut m, wt, "flags")?,
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    let bad = match (TraceId::from_bytes(trace_id), SpanId::from_bytes(span_id)) {
        (Err(e), _) => Some(format!("traceId: {e}")),
        (Ok(_), Err(e)) => Some(format!("spanId: {e}")),
        (Ok(t), Ok(s)) => {
            l.trace_id = t;
            l.span_id = s;
            None
        }
    };
    Ok((l, bad))
}

fn key_value(buf: &mut &[u8], wt: WireType, ctx: u32) -> Result<KeyValue, Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    let mut kv = KeyValue::default();
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => kv.key = attribute_key(&mut m, wt)?,
            2 => merge_any_value(&mut m, wt, ctx, &mut kv.value).map_err(|e| e.at("value"))?,
            // key_strindex: profiles only; checked, not kept
            3 => {
                varint(&mut m, wt, "keyStrindex")?;
            }
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(kv)
}

/// Merges one `AnyValue` message into `v` as prost merges its oneof: a scalar replaces what was
/// there, an `arrayValue` (`kvlistValue`) appends to an array (list) already there and replaces
/// anything else. `stringValueStrindex` (profiles only) reads as empty, as `value_from_proto`.
fn merge_any_value(buf: &mut &[u8], wt: WireType, ctx: u32, v: &mut AnyValue) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => *v = AnyValue::String(compact(&mut m, wt, "stringValue")?),
            2 => *v = AnyValue::Bool(varint(&mut m, wt, "boolValue")? != 0),
            3 => *v = AnyValue::Int(varint(&mut m, wt, "intValue")? as i64),
            4 => *v = AnyValue::Double(f64::from_bits(fixed64(&mut m, wt, "doubleValue")?)),
            5 => {
                let mut items = match std::mem::take(v) {
                    AnyValue::Array(items) => items,
                    _ => Vec::new(),
                };
                array_values(&mut m, wt, ctx, &mut items).map_err(|e| e.at("arrayValue"))?;
                *v = AnyValue::Array(items);
            }
            6 => {
                let mut kvs = match std::mem::take(v) {
                    AnyValue::KvList(kvs) => kvs,
                    _ => Vec::new(),
                };
                kvlist_values(&mut m, wt, ctx, &mut kvs).map_err(|e| e.at("kvlistValue"))?;
                *v = AnyValue::KvList(kvs);
            }
            7 => *v = AnyValue::Bytes(bytes(&mut m, wt, "bytesValue")?.to_vec()),
            8 => {
                varint(&mut m, wt, "stringValueStrindex")?;
                *v = AnyValue::Empty;
            }
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

/// Appends the values of one `ArrayValue` message to `items`.
fn array_values(
    buf: &mut &[u8],
    wt: WireType,
    ctx: u32,
    items: &mut Vec<AnyValue>,
) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => {
                let mut item = AnyValue::Empty;
                merge_any_value(&mut m, wt, ctx, &mut item)
                    .map_err(|e| e.item("values", items.len()))?;
                items.push(item);
            }
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

/// Appends the pairs of one `KeyValueList` message to `kvs`.
fn kvlist_values(
    buf: &mut &[u8],
    wt: WireType,
    ctx: u32,
    kvs: &mut Vec<KeyValue>,
) -> Result<(), Fail> {
    let (mut m, ctx) = nested(buf, wt, ctx)?;
    while !m.is_empty() {
        let (tag, wt) = key(&mut m)?;
        match tag {
            1 => {
                let kv = key_value(&mut m, wt, ctx).map_err(|e| e.item("values", kvs.len()))?;
                kvs.push(kv);
            }
            _ => skip(&mut m, wt, tag, ctx)?,
        }
    }
    Ok(())
}

// ---- wire primitives ----------------------------------------------------------------------

/// A field key: its number and wire type (prost's `decode_key`, with our error messages).
#[inline(always)]
fn key(buf: &mut &[u8]) -> Result<(u32, WireType), Fail> {
    let key = raw_varint(buf)?;
    if key > u64::from(u32::MAX) {
        return Err(Fail::new(format!("field key {key} is out of range")));
    }
    let wt = match key & 7 {
        0 => WireType::Varint,
        1 => WireType::SixtyFourBit,
        2 => WireType::LengthDelimited,
        3 => WireType::StartGroup,
        4 => WireType::EndGroup,
        5 => WireType::ThirtyTwoBit,
        n => return Err(Fail::new(format!("invalid wire type {n}"))),
    };
    let tag = key as u32 >> 3;
    if tag == 0 {
        return Err(Fail::new("field number 0 is invalid"));
    }
    Ok((tag, wt))
}

/// A varint: one- and two-byte ones (most keys and lengths) inline, longer ones by prost.
#[inline(always)]
fn raw_varint(buf: &mut &[u8]) -> Result<u64, Fail> {
    match *buf {
        [b0, rest @ ..] if *b0 < 0x80 => {
            *buf = rest;
            Ok(u64::from(*b0))
        }
        [b0, b1, rest @ ..] if *b1 < 0x80 => {
            *buf = rest;
            Ok(u64::from(b0 & 0x7f) | (u64::from(*b1) << 7))
        }
        _ => long_varint(buf),
    }
}

#[inline(never)]
fn long_varint(buf: &mut &[u8]) -> Result<u64, Fail> {
    decode_varint(buf).map_err(|_| Fail::new("invalid or truncated varint"))
}

#[inline(always)]
fn want(wt: WireType, expected: WireType, field: &'static str) -> Result<(), Fail> {
    if wt == expected {
        Ok(())
    } else {
        Err(Fail::new(format!(
            "expected wire type {}, got {}",
            wire_name(expected),
            wire_name(wt)
        ))
        .at(field))
    }
}

fn wire_name(wt: WireType) -> &'static str {
    match wt {
        WireType::Varint => "varint",
        WireType::SixtyFourBit => "64-bit",
        WireType::LengthDelimited => "length-delimited",
        WireType::StartGroup => "start-group",
        WireType::EndGroup => "end-group",
        WireType::ThirtyTwoBit => "32-bit",
    }
}

#[inline(always)]
fn varint(buf: &mut &[u8], wt: WireType, field: &'static str) -> Result<u64, Fail> {
    want(wt, WireType::Varint, field)?;
    raw_varint(buf).map_err(|e| e.at(field))
}

#[inline(always)]
fn fixed<const N: usize>(
    buf: &mut &[u8],
    wt: WireType,
    expected: WireType,
    field: &'static str,
) -> Result<[u8; N], Fail> {
    want(wt, expected, field)?;
    match buf.split_first_chunk::<N>() {
        Some((v, rest)) => {
            *buf = rest;
            Ok(*v)
        }
        None => {
            Err(Fail::new(format!("truncated: {N} bytes needed, {} left", buf.len())).at(field))
        }
    }
}

#[inline(always)]
fn fixed64(buf: &mut &[u8], wt: WireType, field: &'static str) -> Result<u64, Fail> {
    fixed::<8>(buf, wt, WireType::SixtyFourBit, field).map(u64::from_le_bytes)
}

#[inline(always)]
fn fixed32(buf: &mut &[u8], wt: WireType, field: &'static str) -> Result<u32, Fail> {
    fixed::<4>(buf, wt, WireType::ThirtyTwoBit, field).map(u32::from_le_bytes)
}

/// The payload of a length-delimited field (bounds checked like prost's `BufferUnderflow`).
#[inline(always)]
fn delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], Fail> {
    let len = raw_varint(buf)?;
    if len > buf.len() as u64 {
        return Err(Fail::new(format!(
            "length {len} runs past the end of its message ({} bytes left)",
            buf.len()
        )));
    }
    let (v, rest) = buf.split_at(len as usize);
    *buf = rest;
    Ok(v)
}

#[inline(always)]
fn bytes<'a>(buf: &mut &'a [u8], wt: WireType, field: &'static str) -> Result<&'a [u8], Fail> {
    want(wt, WireType::LengthDelimited, field)?;
    delimited(buf).map_err(|e| e.at(field))
}

#[inline(always)]
fn str<'a>(buf: &mut &'a [u8], wt: WireType, field: &'static str) -> Result<&'a str, Fail> {
    let b = bytes(buf, wt, field)?;
    utf8(b).ok_or_else(|| Fail::new("invalid UTF-8 in a string field").at(field))
}

/// `b` as a `str` when it is UTF-8. Nearly every string in a span (keys, names, most
/// values) is short and ASCII: those are checked eight bytes at a time, the rest by the
/// standard library's full validation.
#[inline(always)]
fn utf8(b: &[u8]) -> Option<&str> {
    if is_ascii(b) {
        // SAFETY: ASCII is UTF-8
        Some(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b).ok()
    }
}

/// Whether every byte of `b` is below 0x80: eight bytes per step, the last step overlapping
/// the one before it (a string under eight bytes takes two overlapping four-byte reads, or
/// one byte at a time under four).
#[inline(always)]
fn is_ascii(b: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let n = b.len();
    if n >= 8 {
        let mut acc = word(n - 8);
        let mut i = 0;
        while i + 8 < n {
            acc |= word(i);
            i += 8;
        }
        acc & HIGH == 0
    } else if n >= 4 {
        let half = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        (half(0) | half(n - 4)) & 0x8080_8080 == 0
    } else {
        b.iter().all(|&c| c < 0x80)
    }
}

#[inline(always)]
fn string(buf: &mut &[u8], wt: WireType, field: &'static str) -> Result<String, Fail> {
    str(buf, wt, field).map(str::to_owned)
}

/// A string field as a `CompactString` (attribute keys and values, span names): no allocation
/// up to 24 bytes.
#[inline(always)]
fn compact(buf: &mut &[u8], wt: WireType, field: &'static str) -> Result<CompactString, Fail> {
    str(buf, wt, field).map(CompactString::new)
}

/// Attribute keys of the OpenTelemetry semantic conventions (and of OpenInference, which
/// Phoenix reads) too long for a `CompactString` to hold inline (24 bytes). A key read from the
/// wire that equals one of them points at this static text instead of allocating: HPACK's
/// static table, for attribute keys. `http.response.status_code` alone is on every HTTP span,
/// and each allocation saved here is also a free saved when the cutter drops the span.
pub(crate) const WELL_KNOWN_LONG_KEYS: &[&str] = &[
    "http.response.status_code",
    "http.request.method_original",
    "http.request.resend_count",
    "http.request.header.x-request-id",
    "user_agent.synthetic.type",
    "db.response.returned_rows",
    "messaging.destination.name",
    "messaging.destination.partition.id",
    "messaging.batch.message_count",
    "messaging.message.body.size",
    "messaging.consumer.group.name",
    "messaging.kafka.message.key",
    "deployment.environment.name",
    "process.runtime.description",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.request.max_tokens",
    "gen_ai.request.temperature",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.presence_penalty",
    "gen_ai.request.stop_sequences",
    "gen_ai.request.choice.count",
    "gen_ai.request.encoding_formats",
    "gen_ai.response.finish_reasons",
    "llm.token_count.completion",
    "llm.invocation_parameters",
];

/// An attribute key: a well-known long key without an allocation, anything else as
/// [`compact`] reads it.
#[inline(always)]
fn attribute_key(buf: &mut &[u8], wt: WireType) -> Result<CompactString, Fail> {
    let s = str(buf, wt, "key")?;
    if s.len() > std::mem::size_of::<CompactString>() {
        // a length compare rejects nearly every entry before any byte is compared
        if let Some(k) = WELL_KNOWN_LONG_KEYS.iter().find(|k| **k == s) {
            return Ok(CompactString::const_new(k));
        }
    }
    Ok(CompactString::new(s))
}

/// How many fields numbered `tag` follow in `m` (read ahead to size a vector; stops quietly at
/// anything malformed, which the decoding proper then reports).
fn count(mut m: &[u8], tag: u32) -> usize {
    let mut n = 0;
    while !m.is_empty() {
        let Ok((t, wt)) = key(&mut m) else { break };
        n += usize::from(t == tag);
        let skipped = match wt {
            WireType::LengthDelimited => delimited(&mut m).map(drop),
            _ => skip_inner(&mut m, wt, t, RECURSION_LIMIT),
        };
        if skipped.is_err() {
            break;
        }
    }
    n
}

/// How many fields numbered `tag` there are when `m` starts at the payload of the first of
/// them (its key just read): that one, and those after it.
fn count_with_first(m: &[u8], tag: u32) -> usize {
    let mut rest = m;
    match delimited(&mut rest) {
        Ok(_) => 1 + count(rest, tag),
        Err(_) => 1,
    }
}

/// The body of an embedded message and the recursion budget of its fields: prost checks the
/// budget before entering (`recursion limit reached` at zero) and gives the fields one less.
#[inline(always)]
fn nested<'a>(buf: &mut &'a [u8], wt: WireType, ctx: u32) -> Result<(&'a [u8], u32), Fail> {
    want(wt, WireType::LengthDelimited, "")?;
    if ctx == 0 {
        return Err(recursion_limit());
    }
    Ok((delimited(buf)?, ctx - 1))
}

#[cold]
fn recursion_limit() -> Fail {
    Fail::new(format!("messages nested more than {RECURSION_LIMIT} deep"))
}

/// Skips a field this decoder does not keep, exactly as prost's `skip_field` (whose recursion
/// checks for groups it mirrors, so the same inputs fail).
fn skip(buf: &mut &[u8], wt: WireType, tag: u32, ctx: u32) -> Result<(), Fail> {
    skip_inner(buf, wt, tag, ctx).map_err(|e| e.tag(tag))
}

fn skip_inner(buf: &mut &[u8], wt: WireType, tag: u32, ctx: u32) -> Result<(), Fail> {
    if ctx == 0 {
        return Err(recursion_limit());
    }
    let len = match wt {
        WireType::Varint => raw_varint(buf).map(|_| 0)?,
        WireType::ThirtyTwoBit => 4,
        WireType::SixtyFourBit => 8,
        WireType::LengthDelimited => raw_varint(buf)?,
        WireType::StartGroup => loop {
            let (inner_tag, inner_wt) = key(buf)?;
            if inner_wt == WireType::EndGroup {
                if inner_tag != tag {
                    return Err(Fail::new(format!(
                        "end-group tag of field {inner_tag} inside the group of field {tag}"
                    )));
                }
                break 0;
            }
            skip_inner(buf, inner_wt, inner_tag, ctx - 1)?;
        },
        WireType::EndGroup => {
            return Err(Fail::new("end-group tag without a start-group"));
        }
    };
    if len > buf.len() as u64 {
        return Err(Fail::new(format!(
            "truncated: {len} bytes needed, {} left",
            buf.len()
        )));
    }
    *buf = &buf[len as usize..];
    Ok(())
}

// ---- errors ---------------------------------------------------------------------------------

/// A decoding failure: what went wrong and where, the path collected on the way out
/// (innermost first). Boxed so the `Ok` path carries a single word.
struct Fail(Box<FailInner>);

struct FailInner {
    what: String,
    path: Vec<Seg>,
}

enum Seg {
    Field(&'static str),
    Item(&'static str, usize),
    Tag(u32),
}

impl Fail {
    #[cold]
    fn new(what: impl Into<String>) -> Fail {
        Fail(Box::new(FailInner {
            what: what.into(),
            path: Vec::new(),
        }))
    }
    #[cold]
    fn at(mut self, field: &'static str) -> Fail {
        if !field.is_empty() {
            self.0.path.push(Seg::Field(field));
        }
        self
    }
    #[cold]
    fn item(mut self, field: &'static str, index: usize) -> Fail {
        self.0.path.push(Seg::Item(field, index));
        self
    }
    #[cold]
    fn tag(mut self, tag: u32) -> Fail {
        self.0.path.push(Seg::Tag(tag));
        self
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.path.iter().rev().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match seg {
                Seg::Field(name) => f.write_str(name)?,
                Seg::Item(name, k) => write!(f, "{name}[{k}]")?,
                Seg::Tag(t) => write!(f, "(unknown field {t})")?,
            }
        }
        if !self.0.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.0.what)
    }
}

#[cfg(test)]
mod tests {
    /// A well-known long key decodes to the static text (no allocation), equal to what was
    /// sent; a long key not in the table, and a short one, decode as before.
    #[test]
    fn well_known_long_keys_are_read_without_allocating() {
        use opentelemetry_proto::tonic::common::v1::KeyValue as PbKv;
        use prost::Message;
        let read = |key: &str| {
            let bytes = PbKv {
                key: key.into(),
                value: None,
                ..Default::default()
            }
            .encode_to_vec();
            // the message as the body of a length-delimited field
            let mut framed = Vec::new();
            prost::encoding::encode_varint(bytes.len() as u64, &mut framed);
            framed.extend_from_slice(&bytes);
            let mut m = &framed[..];
            let kv = super::key_value(&mut m, super::WireType::LengthDelimited, 8)
                .ok()
                .expect("decodes");
            assert_eq!(kv.key, key);
            kv.key
        };
        for k in super::WELL_KNOWN_LONG_KEYS {
            assert!(k.len() > 24, "{k} fits inline anyway");
            assert_eq!(read(k).as_static_str(), Some(*k), "{k}");
        }
        let other = "app.some.long.attribute.key.name";
        assert_eq!(read(other).as_static_str(), None);
        assert!(read(other).is_heap_allocated());
        assert!(!read("http.route").is_heap_allocated());
    }

    use super::utf8;
    use proptest::prelude::*;

    /// Every length up to 40 (both the overlapping-word and the short paths), with a byte
    /// that is not ASCII at each position in turn: alone (invalid UTF-8) and as part of a
    /// valid two-byte character.
    #[test]
    fn the_ascii_fast_path_agrees_with_the_standard_library_at_every_position() {
        for n in 0..=40usize {
            let ascii = vec![b'a'; n];
            assert_eq!(utf8(&ascii), std::str::from_utf8(&ascii).ok(), "len {n}");
            for at in 0..n {
                let mut lone = ascii.clone();
                lone[at] = 0x80;
                assert_eq!(utf8(&lone), None, "len {n}, 0x80 at {at}");
                if at + 1 < n {
                    let mut e_acute = ascii.clone();
                    e_acute[at..at + 2].copy_from_slice("é".as_bytes());
                    assert_eq!(utf8(&e_acute), std::str::from_utf8(&e_acute).ok());
                    assert!(utf8(&e_acute).is_some(), "len {n}, é at {at}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn utf8_agrees_with_the_standard_library(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(utf8(&b), std::str::from_utf8(&b).ok());
        }

        #[test]
        fn utf8_agrees_on_text(s in "\\PC{0,40}") {
            prop_assert_eq!(utf8(s.as_bytes()), Some(s.as_str()));
        }
    }
}
