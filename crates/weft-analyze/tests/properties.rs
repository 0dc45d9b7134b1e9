//! Properties of the analyses on arbitrary trees: async children, overlaps, zero-length
//! spans, missing parents, several roots and duplicate ids all arise.

use std::sync::Arc;

use proptest::prelude::*;
use weft_analyze::{
    adjust_clock_skew, analyze, compare, critical_path, self_times, CompareOptions, Options,
    RowStatus, ServiceGraph,
};
use weft_model::{
    AnyValue, Batch, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, TraceId,
    TraceTree,
};

/// Timestamps start here, so that no shift can push one below zero.
const BASE: u64 = 1_000_000;

/// (parent choice, start, length, service, id reuse)
type Raw = (u8, u16, u16, u8, u8);

fn batch(raw: &[Raw]) -> Batch {
    let resources: Vec<Arc<Resource>> = ["a", "b", "c"]
        .iter()
        .map(|s| {
            Arc::new(Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String(s.to_string().into()),
                )],
                ..Default::default()
            })
        })
        .collect();
    let mut groups: Vec<Vec<Span>> = vec![Vec::new(); 3];
    let sid = |i: usize| SpanId((i as u64 + 1).to_be_bytes());
    for (i, &(parent, start, len, service, reuse)) in raw.iter().enumerate() {
        // mostly a real earlier parent; sometimes none (a root) or a missing one (an orphan)
        let parent_span_id = match parent % 10 {
            0 => None,
            1 => Some(SpanId([0xee; 8])),
            _ if i == 0 => None,
            p => Some(sid((p as usize * 7 + start as usize) % i)),
        };
        // one span in 20 reuses an earlier id
        let id = if reuse % 20 == 0 && i > 0 {
            sid(reuse as usize % i)
        } else {
            sid(i)
        };
        let len = if len % 5 == 0 { 0 } else { len };
        groups[service as usize % 3].push(Span {
            trace_id: TraceId([1; 16]),
            span_id: id,
            parent_span_id,
            name: format!("op{}", start % 3).into(),
            start_time_unix_nano: BASE + start as u64,
            end_time_unix_nano: BASE + start as u64 + len as u64,
            ..Default::default()
        });
    }
    Batch {
        resource_spans: resources
            .into_iter()
            .zip(groups)
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(resource, spans)| ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    scope: Arc::new(Scope::default()),
                    spans,
                }],
            })
            .collect(),
    }
}

fn raw_trace() -> impl Strategy<Value = Vec<Raw>> {
    proptest::collection::vec(
        (any::<u8>(), 0u16..200, 0u16..120, any::<u8>(), any::<u8>()),
        1..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn self_time_is_the_uncovered_part_of_the_span(raw in raw_trace()) {
        let b = batch(&raw);
        let t = TraceTree::new(&b);
        let st = self_times(&t);
        for (i, n) in t.nodes.iter().enumerate() {
            prop_assert!(st[i] <= n.duration());
            // oracle: count the nanoseconds of the span that no child covers
            let uncovered = (n.start()..n.end())
                .filter(|&x| !n.children.iter().any(|&c| {
                    let c = &t.nodes[c];
                    c.start() <= x && x < c.end()
                }))
                .count() as u64;
            prop_assert_eq!(st[i], uncovered);
        }
    }

    #[test]
    fn critical_path_segments_tile_the_root(raw in raw_trace()) {
        let b = batch(&raw);
        let t = TraceTree::new(&b);
        let p = critical_path(&t);
        let root = &t.nodes[p.root.expect("a non-empty trace has a path root")];
        let mut at = root.start();
        for s in &p.segments {
            // ordered, disjoint, no gaps, never empty
            prop_assert_eq!(s.start, at);
            prop_assert!(s.start < s.end);
            at = s.end;
            // inside its own span, which is on the path
            let n = &t.nodes[s.node];
            prop_assert!(n.start() <= s.start && s.end <= n.end());
            prop_assert!(p.spans.iter().any(|x| x.node == s.node));
        }
        prop_assert_eq!(at, if p.segments.is_empty() { root.start() } else { root.end() });
        prop_assert_eq!(p.total(), root.duration());
        prop_assert_eq!(p.spans.iter().map(|s| s.contribution).sum::<u64>(), root.duration());
        prop_assert_eq!(p.spans[0].node, p.root.unwrap());
        // a span on the path is the root or has its parent on the path
        for s in &p.spans[1..] {
            let parent = t.nodes[s.node].parent.expect("only the root has no parent");
            prop_assert!(p.spans.iter().any(|x| x.node == parent));
        }
    }

    #[test]
    fn whole_analysis_holds_together(raw in raw_trace()) {
        let b = batch(&raw);
        let a = analyze(&b, &Options::default());
        prop_assert_eq!(a.spans.len() + a.duplicates, b.span_count());
        let json = a.to_json();
        prop_assert_eq!(json["spanCount"].as_u64(), Some(a.spans.len() as u64));
        let t = TraceTree::new(&b);
        let g = ServiceGraph::of_trace(&t);
        let crossing = t.nodes.iter().filter(|n| {
            n.parent.is_some_and(|p| t.nodes[p].service() != n.service())
        }).count() as u64;
        prop_assert_eq!(g.edges.iter().map(|e| e.calls).sum::<u64>(), crossing);
        let c = compare(&b, &b, &CompareOptions::default());
        prop_assert!(c.rows.iter().all(|r| r.status == RowStatus::Same));
        prop_assert_eq!(c.rows.len(), t.len());
    }

    #[test]
    fn skew_shifts_stay_within_the_bound(raw in raw_trace(), bound in 0u64..150) {
        let b = batch(&raw);
        let (out, report) = adjust_clock_skew(&b, bound);
        prop_assert_eq!(out.span_count(), b.span_count());
        for s in &report.adjustments {
            prop_assert!(s.shift_nanos.unsigned_abs() <= bound);
        }
        for s in &report.skipped {
            prop_assert!(s.shift_nanos.unsigned_abs() > bound);
        }
        // durations never change
        let before: Vec<u64> = b.spans().map(|s| s.span.duration_nanos()).collect();
        let after: Vec<u64> = out.spans().map(|s| s.span.duration_nanos()).collect();
        prop_assert_eq!(before, after);
    }
}
