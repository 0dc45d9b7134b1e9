//! Trace comparison: what changed between two traces of the same request.
//!
//! Spans are aligned by their operation path, `service:name/service:name/...` from the root
//! down, plus their occurrence index among the spans of the trace that share that path (in
//! start order): the second `orders:SELECT` under `gateway:GET /checkout` in A is matched with
//! the second one in B. A span only in B is `added`, one only in A is `missing`; a matched span
//! is `slower` or `faster` when its duration changed by at least
//! [`CompareOptions::min_delta_ratio`] of its duration in A *and* at least
//! [`CompareOptions::min_delta_nanos`] (defaults: 10 % and 100 µs), otherwise `same`.
//!
//! Rows come in the order of the merged path tree: A's structure first (siblings in start
//! order), paths only B has after A's siblings; spans sharing a path by occurrence.

use std::collections::HashMap;

use serde_json::{json, Value};
use weft_model::{Batch, Resource, Span, SpanId, TraceId, TraceTree};

/// When a duration change counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompareOptions {
    /// Relative change, as a share of the span's duration in A (default 0.1).
    pub min_delta_ratio: f64,
    /// Absolute change in nanoseconds (default 100 µs).
    pub min_delta_nanos: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            min_delta_ratio: 0.1,
            min_delta_nanos: 100_000,
        }
    }
}

/// How a span changed from A to B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowStatus {
    Same,
    Added,
    Missing,
    Slower,
    Faster,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Same => "same",
            RowStatus::Added => "added",
            RowStatus::Missing => "missing",
            RowStatus::Slower => "slower",
            RowStatus::Faster => "faster",
        }
    }
}

/// One side of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Side {
    pub span_id: SpanId,
    pub duration_nanos: u64,
}

/// One aligned span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `service:name/service:name/...`
    pub path: String,
    /// Index among the spans of the same path (0 for the first).
    pub occurrence: usize,
    pub status: RowStatus,
    pub a: Option<Side>,
    pub b: Option<Side>,
    /// B's duration minus A's; a missing side counts as zero.
    pub delta_nanos: i64,
}

/// Counts per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub same: usize,
    pub added: usize,
    pub missing: usize,
    pub slower: usize,
    pub faster: usize,
}

/// The comparison of trace A with trace B.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    pub a: Option<TraceId>,
    pub b: Option<TraceId>,
    pub rows: Vec<Row>,
    pub summary: Summary,
}

/// Interned operation paths shared by both traces: (parent path, service, name) -> id.
#[derive(Default)]
struct Paths<'a> {
    ids: HashMap<(u32, &'a str, &'a str), u32>,
    /// per id: parent (u32::MAX for none), service, name
    info: Vec<(u32, &'a str, &'a str)>,
    children: Vec<Vec<u32>>,
    roots: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl<'a> Paths<'a> {
    fn intern(&mut self, parent: u32, service: &'a str, name: &'a str) -> u32 {
        if let Some(&id) = self.ids.get(&(parent, service, name)) {
            return id;
        }
        let id = self.info.len() as u32;
        self.ids.insert((parent, service, name), id);
        self.info.push((parent, service, name));
        self.children.push(Vec::new());
        if parent == NONE {
            self.roots.push(id);
        } else {
            self.children[parent as usize].push(id);
        }
        id
    }

    /// Path id of every node, and per path id the nodes in start (pre-)order.
    fn add(&mut self, tree: &TraceTree<'a>) -> HashMap<u32, Vec<usize>> {
        let mut path = vec![NONE; tree.len()];
        let mut by_path: HashMap<u32, Vec<usize>> = HashMap::new();
        for n in tree.preorder() {
            let node = &tree.nodes[n];
            let parent = node.parent.map_or(NONE, |p| path[p]);
            let resource: &'a Resource = node.span.resource;
            let span: &'a Span = node.span.span;
            let id = self.intern(parent, resource.service_name(), &span.name);
            path[n] = id;
            by_path.entry(id).or_default().push(n);
        }
        by_path
    }
}

fn trace_id(b: &Batch) -> Option<TraceId> {
    b.spans().next().map(|s| s.span.trace_id)
}

/// Compares trace A with trace B (see the module documentation).
pub fn compare(a: &Batch, b: &Batch, opts: &CompareOptions) -> Comparison {
    let ta = TraceTree::new(a);
    let tb = TraceTree::new(b);
    let mut paths = Paths::default();
    let in_a = paths.add(&ta);
    let in_b = paths.add(&tb);
    let side = |t: &TraceTree<'_>, n: usize| Side {
        span_id: t.nodes[n].span_id(),
        duration_nanos: t.nodes[n].duration(),
    };
    let mut rows = Vec::new();
    let mut summary = Summary::default();
    // path strings, built from the parent's (the walk below visits parents first)
    let mut rendered: Vec<String> = vec![String::new(); paths.info.len()];
    // depth-first over the path tree, children in creation order (A's first)
    let mut stack: Vec<u32> = paths.roots.iter().rev().copied().collect();
    while let Some(id) = stack.pop() {
        stack.extend(paths.children[id as usize].iter().rev().copied());
        let (parent, service, name) = paths.info[id as usize];
        let path = if parent == NONE {
            format!("{service}:{name}")
        } else {
            format!("{}/{service}:{name}", rendered[parent as usize])
        };
        rendered[id as usize] = path.clone();
        let empty = Vec::new();
        let xs = in_a.get(&id).unwrap_or(&empty);
        let ys = in_b.get(&id).unwrap_or(&empty);
        for k in 0..xs.len().max(ys.len()) {
            let sa = xs.get(k).map(|&n| side(&ta, n));
            let sb = ys.get(k).map(|&n| side(&tb, n));
            let da = sa.map_or(0, |s| s.duration_nanos) as i128;
            let db = sb.map_or(0, |s| s.duration_nanos) as i128;
            let delta = (db - da).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            let status = match (sa, sb) {
                (Some(_), None) => RowStatus::Missing,
                (None, _) => RowStatus::Added,
                (Some(x), Some(_)) => {
                    let threshold = (opts.min_delta_nanos as f64)
                        .max(opts.min_delta_ratio * x.duration_nanos as f64);
                    if delta != 0 && delta.unsigned_abs() as f64 >= threshold {
                        if delta > 0 {
                            RowStatus::Slower
                        } else {
                            RowStatus::Faster
                        }
                    } else {
                        RowStatus::Same
                    }
                }
            };
            match status {
                RowStatus::Same => summary.same += 1,
                RowStatus::Added => summary.added += 1,
                RowStatus::Missing => summary.missing += 1,
                RowStatus::Slower => summary.slower += 1,
                RowStatus::Faster => summary.faster += 1,
            }
            rows.push(Row {
                path: path.clone(),
                occurrence: k,
                status,
                a: sa,
                b: sb,
                delta_nanos: delta,
            });
        }
    }
    Comparison {
        a: trace_id(a),
        b: trace_id(b),
        rows,
        summary,
    }
}

impl Comparison {
    /// The JSON of `GET /api/v1/compare` (contract 4).
    pub fn to_json(&self) -> Value {
        let id = |t: Option<TraceId>| t.map(|t| t.to_hex());
        json!({
            "a": id(self.a),
            "b": id(self.b),
            "rows": self.rows.iter().map(|r| json!({
                "path": r.path,
                "occurrence": r.occurrence,
                "status": r.status.as_str(),
                "aSpanId": r.a.map(|s| s.span_id.to_hex()),
                "bSpanId": r.b.map(|s| s.span_id.to_hex()),
                "aDurationNanos": r.a.map(|s| s.duration_nanos.to_string()),
                "bDurationNanos": r.b.map(|s| s.duration_nanos.to_string()),
                "deltaNanos": r.delta_nanos.to_string(),
            })).collect::<Vec<_>>(),
            "summary": {
                "added": self.summary.added,
                "missing": self.summary.missing,
                "slower": self.summary.slower,
                "faster": self.summary.faster,
                "same": self.summary.same,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{name, trace, MS};

    /// Rows as `status path#occurrence a-span b-span delta-ms`.
    fn check(a: &str, b: &str, opts: CompareOptions, expect: &[&str]) {
        let (ba, bb) = (trace(a), trace(b));
        let c = compare(&ba, &bb, &opts);
        let got: Vec<String> = c
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{} {}#{} {} {} {}",
                    r.status.as_str(),
                    r.path,
                    r.occurrence,
                    r.a.map_or("-".into(), |s| name(s.span_id)),
                    r.b.map_or("-".into(), |s| name(s.span_id)),
                    r.delta_nanos as f64 / MS as f64
                )
            })
            .collect();
        assert_eq!(got, expect);
        let s = c.summary;
        assert_eq!(
            s.same + s.added + s.missing + s.slower + s.faster,
            c.rows.len()
        );
    }

    const A: &str = "
        r   gw  -  0 100 name=GET_/checkout
        q1  ord r  10 20 name=SELECT
        q2  ord r  20 30 name=SELECT
        c   pay r  30 60 name=charge
        f   pay c  31 35 name=fraud
    ";

    #[test]
    fn identical_traces_are_the_same() {
        check(
            A,
            A,
            CompareOptions::default(),
            &[
                "same gw:GET /checkout#0 r r 0",
                "same gw:GET /checkout/ord:SELECT#0 q1 q1 0",
                "same gw:GET /checkout/ord:SELECT#1 q2 q2 0",
                "same gw:GET /checkout/pay:charge#0 c c 0",
                "same gw:GET /checkout/pay:charge/pay:fraud#0 f f 0",
            ],
        );
    }

    #[test]
    fn added_missing_slower_faster() {
        let b = "
            R   gw  -  0 150 name=GET_/checkout
            Q1  ord R  10 20.5 name=SELECT
            Q2  ord R  20 25 name=SELECT
            Q3  ord R  25 35 name=SELECT
            C   pay R  35 100 name=charge
            X   pay C  36 40 name=retry
        ";
        check(
            A,
            b,
            CompareOptions::default(),
            &[
                "slower gw:GET /checkout#0 r R 50",
                // +0.5 ms is under 10 % of 10 ms
                "same gw:GET /checkout/ord:SELECT#0 q1 Q1 0.5",
                "faster gw:GET /checkout/ord:SELECT#1 q2 Q2 -5",
                "added gw:GET /checkout/ord:SELECT#2 - Q3 10",
                "slower gw:GET /checkout/pay:charge#0 c C 35",
                "missing gw:GET /checkout/pay:charge/pay:fraud#0 f - -4",
                "added gw:GET /checkout/pay:charge/pay:retry#0 - X 4",
            ],
        );
    }

    #[test]
    fn both_thresholds_apply() {
        let a = "r a - 0 0.05";
        let b = "r a - 0 0.1"; // +100 %, but only 50 µs
        check(a, b, CompareOptions::default(), &["same a:r#0 r r 0.05"]);
        check(
            a,
            b,
            CompareOptions {
                min_delta_ratio: 0.1,
                min_delta_nanos: 10_000,
            },
            &["slower a:r#0 r r 0.05"],
        );
        // 1 s -> 1.05 s is 50 ms but only 5 %
        check(
            "r a - 0 1000",
            "r a - 0 1050",
            CompareOptions::default(),
            &["same a:r#0 r r 50"],
        );
    }

    #[test]
    fn orphans_align_by_their_own_paths() {
        check(
            "o b gone 0 10",
            "p b gone2 0 10
             o b gone 0 30",
            CompareOptions::default(),
            &["slower b:o#0 o o 20", "added b:p#0 - p 10"],
        );
    }
}
