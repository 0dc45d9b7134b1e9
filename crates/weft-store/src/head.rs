//! The head block: every span acknowledged since the last cut, in memory, indexed by trace.

use crate::terms::value_matches;
use crate::{SearchQuery, SpanFacts};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;
use weft_model::{AnyValue, Batch, FlatSpan, KeyValue, Resource, Scope, TraceId, TraceSummary};

pub(crate) struct Head {
    pub spans: Vec<FlatSpan>,
    /// trace ids come from clients: ahash, which is fast and resists crafted collisions
    by_trace: HashMap<TraceId, Vec<u32>, ahash::RandomState>,
    resources: HashMap<u64, Vec<Arc<Resource>>>,
    scopes: HashMap<u64, Vec<Arc<Scope>>>,
    pub min_start: u64,
    pub max_start: u64,
    pub created: Instant,
    /// Rough in-memory size, for backpressure.
    pub approx_bytes: usize,
}

impl Head {
    pub fn new() -> Head {
        Head {
            spans: Vec::new(),
            by_trace: HashMap::default(),
            resources: HashMap::new(),
            scopes: HashMap::new(),
            min_start: u64::MAX,
            max_start: 0,
            created: Instant::now(),
            approx_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn push_batch(&mut self, mut batch: Batch) {
        // equal resources and scopes from different requests share one allocation: less
        // memory, and a block cut from the head encodes each distinct resource once
        for rs in &mut batch.resource_spans {
            rs.resource = intern(&mut self.resources, &rs.resource, resource_key);
            for ss in &mut rs.scope_spans {
                ss.scope = intern(&mut self.scopes, &ss.scope, scope_key);
            }
        }
        for fs in batch.into_flat() {
            let s = &fs.span;
            self.min_start = self.min_start.min(s.start_time_unix_nano);
            self.max_start = self.max_start.max(s.start_time_unix_nano);
            self.approx_bytes += approx_size(&fs);
            let idx = self.spans.len() as u32;
            self.by_trace.entry(s.trace_id).or_default().push(idx);
            self.spans.push(fs);
        }
    }

    pub fn trace(&self, id: &TraceId) -> Vec<FlatSpan> {
        self.by_trace
            .get(id)
            .map(|ix| ix.iter().map(|&i| self.spans[i as usize].clone()).collect())
            .unwrap_or_default()
    }

    pub fn summary(&self, id: &TraceId) -> Option<TraceSummary> {
        let ix = self.by_trace.get(id)?;
        let mut s = TraceSummary::new(*id);
        for &i in ix {
            s.add_span(&self.spans[i as usize]);
        }
        Some(s)
    }

    /// (trace id, span start) of spans that satisfy `q`.
    pub fn search(&self, q: &SearchQuery, out: &mut Vec<(TraceId, u64)>) {
        if let (Some(s), true) = (q.start_unix_nano, self.max_start != 0) {
            if self.max_start < s {
                return;
            }
        }
        if let Some(e) = q.end_unix_nano {
            if self.min_start > e {
                return;
            }
        }
        for fs in &self.spans {
            if span_matches(q, fs) {
                out.push((fs.span.trace_id, fs.span.start_time_unix_nano));
            }
        }
    }
}

pub(crate) fn span_matches(q: &SearchQuery, fs: &FlatSpan) -> bool {
    let s = &fs.span;
    let facts = SpanFacts {
        service: fs.resource.service_name(),
        name: &s.name,
        start: s.start_time_unix_nano,
        duration: s.duration_nanos(),
        error: s.is_error(),
    };
    q.matches_facts(&facts)
        && q.attributes.iter().all(|(k, v)| {
            attr_matches(&s.attributes, k, v) || attr_matches(&fs.resource.attributes, k, v)
        })
}

fn attr_matches(attrs: &[KeyValue], key: &str, text: &str) -> bool {
    attrs
        .iter()
        .any(|kv| kv.key == key && value_matches(&kv.value, text))
}

/// The shared allocation equal to `x`, registering `x` when it is new. `key` hashes what
/// equality compares (collisions only cost a comparison).
fn intern<T: PartialEq>(
    table: &mut HashMap<u64, Vec<Arc<T>>>,
    x: &Arc<T>,
    key: fn(&T) -> u64,
) -> Arc<T> {
    let bucket = table.entry(key(x)).or_default();
    if let Some(same) = bucket.iter().find(|y| Arc::ptr_eq(y, x) || ***y == **x) {
        return same.clone();
    }
    bucket.push(x.clone());
    x.clone()
}

fn hash_attributes<H: Hasher>(attrs: &[KeyValue], h: &mut H) {
    fn value<H: Hasher>(v: &AnyValue, h: &mut H) {
        match v {
            AnyValue::Empty => 0u8.hash(h),
            AnyValue::String(s) => s.hash(h),
            AnyValue::Bool(b) => b.hash(h),
            AnyValue::Int(i) => i.hash(h),
            AnyValue::Double(d) => d.to_bits().hash(h),
            AnyValue::Bytes(b) => b.hash(h),
            AnyValue::Array(a) => a.iter().for_each(|x| value(x, h)),
            AnyValue::KvList(kv) => hash_attributes(kv, h),
        }
    }
    for kv in attrs {
        kv.key.hash(h);
        value(&kv.value, h);
    }
}

fn resource_key(r: &Resource) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_attributes(&r.attributes, &mut h);
    r.schema_url.hash(&mut h);
    h.finish()
}

fn scope_key(s: &Scope) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.name.hash(&mut h);
    s.version.hash(&mut h);
    hash_attributes(&s.attributes, &mut h);
    h.finish()
}

fn approx_size(fs: &FlatSpan) -> usize {
    fn kv(a: &[KeyValue]) -> usize {
        a.iter().map(|k| k.key.len() + 32).sum()
    }
    let s = &fs.span;
    256 + s.name.len()
        + kv(&s.attributes)
        + s.events
            .iter()
            .map(|e| 64 + kv(&e.attributes))
            .sum::<usize>()
        + s.links
            .iter()
            .map(|l| 64 + kv(&l.attributes))
            .sum::<usize>()
}
