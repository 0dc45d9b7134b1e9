//! Self time: the part of a span's duration that none of its children covers.

use weft_model::TraceTree;

/// Self time of every node of `tree`, indexed like `tree.nodes`.
///
/// A span's self time is its duration minus the union of its children's intervals, each
/// clipped to the span: overlapping children are not counted twice, and a child that outlives
/// its parent (async work) or starts before it (a skewed clock) only counts inside the parent's
/// interval. The result is never negative and never more than the span's duration.
pub fn self_times(tree: &TraceTree<'_>) -> Vec<u64> {
    tree.nodes
        .iter()
        .map(|n| {
            let (lo, hi) = (n.start(), n.end());
            // children are sorted by start, and clipping keeps that order
            let mut covered = 0u64;
            let mut reach = lo;
            for &c in &n.children {
                let c = &tree.nodes[c];
                let cs = c.start().clamp(lo, hi).max(reach);
                let ce = c.end().clamp(lo, hi);
                if ce > cs {
                    covered += ce - cs;
                    reach = ce;
                }
            }
            (hi - lo) - covered
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{id, trace, MS};

    /// `expect`: (span, self time in ms) for every span of the trace.
    fn check(text: &str, expect: &[(&str, f64)]) {
        let b = trace(text);
        let t = TraceTree::new(&b);
        let got = self_times(&t);
        for (name, ms) in expect {
            let i = t.get(id(name)).unwrap_or_else(|| panic!("no span {name}"));
            assert_eq!(
                got[i],
                (ms * MS as f64).round() as u64,
                "self time of {name} in\n{text}"
            );
        }
        assert_eq!(expect.len(), t.len(), "every span is checked");
    }

    #[test]
    fn sequential_children_with_gaps() {
        check(
            "root a - 0 100
             c1   a root 10 30
             c2   a root 40 70",
            &[("root", 50.0), ("c1", 20.0), ("c2", 30.0)],
        );
    }

    #[test]
    fn overlapping_children_count_once() {
        check(
            "root a - 0 100
             c1   b root 10 60
             c2   b root 20 50
             c3   b root 55 80",
            &[("root", 30.0), ("c1", 50.0), ("c2", 30.0), ("c3", 25.0)],
        );
    }

    #[test]
    fn async_children_only_count_inside_the_parent() {
        check(
            "root a - 5 15
             fire b root 10 505
             pre  b root 0 7",
            &[("root", 3.0), ("fire", 495.0), ("pre", 7.0)],
        );
    }

    #[test]
    fn zero_length_spans_and_nested_children() {
        check(
            "root a - 0 100
             z    a root 50 50
             c    a root 0 100
             g    a c 20 30",
            &[("root", 0.0), ("z", 0.0), ("c", 90.0), ("g", 10.0)],
        );
    }

    #[test]
    fn a_child_entirely_outside_the_parent_adds_nothing() {
        check(
            "root a - 0 10
             late b root 20 30",
            &[("root", 10.0), ("late", 10.0)],
        );
    }
}
