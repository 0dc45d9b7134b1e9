//! The fixture traces of tests/fixtures.txt (format described at the top of that file), and
//! the store's search semantics evaluated in memory.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use weft_model::{
    AnyValue, Batch, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span,
    SpanId, SpanKind, StatusCode, TraceId,
};
use weft_store::SearchQuery;

pub struct Fixture {
    pub label: String,
    pub batch: Batch,
}

pub struct Fixtures {
    pub traces: Vec<Fixture>,
    /// span id → span label
    pub labels: HashMap<SpanId, String>,
}

pub fn load() -> Fixtures {
    // relative to this file, so other crates' tests can include this module too
    parse_fixtures(include_str!("../fixtures.txt"))
}

/// Splits `a b="c d" [1, 2]` into words, keeping quoted strings and brackets whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    let mut depth = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_str => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_str = !in_str;
                cur.push(c);
            }
            '[' if !in_str => {
                depth += 1;
                cur.push(c);
            }
            ']' if !in_str => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && !in_str && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("expected a quoted string, got {s}"));
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

pub fn value(s: &str) -> AnyValue {
    if s.starts_with('"') {
        return AnyValue::String(unquote(s).into());
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return AnyValue::Array(
            inner
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(value)
                .collect(),
        );
    }
    match s {
        "true" => return AnyValue::Bool(true),
        "false" => return AnyValue::Bool(false),
        _ => {}
    }
    if s.contains('.') {
        AnyValue::Double(s.parse().unwrap_or_else(|_| panic!("bad double {s}")))
    } else {
        AnyValue::Int(s.parse().unwrap_or_else(|_| panic!("bad value {s}")))
    }
}

/// `key=value` (the key may be quoted: `"key with spaces"=value`).
fn key_value(w: &str) -> KeyValue {
    let (k, v) = if let Some(rest) = w.strip_prefix('"') {
        let end = rest.find('"').expect("closing quote of the key") + 1;
        (unquote(&w[..=end]), &w[end + 2..])
    } else {
        let (k, v) = w
            .split_once('=')
            .unwrap_or_else(|| panic!("expected key=value: {w}"));
        (k.to_string(), v)
    };
    KeyValue::new(k, value(v))
}

fn offset(s: &str) -> u64 {
    weft_model::duration::parse_duration_nanos(s).unwrap_or_else(|e| panic!("{e}"))
}

struct Pending {
    depth: usize,
    resource: String,
    scope: String,
    span: Span,
}

pub fn parse_fixtures(text: &str) -> Fixtures {
    let mut resources: HashMap<String, Arc<Resource>> = HashMap::new();
    let mut scopes: HashMap<String, Arc<weft_model::Scope>> = HashMap::new();
    let mut traces = Vec::new();
    let mut labels = HashMap::new();
    let mut cur: Cur = None;
    type Cur = Option<(String, TraceId, u64, Vec<Pending>)>;
    fn finish(
        cur: Cur,
        resources: &HashMap<String, Arc<Resource>>,
        scopes: &HashMap<String, Arc<Scope>>,
        traces: &mut Vec<Fixture>,
    ) {
        if let Some((label, _, _, spans)) = cur {
            let mut b = Batch::default();
            for p in spans {
                let r = resources[&p.resource].clone();
                let s = scopes[&p.scope].clone();
                let ri = match b
                    .resource_spans
                    .iter()
                    .position(|x| Arc::ptr_eq(&x.resource, &r))
                {
                    Some(i) => i,
                    None => {
                        b.resource_spans.push(ResourceSpans {
                            resource: r,
                            scope_spans: Vec::new(),
                        });
                        b.resource_spans.len() - 1
                    }
                };
                let rs = &mut b.resource_spans[ri];
                match rs
                    .scope_spans
                    .iter_mut()
                    .find(|x| Arc::ptr_eq(&x.scope, &s))
                {
                    Some(ss) => ss.spans.push(p.span),
                    None => rs.scope_spans.push(ScopeSpans {
                        scope: s,
                        spans: vec![p.span],
                    }),
                }
            }
            traces.push(Fixture { label, batch: b });
        }
    }
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = (line.len() - trimmed.len()) / 2;
        let w = words(trimmed);
        match w[0].as_str() {
            "resource" => {
                let attrs = w[2..].iter().map(|x| key_value(x)).collect();
                resources.insert(
                    w[1].clone(),
                    Arc::new(Resource {
                        attributes: attrs,
                        ..Default::default()
                    }),
                );
            }
            "scope" => {
                let mut s = Scope::default();
                for kv in w[2..].iter().map(|x| key_value(x)) {
                    match (kv.key.as_str(), &kv.value) {
                        ("name", AnyValue::String(v)) => s.name = v.to_string(),
                        ("version", AnyValue::String(v)) => s.version = v.to_string(),
                        _ => s.attributes.push(kv),
                    }
                }
                scopes.insert(w[1].clone(), Arc::new(s));
            }
            "trace" => {
                finish(cur.take(), &resources, &scopes, &mut traces);
                let mut id = None;
                let mut at = 0;
                for x in &w[2..] {
                    if let Some(v) = x.strip_prefix("id=") {
                        id = Some(TraceId::from_hex(v).expect("trace id"));
                    } else if let Some(v) = x.strip_prefix("at=") {
                        at = v.parse::<u64>().expect("at") * 1_000_000_000;
                    }
                }
                cur = Some((w[1].clone(), id.expect("trace id="), at, Vec::new()));
            }
            "span" => {
                let (_, tid, at, spans) = cur.as_mut().expect("span before trace");
                let trace_no = traces.len() as u32 + 1;
                let span_no = spans.len() as u32 + 1;
                let mut span = Span {
                    trace_id: *tid,
                    span_id: SpanId::from_hex(&format!("{trace_no:08x}{span_no:08x}")).unwrap(),
                    name: unquote(&w[4]).into(),
                    ..Default::default()
                };
                let mut explicit_parent = None;
                for x in &w[5..] {
                    if let Some(kv) = x.strip_prefix('@') {
                        span.attributes.push(key_value(kv));
                        continue;
                    }
                    let (k, v) = x
                        .split_once('=')
                        .unwrap_or_else(|| panic!("span field {x}"));
                    match k {
                        "kind" => {
                            span.kind = match v {
                                "server" => SpanKind::Server,
                                "client" => SpanKind::Client,
                                "producer" => SpanKind::Producer,
                                "consumer" => SpanKind::Consumer,
                                "internal" => SpanKind::Internal,
                                "unspecified" => SpanKind::Unspecified,
                                _ => panic!("kind {v}"),
                            }
                        }
                        "status" => {
                            span.status.code = match v {
                                "ok" => StatusCode::Ok,
                                "error" => StatusCode::Error,
                                _ => panic!("status {v}"),
                            }
                        }
                        "msg" => span.status.message = unquote(v),
                        "start" => span.start_time_unix_nano = *at + offset(v),
                        "dur" => span.end_time_unix_nano = span.start_time_unix_nano + offset(v),
                        "id" => span.span_id = SpanId::from_hex(v).unwrap(),
                        "parent" => explicit_parent = Some(SpanId::from_hex(v).unwrap()),
                        _ => panic!("unknown span field {k}"),
                    }
                }
                span.parent_span_id = explicit_parent.or_else(|| {
                    if depth == 0 {
                        None
                    } else {
                        spans
                            .iter()
                            .rev()
                            .find(|p| p.depth == depth - 1)
                            .map(|p| p.span.span_id)
                    }
                });
                labels.insert(span.span_id, w[1].clone());
                spans.push(Pending {
                    depth,
                    resource: w[2].clone(),
                    scope: w[3].clone(),
                    span,
                });
            }
            "event" => {
                let (_, _, at, spans) = cur.as_mut().expect("event before trace");
                let mut e = Event {
                    name: unquote(&w[1]),
                    ..Default::default()
                };
                for x in &w[2..] {
                    if let Some(kv) = x.strip_prefix('@') {
                        e.attributes.push(key_value(kv));
                    } else if let Some(v) = x.strip_prefix("at=") {
                        e.time_unix_nano = *at + offset(v);
                    }
                }
                spans
                    .last_mut()
                    .expect("event after a span")
                    .span
                    .events
                    .push(e);
            }
            "link" => {
                let (_, _, _, spans) = cur.as_mut().expect("link before trace");
                let mut l = Link::default();
                for x in &w[1..] {
                    if let Some(kv) = x.strip_prefix('@') {
                        l.attributes.push(key_value(kv));
                    } else if let Some(v) = x.strip_prefix("trace=") {
                        l.trace_id = TraceId::from_hex(v).unwrap();
                    } else if let Some(v) = x.strip_prefix("span=") {
                        l.span_id = SpanId::from_hex(v).unwrap();
                    }
                }
                spans
                    .last_mut()
                    .expect("link after a span")
                    .span
                    .links
                    .push(l);
            }
            other => panic!("unknown fixture line {other:?}"),
        }
    }
    finish(cur.take(), &resources, &scopes, &mut traces);
    Fixtures { traces, labels }
}

/// Whether the store would return this trace for `q` (head semantics: one span satisfies
/// every condition; attributes compare as text against the span's or the resource's value).
pub fn store_matches(q: &SearchQuery, b: &Batch) -> bool {
    b.spans().any(|r| {
        let s = r.span;
        let facts = weft_store::SpanFacts {
            service: r.resource.service_name(),
            name: &s.name,
            start: s.start_time_unix_nano,
            duration: s.duration_nanos(),
            error: s.is_error(),
        };
        q.matches_facts(&facts)
            && q.attributes.iter().all(|(k, v)| {
                let m = |attrs: &[KeyValue]| {
                    attrs
                        .iter()
                        .any(|kv| kv.key == *k && weft_store::terms::value_matches(&kv.value, v))
                };
                m(&s.attributes) || m(&r.resource.attributes)
            })
    })
}
