//! The critical path: the chain of work that set a trace's end-to-end latency.
//!
//! The algorithm is the one of Jaeger UI's critical path and Uber's CRISP. Start at the end of
//! the root span and walk backwards in time. At each point take the child that finished last
//! before the cursor, descend into it (its own critical path, walked the same way), and move
//! the cursor to that child's start. The stretches in between, where no child was running to
//! completion, are the parent's own contribution.
//!
//! Every child is first clipped to its (already clipped) parent's interval, so an async child
//! that outlives its parent, or one that starts too early because of a skewed clock, only
//! counts inside the parent. Among children that end at the same instant the longer one
//! (earlier start) is taken, since the parent was waiting for it all along. Zero-length
//! children set no latency and are never taken. A child that ends exactly when the cursor
//! stands (sequential children back to back) counts as finishing before it.
//!
//! The path runs over one root: the true root that ends last, or, when the trace has no true
//! root, the orphan that ends last. Its segments are disjoint, in time order, and their
//! lengths add up to that root's duration exactly.

use std::cmp::Reverse;

use weft_model::TraceTree;

/// A stretch of time during which one span's own work was on the critical path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Node index in the tree.
    pub node: usize,
    /// Unix nanoseconds, `start < end`.
    pub start: u64,
    pub end: u64,
}

/// A span on the critical path and how much of the latency its own work set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathSpan {
    pub node: usize,
    /// Sum of this span's segments; zero for a span the path only passes through (its
    /// children covered it entirely).
    pub contribution: u64,
}

/// The critical path of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriticalPath {
    /// The root the path runs over; `None` for an empty trace.
    pub root: Option<usize>,
    /// Segments in time order.
    pub segments: Vec<Segment>,
    /// Every span the path passes through, in tree pre-order (the root first).
    pub spans: Vec<PathSpan>,
}

impl CriticalPath {
    /// The root's duration, which the segments add up to.
    pub fn total(&self) -> u64 {
        self.segments.iter().map(|s| s.end - s.start).sum()
    }
}

/// The root a critical path runs over: among true roots the one that ends last (the earliest
/// of those on a tie); among orphans when there is no true root.
pub fn path_root(tree: &TraceTree<'_>) -> Option<usize> {
    let pick = |orphans: bool| {
        tree.roots
            .iter()
            .copied()
            .filter(|&r| tree.nodes[r].missing_parent == orphans)
            // roots are in start order; `max_by_key` keeps the last maximum, so reverse
            .rev()
            .max_by_key(|&r| tree.nodes[r].end())
    };
    pick(false).or_else(|| pick(true))
}

struct Frame {
    node: usize,
    lo: u64,
    cursor: u64,
    /// Clipped children `(end, start, node)`: by end descending, then start ascending.
    kids: Vec<(u64, u64, usize)>,
    next: usize,
}

fn frame(tree: &TraceTree<'_>, node: usize, lo: u64, hi: u64) -> Frame {
    let mut kids: Vec<(u64, u64, usize)> = tree.nodes[node]
        .children
        .iter()
        .filter_map(|&c| {
            let n = &tree.nodes[c];
            let (cs, ce) = (n.start().clamp(lo, hi), n.end().clamp(lo, hi));
            (ce > cs).then_some((ce, cs, c))
        })
        .collect();
    kids.sort_unstable_by_key(|&(e, s, c)| (Reverse(e), s, c));
    Frame {
        node,
        lo,
        cursor: hi,
        kids,
        next: 0,
    }
}

/// Computes the critical path of `tree` (see the module documentation).
pub fn critical_path(tree: &TraceTree<'_>) -> CriticalPath {
    let Some(root) = path_root(tree) else {
        return CriticalPath::default();
    };
    let r = &tree.nodes[root];
    let mut visited = vec![root];
    let mut segments = Vec::new();
    let mut stack = vec![frame(tree, root, r.start(), r.end())];
    while let Some(f) = stack.last_mut() {
        while f.next < f.kids.len() && f.kids[f.next].0 > f.cursor {
            f.next += 1;
        }
        if let Some(&(ce, cs, c)) = f.kids.get(f.next) {
            f.next += 1;
            if f.cursor > ce {
                segments.push(Segment {
                    node: f.node,
                    start: ce,
                    end: f.cursor,
                });
            }
            f.cursor = cs;
            visited.push(c);
            stack.push(frame(tree, c, cs, ce));
        } else {
            if f.cursor > f.lo {
                segments.push(Segment {
                    node: f.node,
                    start: f.lo,
                    end: f.cursor,
                });
            }
            stack.pop();
        }
    }
    segments.reverse();
    let mut contribution = vec![0u64; tree.len()];
    for s in &segments {
        contribution[s.node] += s.end - s.start;
    }
    let mut on_path = vec![false; tree.len()];
    for v in visited {
        on_path[v] = true;
    }
    let spans = tree
        .preorder()
        .into_iter()
        .filter(|&n| on_path[n])
        .map(|node| PathSpan {
            node,
            contribution: contribution[node],
        })
        .collect();
    CriticalPath {
        root: Some(root),
        segments,
        spans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{name, trace, MS};

    /// `expect`: the segments as `span start end` (ms), in time order; then the spans on the
    /// path with their contribution (ms), root first.
    fn check(text: &str, segments: &[(&str, f64, f64)], spans: &[(&str, f64)]) {
        let b = trace(text);
        let t = TraceTree::new(&b);
        let p = critical_path(&t);
        let ns = |ms: f64| (ms * MS as f64).round() as u64;
        let got: Vec<(String, u64, u64)> = p
            .segments
            .iter()
            .map(|s| (name(t.nodes[s.node].span_id()), s.start, s.end))
            .collect();
        let want: Vec<(String, u64, u64)> = segments
            .iter()
            .map(|(n, s, e)| (n.to_string(), ns(*s), ns(*e)))
            .collect();
        assert_eq!(got, want, "segments of\n{text}");
        let got: Vec<(String, u64)> = p
            .spans
            .iter()
            .map(|s| (name(t.nodes[s.node].span_id()), s.contribution))
            .collect();
        let want: Vec<(String, u64)> = spans.iter().map(|(n, c)| (n.to_string(), ns(*c))).collect();
        assert_eq!(got, want, "path spans of\n{text}");
        let root = &t.nodes[p.root.expect("a root")];
        assert_eq!(p.total(), root.duration(), "contributions sum to the root");
        assert_eq!(
            p.spans.iter().map(|s| s.contribution).sum::<u64>(),
            root.duration()
        );
    }

    #[test]
    fn sequential_children_with_gaps() {
        check(
            "root a - 0 100
             c1   b root 10 30
             c2   b root 30 70",
            &[
                ("root", 0.0, 10.0),
                ("c1", 10.0, 30.0),
                ("c2", 30.0, 70.0),
                ("root", 70.0, 100.0),
            ],
            &[("root", 40.0), ("c1", 20.0), ("c2", 40.0)],
        );
    }

    #[test]
    fn overlapping_children_take_the_last_to_finish() {
        // c2 finishes last; c1 ends after c2 started, so it is off the path; c0 finished
        // before c2 started and is on it
        check(
            "root a - 0 100
             c0   b root 0 15
             c1   b root 10 60
             c2   b root 20 80",
            &[
                ("c0", 0.0, 15.0),
                ("root", 15.0, 20.0),
                ("c2", 20.0, 80.0),
                ("root", 80.0, 100.0),
            ],
            &[("root", 25.0), ("c0", 15.0), ("c2", 60.0)],
        );
    }

    #[test]
    fn async_fan_out_is_clipped_to_the_parent() {
        // the parent fires three workers and returns after 10 ms; the workers run on
        check(
            "root gw - 0 10
             w1   wk root 2 300
             w2   wk root 4 200
             w3   wk root 6 9
             w1a  wk w1 5 250",
            &[("root", 0.0, 2.0), ("w1", 2.0, 5.0), ("w1a", 5.0, 10.0)],
            &[("root", 2.0), ("w1", 3.0), ("w1a", 5.0)],
        );
    }

    #[test]
    fn equal_ends_prefer_the_longer_child() {
        check(
            "root a - 0 100
             short b root 50 90
             long  b root 10 90",
            &[
                ("root", 0.0, 10.0),
                ("long", 10.0, 90.0),
                ("root", 90.0, 100.0),
            ],
            &[("root", 20.0), ("long", 80.0)],
        );
    }

    #[test]
    fn nested_path_and_pass_through_spans() {
        // `mid` is covered entirely by `leaf`: on the path with no contribution of its own
        check(
            "root a - 0 100
             mid  b root 20 60
             leaf c mid 20 60
             side b root 5 15",
            &[
                ("root", 0.0, 5.0),
                ("side", 5.0, 15.0),
                ("root", 15.0, 20.0),
                ("leaf", 20.0, 60.0),
                ("root", 60.0, 100.0),
            ],
            &[("root", 50.0), ("side", 10.0), ("mid", 0.0), ("leaf", 40.0)],
        );
    }

    #[test]
    fn zero_length_spans() {
        check(
            "root a - 0 10
             z1   a root 10 10
             z2   a root 5 5",
            &[("root", 0.0, 10.0)],
            &[("root", 10.0)],
        );
        check("root a - 5 5", &[], &[("root", 0.0)]);
    }

    #[test]
    fn several_roots_take_the_one_that_ends_last() {
        check(
            "r1 a - 0 50
             r2 a - 10 80
             c  b r2 20 30",
            &[("r2", 10.0, 20.0), ("c", 20.0, 30.0), ("r2", 30.0, 80.0)],
            &[("r2", 60.0), ("c", 10.0)],
        );
    }

    #[test]
    fn orphans_stay_off_the_path_unless_there_is_no_root() {
        check(
            "root a - 0 50
             o1   b gone 10 90",
            &[("root", 0.0, 50.0)],
            &[("root", 50.0)],
        );
        check(
            "o1 b gone 10 90
             o2 b gone2 0 40
             c  c o1 20 30",
            &[("o1", 10.0, 20.0), ("c", 20.0, 30.0), ("o1", 30.0, 90.0)],
            &[("o1", 70.0), ("c", 10.0)],
        );
    }

    #[test]
    fn duplicate_ids_keep_the_first_span() {
        check(
            "root a - 0 100
             c    b root 10 20
             c    b root 30 90",
            &[
                ("root", 0.0, 10.0),
                ("c", 10.0, 20.0),
                ("root", 20.0, 100.0),
            ],
            &[("root", 90.0), ("c", 10.0)],
        );
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        let mut text = String::from("s0 a - 0 200000\n");
        for i in 1..100_000 {
            text.push_str(&format!("s{i} a s{} {i} 200000\n", i - 1));
        }
        let b = trace(&text);
        let t = TraceTree::new(&b);
        let p = critical_path(&t);
        assert_eq!(p.spans.len(), 100_000);
        assert_eq!(p.total(), 200_000 * MS);
    }
}
