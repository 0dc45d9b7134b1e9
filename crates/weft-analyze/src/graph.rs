//! The service dependency graph: who calls whom, how often, how slowly, with how many errors.
//!
//! An edge `parent → child` is counted for every span whose parent span belongs to a different
//! service (a call that crossed a service boundary): `calls` counts those spans, `errors` those
//! of them with status error, and the latency percentiles are over their durations (the callee
//! side's view of the call). Calls inside one service are not edges. The same graph is built
//! for one trace ([`ServiceGraph::of_trace`]) or over many ([`GraphAggregator`]).
//!
//! Percentiles are nearest-rank over the exact durations: p50 of `[10, 20, 30, 40]` is 20,
//! p99 of the durations 1..=100 is 99.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde_json::{json, Value};
use weft_model::duration::format_duration_nanos;
use weft_model::{Batch, TraceTree};

/// A service of the graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceNode {
    pub service: String,
    pub span_count: u64,
    pub error_count: u64,
}

/// Calls from one service to another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edge {
    pub parent: String,
    pub child: String,
    pub calls: u64,
    /// Calls whose child span has status error.
    pub errors: u64,
    pub p50_nanos: u64,
    pub p99_nanos: u64,
}

/// A service dependency graph; nodes by name, edges by parent then child.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceGraph {
    pub nodes: Vec<ServiceNode>,
    pub edges: Vec<Edge>,
}

#[derive(Default)]
struct EdgeAcc {
    errors: u64,
    durations: Vec<u64>,
}

/// Builds one graph from many traces: feed it traces with [`GraphAggregator::add`], then
/// [`GraphAggregator::finish`]. It keeps every cross-service span's duration (8 bytes each) so
/// that the percentiles are exact.
#[derive(Default)]
pub struct GraphAggregator {
    nodes: HashMap<String, (u64, u64)>,
    edges: HashMap<String, HashMap<String, EdgeAcc>>,
    traces: u64,
    self_calls: bool,
}

impl GraphAggregator {
    pub fn new() -> GraphAggregator {
        GraphAggregator::default()
    }

    /// An aggregator that also counts calls inside one service (an edge from a service to
    /// itself), as Jaeger's `/api/dependencies` does.
    pub fn with_self_calls() -> GraphAggregator {
        GraphAggregator {
            self_calls: true,
            ..GraphAggregator::default()
        }
    }

    /// Adds one trace.
    pub fn add(&mut self, batch: &Batch) {
        self.add_tree(&TraceTree::new(batch));
    }

    /// Adds one trace already linked into a tree.
    pub fn add_tree(&mut self, tree: &TraceTree<'_>) {
        self.traces += 1;
        for n in &tree.nodes {
            let service = n.service();
            let error = n.span.span.is_error();
            let entry = match self.nodes.get_mut(service) {
                Some(e) => e,
                None => self.nodes.entry(service.to_string()).or_default(),
            };
            entry.0 += 1;
            entry.1 += u64::from(error);
            let Some(p) = n.parent else { continue };
            let parent = tree.nodes[p].service();
            if parent == service && !self.self_calls {
                continue;
            }
            let children = match self.edges.get_mut(parent) {
                Some(c) => c,
                None => self.edges.entry(parent.to_string()).or_default(),
            };
            let acc = match children.get_mut(service) {
                Some(a) => a,
                None => children.entry(service.to_string()).or_default(),
            };
            acc.errors += u64::from(error);
            acc.durations.push(n.duration());
        }
    }

    /// Number of traces added.
    pub fn traces(&self) -> u64 {
        self.traces
    }

    pub fn finish(self) -> ServiceGraph {
        let mut nodes: Vec<ServiceNode> = self
            .nodes
            .into_iter()
            .map(|(service, (span_count, error_count))| ServiceNode {
                service,
                span_count,
                error_count,
            })
            .collect();
        nodes.sort_by(|a, b| a.service.cmp(&b.service));
        let mut edges = Vec::new();
        for (parent, children) in self.edges {
            for (child, mut acc) in children {
                acc.durations.sort_unstable();
                edges.push(Edge {
                    parent: parent.clone(),
                    child,
                    calls: acc.durations.len() as u64,
                    errors: acc.errors,
                    p50_nanos: percentile(&acc.durations, 50),
                    p99_nanos: percentile(&acc.durations, 99),
                });
            }
        }
        edges.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
        ServiceGraph { nodes, edges }
    }
}

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn percentile(sorted: &[u64], pct: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (pct * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl ServiceGraph {
    /// The graph of one trace.
    pub fn of_trace(tree: &TraceTree<'_>) -> ServiceGraph {
        let mut g = GraphAggregator::new();
        g.add_tree(tree);
        g.finish()
    }

    /// Keeps the edges that start or end at `service` and the services they connect (the
    /// service itself stays when it is in the graph), as Jaeger's `service` filter does.
    pub fn retain_service(&mut self, service: &str) {
        self.edges
            .retain(|e| e.parent == service || e.child == service);
        let keep: std::collections::HashSet<&str> = self
            .edges
            .iter()
            .flat_map(|e| [e.parent.as_str(), e.child.as_str()])
            .chain([service])
            .collect();
        let keep: std::collections::HashSet<String> =
            keep.into_iter().map(str::to_string).collect();
        self.nodes.retain(|n| keep.contains(&n.service));
    }

    /// `{"nodes":[{"service","spanCount","errorCount"}],"edges":[{"parent","child","calls",
    /// "errors","p50Nanos","p99Nanos"}]}` (nanoseconds as decimal strings).
    pub fn to_json(&self) -> Value {
        json!({
            "nodes": self.nodes.iter().map(|n| json!({
                "service": n.service,
                "spanCount": n.span_count,
                "errorCount": n.error_count,
            })).collect::<Vec<_>>(),
            "edges": self.edges.iter().map(|e| json!({
                "parent": e.parent,
                "child": e.child,
                "calls": e.calls,
                "errors": e.errors,
                "p50Nanos": e.p50_nanos.to_string(),
                "p99Nanos": e.p99_nanos.to_string(),
            })).collect::<Vec<_>>(),
        })
    }

    fn ids(&self) -> BTreeMap<&str, usize> {
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &self.nodes {
            let next = ids.len();
            ids.entry(&n.service).or_insert(next);
        }
        for e in &self.edges {
            for s in [&e.parent, &e.child] {
                let next = ids.len();
                ids.entry(s).or_insert(next);
            }
        }
        ids
    }

    /// A Mermaid flowchart (`graph LR`). Services are nodes `s0`, `s1`, ... labelled with
    /// their names; edges carry calls, errors and latency; edges with errors are drawn red.
    pub fn to_mermaid(&self) -> String {
        let ids = self.ids();
        let mut by_id: Vec<(&str, usize)> = ids.iter().map(|(k, v)| (*k, *v)).collect();
        by_id.sort_by_key(|&(_, i)| i);
        let mut out = String::from("graph LR\n");
        for (name, i) in &by_id {
            let _ = writeln!(out, "  s{i}[\"{}\"]", mermaid_escape(name));
        }
        let mut red = Vec::new();
        for (k, e) in self.edges.iter().enumerate() {
            let _ = writeln!(
                out,
                "  s{} -->|\"{}\"| s{}",
                ids[e.parent.as_str()],
                mermaid_escape(&edge_label(e, ", ")),
                ids[e.child.as_str()]
            );
            if e.errors > 0 {
                red.push(k.to_string());
            }
        }
        if !red.is_empty() {
            let _ = writeln!(out, "  linkStyle {} stroke:#d62728", red.join(","));
        }
        out
    }

    /// A Graphviz digraph, left to right; edges with errors are red.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph services {\n  rankdir=LR;\n  node [shape=box];\n");
        let nodes: HashMap<&str, &ServiceNode> =
            self.nodes.iter().map(|n| (n.service.as_str(), n)).collect();
        for name in self.ids().keys() {
            let mut label = name.to_string();
            if let Some(n) = nodes.get(name) {
                let _ = write!(label, "\n{}", plural(n.span_count, "span"));
                if n.error_count > 0 {
                    let _ = write!(label, ", {}", plural(n.error_count, "error"));
                }
            }
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\"];",
                dot_escape(name),
                dot_escape(&label)
            );
        }
        for e in &self.edges {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"{}];",
                dot_escape(&e.parent),
                dot_escape(&e.child),
                dot_escape(&edge_label(e, "\n")),
                if e.errors > 0 { ", color=\"red\"" } else { "" }
            );
        }
        out.push_str("}\n");
        out
    }
}

fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn edge_label(e: &Edge, sep: &str) -> String {
    let mut s = plural(e.calls, "call");
    if e.errors > 0 {
        let _ = write!(s, ", {}", plural(e.errors, "error"));
    }
    let _ = write!(
        s,
        "{sep}p50 {} p99 {}",
        format_duration_nanos(e.p50_nanos),
        format_duration_nanos(e.p99_nanos)
    );
    s
}

/// Escapes text for a double-quoted Mermaid label: `#`, `"`, `<`, `>` and backticks as
/// Mermaid entity codes, line breaks and other control characters as spaces.
pub fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted DOT string: backslash and quote escaped, a line break as
/// DOT's `\n`, other control characters as spaces.
pub fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{trace_with_id, MS};
    use weft_model::TraceId;

    enum Expect<'a> {
        /// nodes (service, spans, errors); edges (parent, child, calls, errors, p50 ms, p99 ms)
        Graph(
            &'a [(&'a str, u64, u64)],
            &'a [(&'a str, &'a str, u64, u64, f64, f64)],
        ),
        Mermaid(&'a str),
        Dot(&'a str),
    }

    fn check(traces: &[&str], service: Option<&str>, expect: Expect<'_>) {
        let batches: Vec<Batch> = traces
            .iter()
            .enumerate()
            .map(|(i, t)| trace_with_id(t, TraceId([i as u8 + 1; 16])))
            .collect();
        let mut agg = GraphAggregator::new();
        for b in &batches {
            agg.add(b);
        }
        assert_eq!(agg.traces(), traces.len() as u64);
        let mut g = agg.finish();
        if let Some(s) = service {
            g.retain_service(s);
        }
        match expect {
            Expect::Graph(nodes, edges) => {
                let got: Vec<(&str, u64, u64)> = g
                    .nodes
                    .iter()
                    .map(|n| (n.service.as_str(), n.span_count, n.error_count))
                    .collect();
                assert_eq!(got, nodes);
                let ns = |ms: f64| (ms * MS as f64).round() as u64;
                let got: Vec<(&str, &str, u64, u64, u64, u64)> = g
                    .edges
                    .iter()
                    .map(|e| {
                        (
                            e.parent.as_str(),
                            e.child.as_str(),
                            e.calls,
                            e.errors,
                            e.p50_nanos,
                            e.p99_nanos,
                        )
                    })
                    .collect();
                let want: Vec<(&str, &str, u64, u64, u64, u64)> = edges
                    .iter()
                    .map(|&(p, c, n, e, a, b)| (p, c, n, e, ns(a), ns(b)))
                    .collect();
                assert_eq!(got, want);
            }
            Expect::Mermaid(want) => assert_eq!(g.to_mermaid(), want),
            Expect::Dot(want) => assert_eq!(g.to_dot(), want),
        }
    }

    const T1: &str = "
        root gw  -    0 100
        c1   gw  root 1 50
        o1   ord c1   2 40
        o2   ord c1   2 30 err
        db   pg  o1   3 13
        self ord o1   4 5
    ";
    const T2: &str = "
        root gw  -    0 100
        o1   ord root 2 20
        pay  pay root 2 60 err
    ";

    #[test]
    fn one_trace() {
        check(
            &[T1],
            None,
            Expect::Graph(
                &[("gw", 2, 0), ("ord", 3, 1), ("pg", 1, 0)],
                &[
                    ("gw", "ord", 2, 1, 28.0, 38.0),
                    ("ord", "pg", 1, 0, 10.0, 10.0),
                ],
            ),
        );
    }

    #[test]
    fn aggregated_over_traces() {
        check(
            &[T1, T2],
            None,
            Expect::Graph(
                &[("gw", 3, 0), ("ord", 4, 1), ("pay", 1, 1), ("pg", 1, 0)],
                &[
                    ("gw", "ord", 3, 1, 28.0, 38.0),
                    ("gw", "pay", 1, 1, 58.0, 58.0),
                    ("ord", "pg", 1, 0, 10.0, 10.0),
                ],
            ),
        );
        check(
            &[T1, T2],
            Some("pay"),
            Expect::Graph(
                &[("gw", 3, 0), ("pay", 1, 1)],
                &[("gw", "pay", 1, 1, 58.0, 58.0)],
            ),
        );
    }

    #[test]
    fn self_calls_are_edges_only_when_asked() {
        let b = crate::fixture::trace(
            "root gw - 0 100\nhandler gw root 10 50\ncall api handler 20 30\n",
        );
        let mut plain = GraphAggregator::new();
        plain.add(&b);
        let edges = |g: ServiceGraph| -> Vec<(String, String, u64)> {
            g.edges
                .into_iter()
                .map(|e| (e.parent, e.child, e.calls))
                .collect()
        };
        assert_eq!(edges(plain.finish()), [("gw".into(), "api".into(), 1)]);
        let mut jaeger = GraphAggregator::with_self_calls();
        jaeger.add(&b);
        assert_eq!(
            edges(jaeger.finish()),
            [
                ("gw".into(), "api".into(), 1),
                ("gw".into(), "gw".into(), 1)
            ]
        );
    }

    #[test]
    fn percentiles_over_known_durations() {
        // 100 calls lasting 1..=100 ms, in scrambled order
        let mut text = String::from("root gw - 0 1000\n");
        for k in 0..100u64 {
            let d = (k * 37) % 100 + 1;
            text.push_str(&format!("c{k} api root 0 {d}\n"));
        }
        check(
            &[&text],
            None,
            Expect::Graph(
                &[("api", 100, 0), ("gw", 1, 0)],
                &[("gw", "api", 100, 0, 50.0, 99.0)],
            ),
        );
        assert_eq!(percentile(&[10, 20, 30, 40], 50), 20);
        assert_eq!(percentile(&[10, 20, 30, 40], 99), 40);
        assert_eq!(percentile(&[7], 50), 7);
        assert_eq!(percentile(&[], 99), 0);
    }

    #[test]
    fn mermaid_output() {
        check(
            &[T1, T2],
            None,
            Expect::Mermaid(
                "graph LR
  s0[\"gw\"]
  s1[\"ord\"]
  s2[\"pay\"]
  s3[\"pg\"]
  s0 -->|\"3 calls, 1 error, p50 28ms p99 38ms\"| s1
  s0 -->|\"1 call, 1 error, p50 58ms p99 58ms\"| s2
  s1 -->|\"1 call, p50 10ms p99 10ms\"| s3
  linkStyle 0,1 stroke:#d62728
",
            ),
        );
    }

    #[test]
    fn dot_output() {
        check(
            &[T1, T2],
            None,
            Expect::Dot(
                r##"digraph services {
  rankdir=LR;
  node [shape=box];
  "gw" [label="gw\n3 spans"];
  "ord" [label="ord\n4 spans, 1 error"];
  "pay" [label="pay\n1 span, 1 error"];
  "pg" [label="pg\n1 span"];
  "gw" -> "ord" [label="3 calls, 1 error\np50 28ms p99 38ms", color="red"];
  "gw" -> "pay" [label="1 call, 1 error\np50 58ms p99 58ms", color="red"];
  "ord" -> "pg" [label="1 call\np50 10ms p99 10ms"];
}
"##,
            ),
        );
    }

    #[test]
    fn names_are_escaped() {
        let t = "root a\"b - 0 10\nc x#<y>`z\\ root 1 2\n";
        check(
            &[t],
            None,
            Expect::Mermaid(
                "graph LR
  s0[\"a#quot;b\"]
  s1[\"x#35;#lt;y#gt;#96;z\\\"]
  s0 -->|\"1 call, p50 1ms p99 1ms\"| s1
",
            ),
        );
        check(
            &[t],
            None,
            Expect::Dot(
                r##"digraph services {
  rankdir=LR;
  node [shape=box];
  "a\"b" [label="a\"b\n1 span"];
  "x#<y>`z\\" [label="x#<y>`z\\\n1 span"];
  "a\"b" -> "x#<y>`z\\" [label="1 call\np50 1ms p99 1ms"];
}
"##,
            ),
        );
        assert_eq!(mermaid_escape("a\nb"), "a b");
        assert_eq!(dot_escape("a\nb"), "a\\nb");
    }
}
