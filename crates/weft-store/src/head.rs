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
    /// each trace's last span (an index into `spans`); trace ids come from clients: ahash,
    /// which is fast and resists crafted collisions
    by_trace: HashMap<TraceId, u32, ahash::RandomState>,
    /// per span, the index of the span before it in the same trace ([`NONE`] for the first):
    /// a trace's spans are a chain from `by_trace`, so a new trace costs no allocation
    prev_in_trace: Vec<u32>,
    resources: HashMap<u64, Vec<Arc<Resource>>>,
    scopes: HashMap<u64, Vec<Arc<Scope>>>,
    pub min_start: u64,
    pub max_start: u64,
    pub created: Instant,
    /// Rough in-memory size, for backpressure.
    pub approx_bytes: usize,
}

/// A head's span table and trace index, emptied, for the next head: its spans then land in
/// pages already mapped instead of fresh ones the kernel must fault in and zero (the table of
/// a 250k-span head is some 65 MB, allocated apart from the heap and unmapped when freed).
#[derive(Default)]
pub(crate) struct Storage {
    spans: Vec<FlatSpan>,
    by_trace: HashMap<TraceId, u32, ahash::RandomState>,
    prev_in_trace: Vec<u32>,
}

/// The end of a trace's chain of spans.
const NONE: u32 = u32::MAX;

/// The most spans a new head reserves room for up front.
const MAX_RESERVED_SPANS: usize = 1 << 21;

impl Head {
    pub fn new() -> Head {
        Head::with_capacity(0, 0)
    }

    /// A head with room for `spans` spans of `traces` traces (the size of the head it
    /// follows, so that it does not regrow and rehash from nothing after every cut).
    pub fn with_capacity(spans: usize, traces: usize) -> Head {
        Head::with_storage(Storage::default(), spans, traces)
    }

    /// [`Self::with_capacity`] in `storage` (see [`Storage`]): the room it already has counts.
    pub fn with_storage(storage: Storage, spans: usize, traces: usize) -> Head {
        let spans = spans.min(MAX_RESERVED_SPANS);
        let Storage {
            spans: mut table,
            mut by_trace,
            mut prev_in_trace,
        } = storage;
        // all three are empty: `reserve` makes room for this many in all
        table.reserve(spans);
        prev_in_trace.reserve(spans);
        by_trace.reserve(traces.min(spans));
        Head {
            spans: table,
            by_trace,
            prev_in_trace,
            resources: HashMap::new(),
            scopes: HashMap::new(),
            min_start: u64::MAX,
            max_start: 0,
            created: Instant::now(),
            approx_bytes: 0,
        }
    }

    /// Drops the spans and keeps the memory they were in.
    pub fn into_storage(self) -> Storage {
        let Head {
            mut spans,
            mut by_trace,
            mut prev_in_trace,
            ..
        } = self;
        spans.clear();
        by_trace.clear();
        prev_in_trace.clear();
        Storage {
            spans,
            by_trace,
            prev_in_trace,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Adds a batch whose OTLP protobuf encoding is `encoded_bytes` long. The encoding's size
    /// counts toward [`Head::approx_bytes`]: it holds every string of the batch, and attribute
    /// values can be large (an LLM span's prompt and completion), so the memory limit holds
    /// for them too.
    pub fn push_batch(&mut self, mut batch: Batch, encoded_bytes: usize) {
        self.approx_bytes += encoded_bytes;
        // equal resources and scopes from different requests share one allocation: less
        // memory, and a block cut from the head encodes each distinct resource once
        for rs in &mut batch.resource_spans {
            rs.resource = intern(&mut self.resources, &rs.resource, resource_key);
            for ss in &mut rs.scope_spans {
                ss.scope = intern(&mut self.scopes, &ss.scope, scope_key);
            }
        }
        // each span moves from its request's vector straight into the head (flattening the
        // batch first copied every span once more, into a vector allocated per request)
        batch.for_each_flat(|fs| self.push(fs));
    }

    fn push(&mut self, fs: FlatSpan) {
        let s = &fs.span;
        self.min_start = self.min_start.min(s.start_time_unix_nano);
        self.max_start = self.max_start.max(s.start_time_unix_nano);
        self.approx_bytes += approx_size(&fs);
        let idx = self.spans.len() as u32;
        let prev = self.by_trace.insert(s.trace_id, idx).unwrap_or(NONE);
        self.prev_in_trace.push(prev);
        self.spans.push(fs);
    }

    /// The indexes of a trace's spans, in arrival order.
    fn trace_indexes(&self, id: &TraceId) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.by_trace.get(id).copied().unwrap_or(NONE);
        while at != NONE {
            out.push(at as usize);
            at = self.prev_in_trace[at as usize];
        }
        out.reverse();
        out
    }

    pub fn trace(&self, id: &TraceId) -> Vec<FlatSpan> {
        self.trace_indexes(id)
            .into_iter()
            .map(|i| self.spans[i].clone())
            .collect()
    }

    pub fn summary(&self, id: &TraceId) -> Option<TraceSummary> {
        let ix = self.trace_indexes(id);
        if ix.is_empty() {
            return None;
        }
        let mut s = TraceSummary::new(*id);
        for i in ix {
            s.add_span(&self.spans[i]);
        }
        Some(s)
    }

    /// How many traces the head holds.
    pub fn trace_count(&self) -> usize {
        self.by_trace.len()
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

/// A span's memory, roughly, beyond its strings (counted by its batch's encoded size, see
/// [`Head::push_batch`]): its table entry and its attribute entries. Reading each key's and
/// value's length instead made the WAL writer touch every attribute of every span, memory
/// another core had just written.
fn approx_size(fs: &FlatSpan) -> usize {
    const KV: usize = std::mem::size_of::<KeyValue>();
    let s = &fs.span;
    let rare = |n: usize, kvs: usize| n * 64 + kvs * KV;
    std::mem::size_of::<FlatSpan>()
        + s.attributes.len() * KV
        + if s.events.is_empty() {
            0
        } else {
            rare(
                s.events.len(),
                s.events.iter().map(|e| e.attributes.len()).sum(),
            )
        }
        + if s.links.is_empty() {
            0
        } else {
            rare(
                s.links.len(),
                s.links.iter().map(|l| l.attributes.len()).sum(),
            )
        }
}
