//! Jaeger's JSON views of a trace, as Jaeger v2's query service produces them.
//!
//! * [`adjust`] applies Jaeger's standard adjusters (`cmd/jaeger/internal/extension/jaegerquery/
//!   internal/adjuster/standard.go`): client/server span-id de-duplication, sorting of attributes
//!   and events, removal of duplicate spans, clock-skew detection (with Jaeger's default of no
//!   adjustment: only warnings), IP normalization, moving `telemetry.sdk.*` to the resource and
//!   removal of links without a trace id. Warnings go where Jaeger puts them: the span attribute
//!   [`WARNINGS_ATTRIBUTE`].
//! * [`to_ui_trace`] translates a trace to the UI model of `/api/traces` (`internal/uimodel`),
//!   following the OpenTelemetry Collector's OTLP → Jaeger translator (`pkg/translator/jaeger`)
//!   and Jaeger's `FromDomain`: scope → `otel.scope.*` tags, kind → `span.kind`, status →
//!   `otel.status_code`/`error`/`otel.status_description`, trace state → `w3c.tracestate`,
//!   events → logs with an `event` field, parent → `CHILD_OF` and links → `FOLLOWS_FROM`
//!   references, resources → processes `p1, p2, …` de-duplicated by value.
//! * [`trace_summary_v3`] is the `/api/v3/trace-summaries` row of a trace.
//! * [`parse_trace_id`] and [`trace_id_string`] read and write trace ids the way Jaeger does
//!   (short hex ids are zero-extended; an id whose high 64 bits are zero prints as 16 digits).

use crate::json::encode_traces_data_value;
use base64::Engine as _;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use weft_model::{AnyValue, Batch, KeyValue, Resource, SpanId, SpanKind, StatusCode, TraceId};

/// The span attribute in which Jaeger's adjusters leave warnings (a list of strings).
pub const WARNINGS_ATTRIBUTE: &str = "@jaeger@warnings";

const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

// ---------------------------------------------------------------------------------------------
// ids

/// The id as Jaeger's `model.TraceID.String()` prints it: 16 hex digits when the high 64 bits
/// are zero, else 32.
pub fn trace_id_string(id: &TraceId) -> String {
    if id.0[..8] == [0; 8] {
        hex::encode(&id.0[8..])
    } else {
        id.to_hex()
    }
}

/// A span id as Jaeger prints it: 16 hex digits.
pub fn span_id_string(id: &SpanId) -> String {
    id.to_hex()
}

/// Parses a trace id as Jaeger's query API does (`apiv3.TraceIDFromString`): 1 to 32 hex digits
/// (shorter ids are zero-extended on the left), else standard or URL-safe base64, padded or
/// not, of 8 or 16 bytes. `Ok(None)` is the all-zero id, which no stored trace can have.
pub fn parse_trace_id(s: &str) -> Result<Option<TraceId>, String> {
    let hex_err = match parse_trace_id_hex(s) {
        Ok(b) => return Ok(TraceId::from_bytes(&b).ok()),
        Err(e) => e,
    };
    if s.len() > 24 {
        return Err(hex_err);
    }
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let padded = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
    let raw = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone);
    let engines = [
        GeneralPurpose::new(&base64::alphabet::STANDARD, padded),
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, padded),
        GeneralPurpose::new(&base64::alphabet::STANDARD, raw),
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, raw),
    ];
    for e in engines {
        if let Ok(b) = e.decode(s) {
            let mut id = [0u8; 16];
            match b.len() {
                16 => id.copy_from_slice(&b),
                8 => id[8..].copy_from_slice(&b),
                _ => return Err("invalid length for TraceID".into()),
            }
            return Ok(TraceId::from_bytes(&id).ok());
        }
    }
    Err(hex_err)
}

/// Parses a trace id as Jaeger's `model.TraceIDFromString` does (the `traceID` search
/// parameter): 1 to 32 hex digits, zero-extended. `Ok(None)` is the all-zero id.
pub fn parse_trace_id_hex_only(s: &str) -> Result<Option<TraceId>, String> {
    parse_trace_id_hex(s).map(|b| TraceId::from_bytes(&b).ok())
}

fn parse_trace_id_hex(s: &str) -> Result<[u8; 16], String> {
    if s.len() > 32 {
        return Err(format!(
            "TraceID cannot be longer than 32 hex characters: {s}"
        ));
    }
    let (hi, lo) = if s.len() > 16 {
        let cut = s.len() - 16;
        (parse_hex_u64(&s[..cut])?, parse_hex_u64(&s[cut..])?)
    } else {
        (0, parse_hex_u64(s)?)
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&hi.to_be_bytes());
    id[8..].copy_from_slice(&lo.to_be_bytes());
    Ok(id)
}

/// Go's `strconv.ParseUint(s, 16, 64)`, with its error text.
fn parse_hex_u64(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    u64::from_str_radix(s, 16)
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

// ---------------------------------------------------------------------------------------------
// Go formatting helpers

/// Go's `time.Duration.String()`: `1.5s`, `250ms`, `1m30s`, `-3µs`, `0s`.
pub fn go_duration_string(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, div, prec) = if u < 1_000 {
            ("ns", 1, 0)
        } else if u < 1_000_000 {
            ("µs", 1_000, 3)
        } else {
            ("ms", 1_000_000, 6)
        };
        out.push_str(&(u / div).to_string());
        push_frac(&mut out, u % div, prec);
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&s.to_string());
        push_frac(&mut out, frac, 9);
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn push_frac(out: &mut String, frac: u64, prec: usize) {
    if prec == 0 || frac == 0 {
        return;
    }
    let digits = format!("{frac:0prec$}");
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

/// A float as Go's `encoding/json` writes it (`1e+21`, `1e-7`, `0.5`, `3`).
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        let s = format!("{f}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    }
}

/// A string as Go's `encoding/json` writes it (HTML-safe: `<`, `>`, `&` escaped).
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `pcommon.Value.AsString()` of an array or map: Go's `json.Marshal` of its raw value
/// (map keys sorted, bytes as base64).
fn go_json_value(v: &AnyValue, out: &mut String) {
    match v {
        AnyValue::Empty => out.push_str("null"),
        AnyValue::String(s) => go_json_string(s, out),
        AnyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AnyValue::Int(i) => out.push_str(&i.to_string()),
        AnyValue::Double(d) => out.push_str(&go_json_float(*d)),
        AnyValue::Bytes(b) => {
            go_json_string(&base64::engine::general_purpose::STANDARD.encode(b), out)
        }
        AnyValue::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_value(x, out);
            }
            out.push(']');
        }
        AnyValue::KvList(kvs) => {
            // a Go map: one value per key (the last wins), keys sorted
            let m: BTreeMap<&str, &AnyValue> =
                kvs.iter().map(|kv| (kv.key.as_str(), &kv.value)).collect();
            out.push('{');
            for (i, (k, x)) in m.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json_value(x, out);
            }
            out.push('}');
        }
    }
}

/// `pcommon.Value.AsString()`.
fn as_string(v: &AnyValue) -> String {
    match v {
        AnyValue::String(s) => s.to_string(),
        AnyValue::Empty => String::new(),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) if d.is_nan() => "NaN".into(),
        AnyValue::Double(d) if d.is_infinite() => if *d > 0.0 { "+Inf" } else { "-Inf" }.into(),
        AnyValue::Double(d) => go_json_float(*d),
        AnyValue::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
        AnyValue::Array(_) | AnyValue::KvList(_) => {
            let mut s = String::new();
            go_json_value(v, &mut s);
            s
        }
    }
}

// ---------------------------------------------------------------------------------------------
// adjusters

fn add_warning(attrs: &mut Vec<KeyValue>, warning: String) {
    match attrs.iter_mut().find(|kv| kv.key == WARNINGS_ATTRIBUTE) {
        Some(kv) => match &mut kv.value {
            AnyValue::Array(a) => a.push(AnyValue::String(warning.into())),
            other => {
                let prev = as_string(other);
                *other = AnyValue::Array(vec![
                    AnyValue::String(prev.into()),
                    AnyValue::String(warning.into()),
                ]);
            }
        },
        None => attrs.push(KeyValue::new(
            WARNINGS_ATTRIBUTE,
            AnyValue::Array(vec![AnyValue::String(warning.into())]),
        )),
    }
}

/// Positions of every span: (resource, scope, span) indexes.
fn positions(b: &Batch) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for (r, rs) in b.resource_spans.iter().enumerate() {
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for i in 0..ss.spans.len() {
                out.push((r, s, i));
            }
        }
    }
    out
}

fn span_mut(b: &mut Batch, (r, s, i): (usize, usize, usize)) -> &mut weft_model::Span {
    &mut b.resource_spans[r].scope_spans[s].spans[i]
}

/// Applies Jaeger's standard adjusters in Jaeger's order, with clock-skew adjustment disabled
/// (Jaeger's default `max_clock_skew_adjust: 0`: skew is reported as a warning, not applied).
pub fn adjust(b: &mut Batch) {
    dedupe_client_server_span_ids(b);
    sort_collections(b);
    dedupe_spans(b);
    clock_skew_warnings(b);
    normalize_ip_attributes(b);
    move_library_attributes(b);
    remove_empty_links(b);
}

/// `DeduplicateClientServerSpanIDs`: a server span that shares its id with a client span (the
/// Zipkin convention) gets a fresh id and the shared id as its parent.
fn dedupe_client_server_span_ids(b: &mut Batch) {
    let pos = positions(b);
    let mut by_id: HashMap<SpanId, Vec<SpanKind>> = HashMap::new();
    for &p in &pos {
        let s = span_mut(b, p);
        by_id.entry(s.span_id).or_default().push(s.kind);
    }
    let mut max_used = 0u64;
    let mut old_to_new: HashMap<SpanId, SpanId> = HashMap::new();
    for &p in &pos {
        let s = span_mut(b, p);
        let shared = by_id
            .get(&s.span_id)
            .is_some_and(|k| k.contains(&SpanKind::Client));
        if s.kind != SpanKind::Server || !shared {
            continue;
        }
        let mut fresh = None;
        let mut id = max_used.wrapping_add(1);
        while id != 0 {
            let sid = SpanId(id.to_be_bytes());
            if !by_id.contains_key(&sid) {
                fresh = Some(sid);
                max_used = id;
                break;
            }
            id = id.wrapping_add(1);
        }
        match fresh {
            Some(new) => {
                old_to_new.insert(s.span_id, new);
                s.parent_span_id = Some(s.span_id);
                s.span_id = new;
            }
            None => add_warning(
                &mut s.attributes,
                "cannot assign unique span ID, too many spans in the trace".into(),
            ),
        }
    }
    if old_to_new.is_empty() {
        return;
    }
    for &p in &pos {
        let s = span_mut(b, p);
        if let Some(new) = s.parent_span_id.and_then(|pid| old_to_new.get(&pid)) {
            if s.span_id != *new {
                s.parent_span_id = Some(*new);
            }
        }
    }
}

fn sort_attrs(a: &mut [KeyValue]) {
    a.sort_by(|x, y| x.key.cmp(&y.key));
}

/// `SortCollections`: attributes of resources, scopes, spans, events and links by key; events
/// by name.
fn sort_collections(b: &mut Batch) {
    for rs in &mut b.resource_spans {
        sort_attrs(&mut Arc::make_mut(&mut rs.resource).attributes);
        for ss in &mut rs.scope_spans {
            sort_attrs(&mut Arc::make_mut(&mut ss.scope).attributes);
            for s in &mut ss.spans {
                sort_attrs(&mut s.attributes);
                s.events.sort_by(|x, y| x.name.cmp(&y.name));
                for e in &mut s.events {
                    sort_attrs(&mut e.attributes);
                }
                for l in &mut s.links {
                    sort_attrs(&mut l.attributes);
                }
            }
        }
    }
}

/// `DeduplicateSpans`: a span equal to an earlier one (with equal resource and scope
/// attributes) is dropped.
fn dedupe_spans(b: &mut Batch) {
    use std::hash::{Hash, Hasher};
    let mut seen: HashMap<u64, Vec<(usize, usize, usize)>> = HashMap::new();
    let snapshot = b.clone();
    for (r, rs) in b.resource_spans.iter_mut().enumerate() {
        for (si, ss) in rs.scope_spans.iter_mut().enumerate() {
            let mut keep = Vec::with_capacity(ss.spans.len());
            for (i, s) in ss.spans.iter().enumerate() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (
                    s.trace_id,
                    s.span_id,
                    s.parent_span_id,
                    &s.name,
                    s.start_time_unix_nano,
                    s.end_time_unix_nano,
                )
                    .hash(&mut h);
                let key = h.finish();
                let same = |&(r2, s2, i2): &(usize, usize, usize)| {
                    let o = &snapshot.resource_spans[r2];
                    o.scope_spans[s2].spans[i2] == *s
                        && o.resource.attributes == snapshot.resource_spans[r].resource.attributes
                        && o.scope_spans[s2].scope.attributes
                            == snapshot.resource_spans[r].scope_spans[si].scope.attributes
                };
                let list = seen.entry(key).or_default();
                if list.iter().any(same) {
                    keep.push(false);
                } else {
                    list.push((r, si, i));
                    keep.push(true);
                }
            }
            let mut it = keep.into_iter();
            ss.spans.retain(|_| it.next().unwrap_or(true));
        }
    }
}

/// The host of a resource, as Jaeger's clock-skew adjuster keys it.
fn host_key(r: &Resource) -> String {
    if let Some(v) = r.attribute("host.id") {
        return v.as_str().unwrap_or_default().to_string();
    }
    match r.attribute("host.ip") {
        Some(AnyValue::String(s)) => return s.to_string(),
        Some(AnyValue::Array(a)) if !a.is_empty() => return as_string(&a[0]),
        _ => {}
    }
    if let Some(v) = r.attribute("host.name") {
        return v.as_str().unwrap_or_default().to_string();
    }
    String::new()
}

/// `CorrectClockSkew` with a maximum adjustment of zero (Jaeger's default): computes the skew
/// of every span against its parent across hosts and reports it as a warning; warns about
/// duplicate span ids and missing parents.
fn clock_skew_warnings(b: &mut Batch) {
    struct Node {
        pos: (usize, usize, usize),
        host: String,
        start: i64,
        end: i64,
        parent: Option<SpanId>,
        children: Vec<usize>,
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<SpanId, usize> = HashMap::new();
    let mut warnings: Vec<((usize, usize, usize), String)> = Vec::new();
    for (r, rs) in b.resource_spans.iter().enumerate() {
        let host = host_key(&rs.resource);
        for (si, ss) in rs.scope_spans.iter().enumerate() {
            for (i, s) in ss.spans.iter().enumerate() {
                if by_id.contains_key(&s.span_id) {
                    warnings.push((
                        (r, si, i),
                        "duplicate span IDs; skipping clock skew adjustment".into(),
                    ));
                    continue;
                }
                by_id.insert(s.span_id, nodes.len());
                nodes.push(Node {
                    pos: (r, si, i),
                    host: host.clone(),
                    start: s.start_time_unix_nano as i64,
                    end: s.end_time_unix_nano as i64,
                    parent: s.parent_span_id,
                    children: Vec::new(),
                });
            }
        }
    }
    let mut roots = Vec::new();
    for i in 0..nodes.len() {
        match nodes[i].parent {
            None => roots.push(i),
            Some(p) => match by_id.get(&p) {
                Some(&pi) => nodes[pi].children.push(i),
                None => {
                    warnings.push((
                        nodes[i].pos,
                        format!(
                            "parent span ID={} is not in the trace; skipping clock skew adjustment",
                            p.to_hex()
                        ),
                    ));
                    roots.push(i);
                }
            },
        }
    }
    let skew_of = |c: &Node, p: &Node| -> i64 {
        let (pd, cd) = (p.end - p.start, c.end - c.start);
        if cd > pd {
            return if c.start < p.start {
                p.start - c.start
            } else {
                0
            };
        }
        if c.start >= p.start && c.end <= p.end {
            return 0;
        }
        let latency = (pd - cd) / 2;
        p.start + latency - c.start
    };
    // (node, parent, skew host, skew delta)
    let mut stack: Vec<(usize, Option<usize>, String, i64)> = roots
        .iter()
        .map(|&r| (r, None, nodes[r].host.clone(), 0))
        .collect();
    while let Some((n, parent, mut host, mut delta)) = stack.pop() {
        if let Some(p) = parent {
            if nodes[n].host != host || nodes[n].host.is_empty() {
                host = nodes[n].host.clone();
                delta = skew_of(&nodes[n], &nodes[p]);
            }
        }
        if delta != 0 {
            warnings.push((
                nodes[n].pos,
                format!(
                    "clock skew adjustment disabled; not applying calculated delta of {}",
                    go_duration_string(delta)
                ),
            ));
        }
        for &c in &nodes[n].children {
            stack.push((c, Some(n), host.clone(), delta));
        }
    }
    for (p, w) in warnings {
        add_warning(&mut span_mut(b, p).attributes, w);
    }
}

fn normalize_ips(attrs: &mut [KeyValue]) {
    for kv in attrs.iter_mut() {
        if kv.key != "ip" && kv.key != "peer.ipv4" {
            continue;
        }
        let n = match kv.value {
            AnyValue::Int(i) => i as u32,
            AnyValue::Double(d) => d as i64 as u32,
            _ => continue,
        };
        let o = n.to_be_bytes();
        kv.value = AnyValue::String(format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]).into());
    }
}

/// `NormalizeIPAttributes`: integer `ip` and `peer.ipv4` attributes become dotted quads.
fn normalize_ip_attributes(b: &mut Batch) {
    for rs in &mut b.resource_spans {
        normalize_ips(&mut Arc::make_mut(&mut rs.resource).attributes);
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                normalize_ips(&mut s.attributes);
            }
        }
    }
}

const LIBRARY_KEYS: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

/// `MoveLibraryAttributes`: `telemetry.sdk.*` and `telemetry.distro.*` on a span move to its
/// resource, unless the resource has a different value (then a warning).
fn move_library_attributes(b: &mut Batch) {
    for rs in &mut b.resource_spans {
        let resource = Arc::make_mut(&mut rs.resource);
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                let found: Vec<KeyValue> = s
                    .attributes
                    .iter()
                    .filter(|kv| LIBRARY_KEYS.contains(&kv.key.as_str()))
                    .cloned()
                    .collect();
                for kv in found {
                    match resource.attributes.iter_mut().find(|r| r.key == kv.key) {
                        Some(r) if r.value != kv.value => {
                            add_warning(
                                &mut s.attributes,
                                format!(
                                    "conflicting values between Span and Resource for attribute {}",
                                    kv.key
                                ),
                            );
                            continue;
                        }
                        Some(r) => r.value = kv.value.clone(),
                        None => resource.attributes.push(kv.clone()),
                    }
                    s.attributes.retain(|a| a.key != kv.key);
                }
            }
        }
    }
}

/// `RemoveEmptySpanLinks`: links without a trace id are dropped with a warning.
fn remove_empty_links(b: &mut Batch) {
    for rs in &mut b.resource_spans {
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                let before = s.links.len();
                s.links.retain(|l| !l.trace_id.is_zero());
                for _ in s.links.len()..before {
                    add_warning(&mut s.attributes, "Invalid span link removed".into());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the UI model (internal/uimodel/model.go)

/// `uimodel.KeyValue`: a typed tag.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiKeyValue {
    pub key: String,
    #[serde(rename = "type")]
    pub value_type: &'static str,
    pub value: Value,
}

/// `uimodel.Reference`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiReference {
    #[serde(rename = "refType")]
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// `uimodel.Log`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiLog {
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    pub fields: Vec<UiKeyValue>,
}

/// `uimodel.Process`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiProcess {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<UiKeyValue>,
}

/// `uimodel.Span` as `/api/traces` writes it (process by id, `flags` omitted when zero).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiSpan {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    pub references: Vec<UiReference>,
    /// Microseconds since the Unix epoch.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<UiKeyValue>,
    pub logs: Vec<UiLog>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `uimodel.Trace`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UiTrace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<UiSpan>,
    /// Process id → process, in order of first use (`p1`, `p2`, …).
    pub processes: Processes,
    pub warnings: Option<Vec<String>>,
}

/// The `processes` map of a trace, kept in id order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Processes(pub Vec<(String, UiProcess)>);

impl Serialize for Processes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn tag(key: impl Into<String>, v: &AnyValue) -> UiKeyValue {
    let (value_type, value) = match v {
        AnyValue::String(s) => ("string", Value::String(s.to_string())),
        AnyValue::Bool(b) => ("bool", Value::Bool(*b)),
        AnyValue::Int(i) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
            ("int64", Value::from(*i))
        }
        AnyValue::Int(i) => ("int64", Value::String(i.to_string())),
        AnyValue::Double(d) => ("float64", Value::from(*d)),
        AnyValue::Bytes(b) => (
            "binary",
            Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        // the translator leaves an empty value untyped; Jaeger's JSON then writes it as a string
        AnyValue::Empty => ("string", Value::String(String::new())),
        AnyValue::Array(_) | AnyValue::KvList(_) => ("string", Value::String(as_string(v))),
    };
    UiKeyValue {
        key: key.into(),
        value_type,
        value,
    }
}

fn str_tag(key: &str, v: &str) -> UiKeyValue {
    UiKeyValue {
        key: key.into(),
        value_type: "string",
        value: Value::String(v.into()),
    }
}

fn micros(nanos: u64) -> u64 {
    nanos / 1_000
}

/// Translates a trace (usually after [`adjust`]) to Jaeger's UI model. `None` when the batch
/// holds no span.
pub fn to_ui_trace(b: &Batch) -> Option<UiTrace> {
    let mut spans = Vec::with_capacity(b.span_count());
    let mut processes: Vec<(String, UiProcess)> = Vec::new();
    for rs in &b.resource_spans {
        if rs.resource.attributes.is_empty() && rs.scope_spans.is_empty() {
            continue;
        }
        let process = UiProcess {
            service_name: rs.resource.service_name().to_string(),
            tags: rs
                .resource
                .attributes
                .iter()
                .filter(|kv| kv.key != weft_model::SERVICE_NAME)
                .map(|kv| tag(kv.key.clone(), &kv.value))
                .collect(),
        };
        let mut process_id: Option<String> = None;
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let pid = match &process_id {
                    Some(p) => p.clone(),
                    None => {
                        let p = match processes.iter().find(|(_, p)| *p == process) {
                            Some((id, _)) => id.clone(),
                            None => {
                                let id = format!("p{}", processes.len() + 1);
                                processes.push((id.clone(), process.clone()));
                                id
                            }
                        };
                        process_id = Some(p.clone());
                        p
                    }
                };
                spans.push(span_to_ui(s, &ss.scope, pid));
            }
        }
    }
    let trace_id = spans.first()?.trace_id.clone();
    Some(UiTrace {
        trace_id,
        spans,
        processes: Processes(processes),
        warnings: None,
    })
}

fn span_to_ui(s: &weft_model::Span, scope: &weft_model::Scope, process_id: String) -> UiSpan {
    let trace_id = trace_id_string(&s.trace_id);
    let mut tags = Vec::with_capacity(s.attributes.len() + 6);
    if !scope.name.is_empty() {
        tags.push(str_tag("otel.scope.name", &scope.name));
    }
    if !scope.version.is_empty() {
        tags.push(str_tag("otel.scope.version", &scope.version));
    }
    let mut warnings: Option<Vec<String>> = None;
    for kv in &s.attributes {
        if kv.key == WARNINGS_ATTRIBUTE {
            let w = match &kv.value {
                AnyValue::Array(a) => a.iter().map(as_string).collect(),
                other => vec![as_string(other)],
            };
            warnings.get_or_insert_with(Vec::new).extend(w);
            continue;
        }
        tags.push(tag(kv.key.clone(), &kv.value));
    }
    if s.kind != SpanKind::Unspecified {
        tags.push(str_tag("span.kind", s.kind.short_name()));
    }
    match s.status.code {
        StatusCode::Error => {
            tags.push(str_tag("otel.status_code", "ERROR"));
            tags.push(UiKeyValue {
                key: "error".into(),
                value_type: "bool",
                value: Value::Bool(true),
            });
        }
        StatusCode::Ok => tags.push(str_tag("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    if !s.status.message.is_empty() {
        tags.push(str_tag("otel.status_description", &s.status.message));
    }
    if !s.trace_state.is_empty() {
        tags.push(str_tag("w3c.tracestate", &s.trace_state));
    }

    let mut references = Vec::with_capacity(s.links.len() + 1);
    if let Some(p) = s.parent_span_id {
        references.push(UiReference {
            ref_type: "CHILD_OF",
            trace_id: trace_id.clone(),
            span_id: span_id_string(&p),
        });
    }
    for l in &s.links {
        let ref_type = match l
            .attributes
            .iter()
            .find(|a| a.key == "opentracing.ref_type")
        {
            Some(a) if a.value.as_str() == Some("child_of") => "CHILD_OF",
            _ => "FOLLOWS_FROM",
        };
        if s.parent_span_id == Some(l.span_id) && l.trace_id == s.trace_id {
            references[0].ref_type = ref_type;
            continue;
        }
        references.push(UiReference {
            ref_type,
            trace_id: trace_id_string(&l.trace_id),
            span_id: span_id_string(&l.span_id),
        });
    }

    let logs = s
        .events
        .iter()
        .map(|e| {
            let mut fields = Vec::with_capacity(e.attributes.len() + 1);
            if !e.name.is_empty() && !e.attributes.iter().any(|a| a.key == "event") {
                fields.push(str_tag("event", &e.name));
            }
            fields.extend(e.attributes.iter().map(|a| tag(a.key.clone(), &a.value)));
            UiLog {
                timestamp: micros(e.time_unix_nano),
                fields,
            }
        })
        .collect();

    UiSpan {
        trace_id,
        span_id: span_id_string(&s.span_id),
        flags: 0,
        operation_name: s.name.to_string(),
        references,
        start_time: micros(s.start_time_unix_nano),
        duration: micros(s.duration_nanos()),
        tags,
        logs,
        process_id,
        warnings,
    }
}

/// The OTLP/JSON of a trace as Jaeger's `/api/v3` returns it (warnings stay in the
/// [`WARNINGS_ATTRIBUTE`] span attribute).
pub fn otlp_json(b: &Batch) -> Value {
    encode_traces_data_value(b)
}

// ---------------------------------------------------------------------------------------------
// /api/v3/trace-summaries

/// The `api_v3.TraceSummary` of a trace in proto3 JSON (zero fields omitted, 64-bit times as
/// strings), as Jaeger's `summarizeTrace` computes it: root = the earliest span without a
/// parent; orphans = spans whose parent is not in the trace; services sorted by name.
pub fn trace_summary_v3(b: &Batch) -> Value {
    #[derive(Default)]
    struct Svc {
        spans: u64,
        errors: u64,
    }
    let ids: HashSet<SpanId> = b.spans().map(|s| s.span.span_id).collect();
    let mut services: BTreeMap<String, Svc> = BTreeMap::new();
    let (mut root, mut root_start): (Option<(String, String)>, u64) = (None, u64::MAX);
    let (mut min_start, mut max_end) = (u64::MAX, 0u64);
    let (mut total, mut errors, mut orphans) = (0u64, 0u64, 0u64);
    let mut trace_id = None;
    for s in b.spans() {
        trace_id.get_or_insert(s.span.trace_id);
        let svc = s
            .resource
            .attribute(weft_model::SERVICE_NAME)
            .and_then(AnyValue::as_str)
            .unwrap_or("")
            .to_string();
        let e = services.entry(svc.clone()).or_default();
        e.spans += 1;
        total += 1;
        if s.span.is_error() {
            e.errors += 1;
            errors += 1;
        }
        min_start = min_start.min(s.span.start_time_unix_nano);
        max_end = max_end.max(s.span.end_time_unix_nano);
        match s.span.parent_span_id {
            None => {
                if root.is_none() || s.span.start_time_unix_nano < root_start {
                    root = Some((svc, s.span.name.to_string()));
                    root_start = s.span.start_time_unix_nano;
                }
            }
            Some(p) if !ids.contains(&p) => orphans += 1,
            Some(_) => {}
        }
    }
    let mut m = serde_json::Map::new();
    if let Some(t) = trace_id {
        m.insert("traceId".into(), Value::String(t.to_hex()));
    }
    let (root_svc, root_name) = root.unwrap_or_default();
    let put_str = |m: &mut serde_json::Map<String, Value>, k: &str, v: String| {
        if !v.is_empty() {
            m.insert(k.into(), Value::String(v));
        }
    };
    put_str(&mut m, "rootServiceName", root_svc);
    put_str(&mut m, "rootOperationName", root_name);
    if total > 0 {
        put_str(&mut m, "minStartTimeUnixNano", nonzero(min_start));
        put_str(&mut m, "maxEndTimeUnixNano", nonzero(max_end));
    }
    let put_n = |m: &mut serde_json::Map<String, Value>, k: &str, v: u64| {
        if v != 0 {
            m.insert(k.into(), Value::from(v));
        }
    };
    put_n(&mut m, "spanCount", total);
    put_n(&mut m, "errorSpanCount", errors);
    put_n(&mut m, "orphanSpanCount", orphans);
    let svcs: Vec<Value> = services
        .into_iter()
        .map(|(name, s)| {
            let mut o = serde_json::Map::new();
            if !name.is_empty() {
                o.insert("name".into(), Value::String(name));
            }
            put_n(&mut o, "spanCount", s.spans);
            put_n(&mut o, "errorSpanCount", s.errors);
            Value::Object(o)
        })
        .collect();
    m.insert("services".into(), Value::Array(svcs));
    Value::Object(m)
}

fn nonzero(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_like_jaeger() {
        let check = |input: &str, expect: Result<Option<&str>, &str>| {
            let got = parse_trace_id(input).map(|o| o.map(|t| t.to_hex()));
            match (got, expect) {
                (Ok(g), Ok(w)) => assert_eq!(g.as_deref(), w, "{input}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{input}: {g}"),
                (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
            }
        };
        check("1", Ok(Some("00000000000000000000000000000001")));
        check("123456aBC", Ok(Some("00000000000000000000000123456abc")));
        check(
            "83a9efd15c1c98a977e0711cc93ee28b",
            Ok(Some("83a9efd15c1c98a977e0711cc93ee28b")),
        );
        check(
            "ff0000000000000001",
            Ok(Some("00000000000000ff0000000000000001")),
        );
        check("0", Ok(None));
        check(
            "AAAAAAAAAAAAAAAAAAAAAQ==",
            Ok(Some("00000000000000000000000000000001")),
        );
        check(
            "AAAAAAAAAP///////////w==",
            Ok(Some("00000000000000ffffffffffffffffff")),
        );
        check(
            "EjRWeJq83vD-3LqYdlQyEA",
            Ok(Some("123456789abcdef0fedcba9876543210")),
        );
        check(
            "0123456789abcdef0123456789abcdef0",
            Err("TraceID cannot be longer than 32 hex characters"),
        );
        check("", Err("invalid length for TraceID"));
        check(
            "xyz!",
            Err("strconv.ParseUint: parsing \"xyz!\": invalid syntax"),
        );
        check("AAA=", Err("invalid length for TraceID"));
    }

    #[test]
    fn trace_id_strings_like_jaeger() {
        let mut id = [0u8; 16];
        id[15] = 1;
        assert_eq!(trace_id_string(&TraceId(id)), "0000000000000001");
        id[0] = 0x83;
        assert_eq!(
            trace_id_string(&TraceId(id)),
            "83000000000000000000000000000001"
        );
    }

    #[test]
    fn go_durations() {
        for (n, s) in [
            (0, "0s"),
            (5, "5ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (-250_000_000, "-250ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
        ] {
            assert_eq!(go_duration_string(n), s, "{n}");
        }
    }

    #[test]
    fn go_json_of_collections() {
        let v = AnyValue::Array(vec![
            AnyValue::String("a<b".into()),
            AnyValue::Int(2),
            AnyValue::Bool(false),
            AnyValue::Double(1e21),
            AnyValue::Double(0.5),
            AnyValue::Double(3.0),
            AnyValue::Bytes(vec![0, 0, 48, 57]),
        ]);
        assert_eq!(
            as_string(&v),
            r#"["a\u003cb",2,false,1e+21,0.5,3,"AAAwOQ=="]"#
        );
        let m = AnyValue::KvList(vec![
            KeyValue::new("z", AnyValue::Double(-0.5)),
            KeyValue::new("a", AnyValue::String("x".into())),
        ]);
        assert_eq!(as_string(&m), r#"{"a":"x","z":-0.5}"#);
        assert_eq!(as_string(&AnyValue::Double(72.5)), "72.5");
        assert_eq!(as_string(&AnyValue::Double(1e21)), "1e+21");
        assert_eq!(as_string(&AnyValue::Double(1e-7)), "1e-7");
    }
}
