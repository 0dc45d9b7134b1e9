//! A trace as a tree: every span of one trace with its parent and children resolved.
//!
//! Real traces are not always well formed: a parent may be missing (not yet arrived, dropped,
//! sampled out), a span id may repeat, and a broken client can even produce a parent cycle.
//! [`TraceTree`] accepts all of that: a span whose parent is absent becomes a root and is
//! flagged [`Node::missing_parent`]; a repeated span id keeps its first occurrence (the others
//! are counted in [`TraceTree::duplicates`]); a cycle is broken at the span that closes it.
//! Children are ordered by start time, then span id, so every walk is deterministic.

use std::collections::HashMap;

use crate::{Batch, SpanId, SpanRef};

/// One span of a [`TraceTree`].
#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub span: SpanRef<'a>,
    /// Index of the parent node; `None` for a root (including a span whose parent is missing).
    pub parent: Option<usize>,
    /// Indexes of the child nodes, by start time.
    pub children: Vec<usize>,
    /// Distance from this span's root (roots have depth 0).
    pub depth: usize,
    /// The span names a parent that is not in the trace.
    pub missing_parent: bool,
}

impl Node<'_> {
    pub fn service(&self) -> &str {
        self.span.resource.service_name()
    }
    pub fn span_id(&self) -> SpanId {
        self.span.span.span_id
    }
    pub fn start(&self) -> u64 {
        self.span.span.start_time_unix_nano
    }
    /// End time, never before the start.
    pub fn end(&self) -> u64 {
        self.span.span.end_time_unix_nano.max(self.start())
    }
    pub fn duration(&self) -> u64 {
        self.span.span.duration_nanos()
    }
}

/// The spans of one trace, linked into a forest.
#[derive(Clone, Debug, Default)]
pub struct TraceTree<'a> {
    /// Every distinct span, ordered by start time then span id.
    pub nodes: Vec<Node<'a>>,
    /// Nodes without a parent in the trace, by start time: the true root first when there is
    /// one, then spans whose parent is missing.
    pub roots: Vec<usize>,
    /// Spans dropped because their span id was already taken.
    pub duplicates: usize,
    index: IdMap<usize>,
}

/// A fast hasher for span ids: their 8 bytes, xored with a per-process random seed and mixed
/// (clients choose span ids, so the seed keeps crafted ids from piling into one bucket).
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        h.finish()
    })
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let h = (self.0 ^ seed()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

type IdMap<V> = HashMap<SpanId, V, std::hash::BuildHasherDefault<IdHasher>>;

impl<'a> TraceTree<'a> {
    /// Builds the tree of the spans in `batch` (normally one whole trace).
    pub fn new(batch: &'a Batch) -> TraceTree<'a> {
        let spans: Vec<SpanRef<'a>> = batch.spans().collect();
        // The first occurrence (in input order) of each span id is the one kept.
        let mut first: IdMap<usize> =
            IdMap::with_capacity_and_hasher(spans.len(), Default::default());
        for (pos, s) in spans.iter().enumerate() {
            first.entry(s.span.span_id).or_insert(pos);
        }
        // sort small keys gathered once, not the spans behind pointers
        let mut order: Vec<(u64, SpanId, u32)> = spans
            .iter()
            .enumerate()
            .map(|(pos, s)| (s.span.start_time_unix_nano, s.span.span_id, pos as u32))
            .collect();
        order.sort_unstable();
        let mut index: IdMap<usize> =
            IdMap::with_capacity_and_hasher(spans.len(), Default::default());
        let mut nodes: Vec<Node<'a>> = Vec::with_capacity(spans.len());
        let mut duplicates = 0;
        for (_, id, pos) in order {
            if first[&id] != pos as usize {
                duplicates += 1;
                continue;
            }
            index.insert(id, nodes.len());
            nodes.push(Node {
                span: spans[pos as usize].clone(),
                parent: None,
                children: Vec::new(),
                depth: 0,
                missing_parent: false,
            });
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(p) = node.span.span.parent_span_id {
                match index.get(&p) {
                    Some(&pi) if pi != i => node.parent = Some(pi),
                    Some(_) => {} // a span that is its own parent is a root
                    None => node.missing_parent = true,
                }
            }
        }
        // Break cycles: walk each chain upwards; a node met twice on one walk closes a cycle,
        // and the node that closes it loses its parent.
        let mut state = vec![0u8; nodes.len()]; // 0 new, 1 on current walk, 2 done
        for start in 0..nodes.len() {
            let mut path: Vec<usize> = Vec::new();
            let mut cur = Some(start);
            while let Some(c) = cur {
                match state[c] {
                    2 => break,
                    1 => {
                        // `c` is on the current path: cut the edge that led back to it.
                        let last = *path.last().expect("a cycle has a previous node");
                        nodes[last].parent = None;
                        break;
                    }
                    _ => {
                        state[c] = 1;
                        path.push(c);
                        cur = nodes[c].parent;
                    }
                }
            }
            for p in path {
                state[p] = 2;
            }
        }
        let mut roots = Vec::new();
        let parents: Vec<Option<usize>> = nodes.iter().map(|n| n.parent).collect();
        for (i, parent) in parents.into_iter().enumerate() {
            match parent {
                Some(p) => nodes[p].children.push(i),
                None => roots.push(i),
            }
        }
        // Nodes are sorted by start, so children and roots already are; put true roots
        // before spans with a missing parent.
        roots.sort_by_key(|&r| nodes[r].missing_parent);
        let mut stack: Vec<(usize, usize)> = roots.iter().map(|&r| (r, 0)).collect();
        while let Some((n, d)) = stack.pop() {
            nodes[n].depth = d;
            stack.extend(nodes[n].children.iter().map(|&c| (c, d + 1)));
        }
        TraceTree {
            nodes,
            roots,
            duplicates,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// The node index of a span id.
    pub fn get(&self, id: SpanId) -> Option<usize> {
        self.index.get(&id).copied()
    }
    /// Node indexes in depth-first pre-order (parents before children, siblings by start):
    /// the order of a waterfall view.
    pub fn preorder(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev().copied());
        }
        out
    }
    /// The ancestors of a node, nearest first.
    pub fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.nodes[i].parent, move |&p| self.nodes[p].parent)
    }
    /// All descendants of a node, in pre-order.
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.nodes[i].children.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev().copied());
        }
        out
    }
    /// Earliest start and latest end over all spans; `(0, 0)` for an empty trace.
    pub fn bounds(&self) -> (u64, u64) {
        let start = self.nodes.iter().map(|n| n.start()).min().unwrap_or(0);
        let end = self.nodes.iter().map(|n| n.end()).max().unwrap_or(0);
        (start, end)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, TraceId};

    fn span(id: u8, parent: Option<u8>, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("s{id}").into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        }
    }

    fn batch(spans: Vec<Span>) -> Batch {
        Batch {
            resource_spans: vec![ResourceSpans {
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::new("service.name", AnyValue::String("a".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Arc::new(Scope::default()),
                    spans,
                }],
            }],
        }
    }

    fn names(t: &TraceTree<'_>, idx: &[usize]) -> Vec<String> {
        idx.iter()
            .map(|&i| t.nodes[i].span.span.name.to_string())
            .collect()
    }

    #[test]
    fn links_parents_and_orders_children_by_start() {
        let b = batch(vec![
            span(3, Some(1), 30, 40),
            span(1, None, 0, 100),
            span(2, Some(1), 10, 20),
            span(4, Some(2), 12, 15),
        ]);
        let t = TraceTree::new(&b);
        assert_eq!(names(&t, &t.preorder()), ["s1", "s2", "s4", "s3"]);
        assert_eq!(t.nodes[t.get(SpanId([4; 8])).unwrap()].depth, 2);
        assert_eq!(t.roots.len(), 1);
        assert_eq!(t.bounds(), (0, 100));
        let s4 = t.get(SpanId([4; 8])).unwrap();
        assert_eq!(
            names(&t, &t.ancestors(s4).collect::<Vec<_>>()),
            ["s2", "s1"]
        );
        assert_eq!(names(&t, &t.descendants(t.roots[0])), ["s2", "s4", "s3"]);
    }

    #[test]
    fn missing_parents_become_flagged_roots_after_the_true_root() {
        let b = batch(vec![span(2, Some(9), 0, 5), span(1, None, 3, 10)]);
        let t = TraceTree::new(&b);
        assert_eq!(names(&t, &t.roots), ["s1", "s2"]);
        assert!(t.nodes[t.get(SpanId([2; 8])).unwrap()].missing_parent);
        assert!(!t.nodes[t.get(SpanId([1; 8])).unwrap()].missing_parent);
    }

    #[test]
    fn duplicates_keep_the_first_and_cycles_are_broken() {
        let mut dup = span(1, None, 50, 60);
        dup.name = "dup".into();
        let b = batch(vec![
            span(1, None, 0, 100),
            dup,
            span(5, Some(6), 10, 20),
            span(6, Some(5), 11, 21),
            span(7, Some(7), 12, 13),
        ]);
        let t = TraceTree::new(&b);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.len(), 4);
        assert_eq!(t.nodes[t.get(SpanId([1; 8])).unwrap()].span.span.name, "s1");
        // Every node is reachable exactly once from the roots.
        let mut order = t.preorder();
        order.sort();
        assert_eq!(order, (0..t.len()).collect::<Vec<_>>());
    }
}
