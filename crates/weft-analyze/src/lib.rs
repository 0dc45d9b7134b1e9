//! weft's trace analyses, as pure functions: a trace in, results out (no I/O, nothing async).
//!
//! - [`self_time`]: the part of a span's time none of its children covers.
//! - [`critical_path`]: the chain of work that set the end-to-end latency.
//! - [`breakdown`]: bottlenecks, slowest spans, error spans, per-service and per-operation
//!   totals.
//! - [`graph`]: the service dependency graph of one trace or of many, as JSON, Mermaid or DOT.
//! - [`compare`]: two traces aligned by operation path.
//! - [`skew`]: opt-in, bounded clock-skew adjustment.
//!
//! [`analyze`] runs them all over one trace and [`Analysis::to_json`] gives the JSON of
//! `GET /api/v1/traces/{id}/analysis`. Every function works on a [`weft_model::TraceTree`], so
//! missing parents, duplicate span ids and cycles are handled the way the tree handles them.

pub mod breakdown;
pub mod compare;
pub mod critical_path;
pub mod graph;
pub mod self_time;
pub mod skew;

#[cfg(test)]
mod fixture;

pub use breakdown::{BottleneckRule, Totals};
pub use compare::{compare, CompareOptions, Comparison, RowStatus};
pub use critical_path::{critical_path, CriticalPath};
pub use graph::{GraphAggregator, ServiceGraph};
pub use self_time::self_times;
pub use skew::{adjust_clock_skew, detect_clock_skew, SkewReport, DEFAULT_MAX_SHIFT_NANOS};

use serde_json::{json, Map, Value};
use weft_model::{Batch, SpanId, TraceId, TraceTree};

/// What [`analyze`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// How many of the longest spans to list (default 10).
    pub slowest: usize,
    pub bottlenecks: BottleneckRule,
    /// Apply clock-skew adjustment (default false: shifts are only reported).
    pub adjust_skew: bool,
    /// The largest shift applied (default [`DEFAULT_MAX_SHIFT_NANOS`]).
    pub max_skew_nanos: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            slowest: 10,
            bottlenecks: BottleneckRule::default(),
            adjust_skew: false,
            max_skew_nanos: DEFAULT_MAX_SHIFT_NANOS,
        }
    }
}

/// A span named in an analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanInfo {
    pub span_id: SpanId,
    pub service: String,
    pub name: String,
    pub start_unix_nano: u64,
    pub duration_nanos: u64,
    pub self_nanos: u64,
    pub depth: usize,
    pub on_critical_path: bool,
    pub error: bool,
}

/// A span on the critical path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathEntry {
    /// Index into [`Analysis::spans`].
    pub span: usize,
    pub contribution_nanos: u64,
}

/// A bottleneck, see [`breakdown::bottlenecks`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BottleneckEntry {
    pub span: usize,
    pub share_of_parent: f64,
}

/// Everything [`analyze`] finds in one trace. Span references are indexes into `spans`.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub trace_id: Option<TraceId>,
    /// Earliest start of any span, and the time to the latest end.
    pub start_unix_nano: u64,
    pub duration_nanos: u64,
    pub error_count: u64,
    /// Every distinct span, in tree pre-order (the waterfall's order).
    pub spans: Vec<SpanInfo>,
    /// Duration of the root the critical path runs over (what its contributions add up to).
    pub critical_path_nanos: u64,
    /// Root first, in pre-order.
    pub critical_path: Vec<PathEntry>,
    pub bottlenecks: Vec<BottleneckEntry>,
    pub slowest: Vec<usize>,
    /// Error spans in start order with their message.
    pub errors: Vec<(usize, String)>,
    pub services: Vec<(String, Totals)>,
    pub operations: Vec<((String, String), Totals)>,
    pub graph: ServiceGraph,
    /// Spans whose parent is not in the trace.
    pub orphans: Vec<SpanId>,
    /// Spans dropped because their span id was already taken.
    pub duplicates: usize,
    pub clock_skew: SkewReport,
}

/// Analyzes one trace. With `opts.adjust_skew` every result is computed on the adjusted
/// timestamps; otherwise the shifts the trace would need are only reported.
pub fn analyze(batch: &Batch, opts: &Options) -> Analysis {
    let (adjusted, skew_report) = if opts.adjust_skew {
        let (b, r) = adjust_clock_skew(batch, opts.max_skew_nanos);
        (Some(b), Some(r))
    } else {
        (None, None)
    };
    let batch = adjusted.as_ref().unwrap_or(batch);
    let tree = TraceTree::new(batch);
    let clock_skew = skew_report.unwrap_or_else(|| skew::detect_clock_skew_in(&tree));
    let selfs = self_times(&tree);
    let path = critical_path(&tree);
    let mut on_path = vec![false; tree.len()];
    for p in &path.spans {
        on_path[p.node] = true;
    }
    let order = tree.preorder();
    let mut rank = vec![0usize; tree.len()];
    for (k, &n) in order.iter().enumerate() {
        rank[n] = k;
    }
    let spans: Vec<SpanInfo> = order
        .iter()
        .map(|&n| {
            let node = &tree.nodes[n];
            SpanInfo {
                span_id: node.span_id(),
                service: node.service().to_string(),
                name: node.span.span.name.to_string(),
                start_unix_nano: node.start(),
                duration_nanos: node.duration(),
                self_nanos: selfs[n],
                depth: node.depth,
                on_critical_path: on_path[n],
                error: node.span.span.is_error(),
            }
        })
        .collect();
    let (t0, t1) = tree.bounds();
    let trace_id = batch.spans().next().map(|s| s.span.trace_id);
    Analysis {
        trace_id,
        start_unix_nano: t0,
        duration_nanos: t1 - t0,
        error_count: spans.iter().filter(|s| s.error).count() as u64,
        critical_path_nanos: path.root.map_or(0, |r| tree.nodes[r].duration()),
        critical_path: path
            .spans
            .iter()
            .map(|p| PathEntry {
                span: rank[p.node],
                contribution_nanos: p.contribution,
            })
            .collect(),
        bottlenecks: breakdown::bottlenecks(&tree, &selfs, &opts.bottlenecks)
            .into_iter()
            .map(|b| BottleneckEntry {
                span: rank[b.node],
                share_of_parent: b.share_of_parent,
            })
            .collect(),
        slowest: breakdown::slowest(&tree, opts.slowest)
            .into_iter()
            .map(|n| rank[n])
            .collect(),
        errors: breakdown::errors(&tree)
            .into_iter()
            .map(|(n, m)| (rank[n], m))
            .collect(),
        services: breakdown::by_service(&tree, &selfs),
        operations: breakdown::by_operation(&tree, &selfs),
        graph: ServiceGraph::of_trace(&tree),
        orphans: tree
            .roots
            .iter()
            .filter(|&&r| tree.nodes[r].missing_parent)
            .map(|&r| tree.nodes[r].span_id())
            .collect(),
        duplicates: tree.duplicates,
        clock_skew,
        spans,
    }
}

fn nanos(n: u64) -> Value {
    Value::String(n.to_string())
}

impl Analysis {
    fn brief(&self, i: usize) -> Map<String, Value> {
        let s = &self.spans[i];
        let mut m = Map::new();
        m.insert("spanId".into(), s.span_id.to_hex().into());
        m.insert("service".into(), s.service.clone().into());
        m.insert("name".into(), s.name.clone().into());
        m
    }

    /// The JSON of `GET /api/v1/traces/{id}/analysis` (contract 2): nanoseconds as decimal
    /// strings, ids as lowercase hex.
    pub fn to_json(&self) -> Value {
        let mut spans = Map::new();
        for s in &self.spans {
            spans.insert(
                s.span_id.to_hex(),
                json!({
                    "selfTimeNanos": nanos(s.self_nanos),
                    "depth": s.depth,
                    "onCriticalPath": s.on_critical_path,
                }),
            );
        }
        let with = |i: usize, extra: Value| {
            let mut m = self.brief(i);
            if let Value::Object(e) = extra {
                m.extend(e);
            }
            Value::Object(m)
        };
        let totals = |t: &Totals| {
            json!({
                "spanCount": t.span_count,
                "totalNanos": nanos(t.total_nanos),
                "selfNanos": nanos(t.self_nanos),
                "errorCount": t.error_count,
            })
        };
        let merge = |mut head: Map<String, Value>, tail: Value| {
            if let Value::Object(t) = tail {
                head.extend(t);
            }
            Value::Object(head)
        };
        json!({
            "traceId": self.trace_id.map(|t| t.to_hex()),
            "startTimeUnixNano": nanos(self.start_unix_nano),
            "durationNanos": nanos(self.duration_nanos),
            "spanCount": self.spans.len(),
            "errorCount": self.error_count,
            "duplicateSpanCount": self.duplicates,
            "spans": spans,
            "criticalPathNanos": nanos(self.critical_path_nanos),
            "criticalPath": self.critical_path.iter().map(|p| with(p.span, json!({
                "startTimeUnixNano": nanos(self.spans[p.span].start_unix_nano),
                "durationNanos": nanos(self.spans[p.span].duration_nanos),
                "contributionNanos": nanos(p.contribution_nanos),
            }))).collect::<Vec<_>>(),
            "bottlenecks": self.bottlenecks.iter().map(|b| with(b.span, json!({
                "selfTimeNanos": nanos(self.spans[b.span].self_nanos),
                "shareOfParent": b.share_of_parent,
            }))).collect::<Vec<_>>(),
            "slowest": self.slowest.iter().map(|&i| with(i, json!({
                "durationNanos": nanos(self.spans[i].duration_nanos),
            }))).collect::<Vec<_>>(),
            "errors": self.errors.iter().map(|(i, m)| with(*i, json!({
                "message": m,
            }))).collect::<Vec<_>>(),
            "services": self.services.iter().map(|(s, t)| {
                let mut head = Map::new();
                head.insert("service".into(), s.clone().into());
                merge(head, totals(t))
            }).collect::<Vec<_>>(),
            "operations": self.operations.iter().map(|((s, n), t)| {
                let mut head = Map::new();
                head.insert("service".into(), s.clone().into());
                head.insert("name".into(), n.clone().into());
                merge(head, totals(t))
            }).collect::<Vec<_>>(),
            "graph": self.graph.to_json(),
            "orphans": self.orphans.iter().map(|o| o.to_hex()).collect::<Vec<_>>(),
            "clockSkew": {
                "applied": self.clock_skew.applied(),
                "requested": self.clock_skew.requested,
                "maxShiftNanos": nanos(self.clock_skew.max_shift_nanos),
                "adjustments": self.clock_skew.adjustments.iter().map(|s| json!({
                    "spanId": s.span_id.to_hex(),
                    "shiftNanos": s.shift_nanos.to_string(),
                })).collect::<Vec<_>>(),
                "skipped": self.clock_skew.skipped.iter().map(|s| json!({
                    "spanId": s.span_id.to_hex(),
                    "shiftNanos": s.shift_nanos.to_string(),
                    "reason": s.reason.as_str(),
                })).collect::<Vec<_>>(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{id, trace, MS};

    // ord's clock is 15 ms slow: srv appears to start before the call that made it
    const T: &str = "
        root gw  -    0 100 kind=server
        call gw  root 10 90 kind=client
        srv  ord call 5 65 kind=server
        db   ord srv  10 60 err=deadlock name=query
        orph ord lost 50 60
    ";

    fn check(opts: Options, expect: Value) {
        let b = trace(T);
        let got = analyze(&b, &opts).to_json();
        // compare only the fields the expectation names (arrays element by element)
        fn sub(got: &Value, want: &Value, at: &str) {
            match (got, want) {
                (Value::Object(g), Value::Object(w)) => {
                    for (k, v) in w {
                        let g = g.get(k).unwrap_or_else(|| panic!("{at}.{k} missing"));
                        sub(g, v, &format!("{at}.{k}"));
                    }
                }
                (Value::Array(g), Value::Array(w)) => {
                    assert_eq!(g.len(), w.len(), "length of {at}: {got}");
                    for (k, (g, w)) in g.iter().zip(w).enumerate() {
                        sub(g, w, &format!("{at}[{k}]"));
                    }
                }
                _ => assert_eq!(got, want, "at {at}"),
            }
        }
        sub(&got, &expect, "$");
    }

    fn hex(n: &str) -> String {
        id(n).to_hex()
    }

    #[test]
    fn analysis_json_without_adjustment() {
        let ms = |x: u64| (x * MS).to_string();
        check(
            Options::default(),
            json!({
                "traceId": "07070707070707070707070707070707",
                "startTimeUnixNano": "0",
                "durationNanos": ms(100),
                "spanCount": 5,
                "errorCount": 1,
                "criticalPathNanos": ms(100),
                "criticalPath": [
                    {"spanId": hex("root"), "service": "gw", "name": "root",
                     "startTimeUnixNano": "0", "durationNanos": ms(100), "contributionNanos": ms(20)},
                    {"spanId": hex("call"), "service": "gw", "name": "call",
                     "startTimeUnixNano": ms(10), "durationNanos": ms(80), "contributionNanos": ms(25)},
                    {"spanId": hex("srv"), "service": "ord", "name": "srv",
                     "startTimeUnixNano": ms(5), "durationNanos": ms(60), "contributionNanos": ms(5)},
                    {"spanId": hex("db"), "service": "ord", "name": "query",
                     "startTimeUnixNano": ms(10), "durationNanos": ms(50), "contributionNanos": ms(50)},
                ],
                "errors": [{"spanId": hex("db"), "service": "ord", "name": "query", "message": "deadlock"}],
                "orphans": [hex("orph")],
                "graph": {
                    "nodes": [{"service": "gw", "spanCount": 2, "errorCount": 0},
                              {"service": "ord", "spanCount": 3, "errorCount": 1}],
                    "edges": [{"parent": "gw", "child": "ord", "calls": 1, "errors": 0,
                               "p50Nanos": ms(60), "p99Nanos": ms(60)}],
                },
                "clockSkew": {"applied": false, "requested": false, "adjustments": [],
                              "skipped": [{"spanId": hex("srv"), "shiftNanos": ms(15),
                                           "reason": "not requested"}]},
            }),
        );
    }

    #[test]
    fn analysis_json_with_adjustment() {
        let ms = |x: u64| (x * MS).to_string();
        check(
            Options {
                adjust_skew: true,
                ..Options::default()
            },
            json!({
                "criticalPath": [
                    {"spanId": hex("root"), "contributionNanos": ms(20)},
                    {"spanId": hex("call"), "contributionNanos": ms(20)},
                    {"spanId": hex("srv"), "startTimeUnixNano": ms(20), "contributionNanos": ms(10)},
                    {"spanId": hex("db"), "startTimeUnixNano": ms(25), "contributionNanos": ms(50)},
                ],
                "spans": {
                    hex("srv"): {"selfTimeNanos": ms(10), "depth": 2, "onCriticalPath": true},
                    hex("orph"): {"selfTimeNanos": ms(10), "depth": 0, "onCriticalPath": false},
                },
                "clockSkew": {"applied": true, "requested": true, "skipped": [],
                              "adjustments": [{"spanId": hex("srv"), "shiftNanos": ms(15)},
                                              {"spanId": hex("db"), "shiftNanos": ms(15)}]},
                "services": [
                    {"service": "ord", "spanCount": 3, "totalNanos": ms(120), "selfNanos": ms(70), "errorCount": 1},
                    {"service": "gw", "spanCount": 2, "totalNanos": ms(180), "selfNanos": ms(40), "errorCount": 0},
                ],
                "bottlenecks": [
                    {"spanId": hex("db"), "selfTimeNanos": ms(50), "shareOfParent": 50.0 / 60.0},
                    {"spanId": hex("orph"), "selfTimeNanos": ms(10), "shareOfParent": 1.0},
                ],
                "slowest": [{"spanId": hex("root"), "durationNanos": ms(100)},
                            {"spanId": hex("call")}, {"spanId": hex("srv")},
                            {"spanId": hex("db")}, {"spanId": hex("orph")}],
            }),
        );
    }

    #[test]
    fn an_empty_trace_analyzes_to_nothing() {
        let a = analyze(&Batch::default(), &Options::default());
        assert_eq!(a.spans.len(), 0);
        assert!(a.critical_path.is_empty());
        assert_eq!(a.to_json()["traceId"], Value::Null);
    }
}
