//! Where a trace's time went: bottlenecks, the slowest spans, error spans, and totals per
//! service and per operation.

use std::cmp::Reverse;
use std::collections::HashMap;

use weft_model::{AnyValue, Span, TraceTree};

/// A span that spends most of its parent's time on its own work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bottleneck {
    pub node: usize,
    pub self_nanos: u64,
    /// Self time divided by the parent's duration (by the span's own duration for a root). It
    /// can exceed 1 for an async child that outlives its parent.
    pub share_of_parent: f64,
}

/// What counts as a bottleneck.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BottleneckRule {
    /// Self time must be above this share of the parent's duration (default 0.5).
    pub share: f64,
    /// ... and at least this many nanoseconds (default 1 µs) ...
    pub min_self_nanos: u64,
    /// ... and at least this share of the whole trace's duration (default 0.01), so that tiny
    /// spans in a long trace are not reported.
    pub min_trace_share: f64,
}

impl Default for BottleneckRule {
    fn default() -> Self {
        BottleneckRule {
            share: 0.5,
            min_self_nanos: 1_000,
            min_trace_share: 0.01,
        }
    }
}

/// Spans whose self time is above `rule.share` of their parent's duration and above both
/// floors; sorted by self time, largest first (then by start).
pub fn bottlenecks(
    tree: &TraceTree<'_>,
    self_times: &[u64],
    rule: &BottleneckRule,
) -> Vec<Bottleneck> {
    let (t0, t1) = tree.bounds();
    let floor = rule
        .min_self_nanos
        .max(((t1 - t0) as f64 * rule.min_trace_share).ceil() as u64);
    let mut out: Vec<Bottleneck> = tree
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let self_nanos = self_times[i];
            let base = n.parent.map_or(n.duration(), |p| tree.nodes[p].duration());
            if base == 0 || self_nanos < floor {
                return None;
            }
            let share_of_parent = self_nanos as f64 / base as f64;
            (share_of_parent > rule.share).then_some(Bottleneck {
                node: i,
                self_nanos,
                share_of_parent,
            })
        })
        .collect();
    out.sort_by_key(|b| (Reverse(b.self_nanos), b.node));
    out
}

/// The `n` longest spans, longest first (then by start).
pub fn slowest(tree: &TraceTree<'_>, n: usize) -> Vec<usize> {
    // keys gathered once: sorting through the span pointers would miss the cache at every
    // comparison
    let mut keys: Vec<(Reverse<u64>, usize)> = tree
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (Reverse(node.duration()), i))
        .collect();
    if n == 0 {
        return Vec::new();
    }
    if n < keys.len() {
        keys.select_nth_unstable(n);
        keys.truncate(n);
    }
    keys.sort_unstable();
    keys.into_iter().map(|(_, i)| i).collect()
}

/// The message of an error span: its status message, or else the `exception.message` (then
/// `exception.type`) of its first exception event; empty when it has none.
pub fn error_message(span: &Span) -> String {
    if !span.status.message.is_empty() {
        return span.status.message.clone();
    }
    for key in ["exception.message", "exception.type"] {
        let found = span
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .chain(span.events.iter().filter(|e| e.name != "exception"))
            .find_map(|e| {
                e.attributes
                    .iter()
                    .find(|kv| kv.key == key)
                    .map(|kv| &kv.value)
            });
        match found {
            Some(AnyValue::Empty) | None => {}
            Some(v) => return v.to_string(),
        }
    }
    String::new()
}

/// Error spans (status error) in start order, with their message.
pub fn errors(tree: &TraceTree<'_>) -> Vec<(usize, String)> {
    tree.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.span.span.is_error())
        .map(|(i, n)| (i, error_message(n.span.span)))
        .collect()
}

/// Totals over a group of spans (a service, or an operation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub span_count: u64,
    /// Sum of the spans' durations.
    pub total_nanos: u64,
    /// Sum of the spans' self times.
    pub self_nanos: u64,
    pub error_count: u64,
}

impl Totals {
    fn add(&mut self, duration: u64, self_nanos: u64, error: bool) {
        self.span_count += 1;
        self.total_nanos += duration;
        self.self_nanos += self_nanos;
        self.error_count += u64::from(error);
    }
}

/// Totals per service, by self time (largest first), then by name.
pub fn by_service(tree: &TraceTree<'_>, self_times: &[u64]) -> Vec<(String, Totals)> {
    let mut m: HashMap<&str, Totals> = HashMap::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        m.entry(n.service())
            .or_default()
            .add(n.duration(), self_times[i], n.span.span.is_error());
    }
    let mut v: Vec<(String, Totals)> = m.into_iter().map(|(k, t)| (k.to_string(), t)).collect();
    v.sort_by(|a, b| b.1.self_nanos.cmp(&a.1.self_nanos).then(a.0.cmp(&b.0)));
    v
}

/// Totals per operation (service and span name), by self time (largest first), then by name.
pub fn by_operation(tree: &TraceTree<'_>, self_times: &[u64]) -> Vec<((String, String), Totals)> {
    let mut m: HashMap<(&str, &str), Totals> = HashMap::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        m.entry((n.service(), &n.span.span.name)).or_default().add(
            n.duration(),
            self_times[i],
            n.span.span.is_error(),
        );
    }
    let mut v: Vec<((String, String), Totals)> = m
        .into_iter()
        .map(|((s, n), t)| ((s.to_string(), n.to_string()), t))
        .collect();
    v.sort_by(|a, b| b.1.self_nanos.cmp(&a.1.self_nanos).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{name, trace, MS};
    use crate::self_time::self_times;

    enum Expect<'a> {
        /// (span, self ms, share)
        Bottlenecks(BottleneckRule, &'a [(&'a str, f64, f64)]),
        Slowest(usize, &'a [&'a str]),
        Errors(&'a [(&'a str, &'a str)]),
        /// (service, spans, total ms, self ms, errors)
        Services(&'a [(&'a str, u64, f64, f64, u64)]),
        /// (service, name, spans, total ms, self ms, errors)
        Operations(&'a [(&'a str, &'a str, u64, f64, f64, u64)]),
    }

    fn check(text: &str, expect: Expect<'_>) {
        let b = trace(text);
        let t = TraceTree::new(&b);
        let st = self_times(&t);
        let ns = |ms: f64| (ms * MS as f64).round() as u64;
        let nm = |i: usize| name(t.nodes[i].span_id());
        match expect {
            Expect::Bottlenecks(rule, want) => {
                let got: Vec<(String, u64, String)> = bottlenecks(&t, &st, &rule)
                    .iter()
                    .map(|b| {
                        (
                            nm(b.node),
                            b.self_nanos,
                            format!("{:.3}", b.share_of_parent),
                        )
                    })
                    .collect();
                let want: Vec<(String, u64, String)> = want
                    .iter()
                    .map(|(n, s, sh)| (n.to_string(), ns(*s), format!("{sh:.3}")))
                    .collect();
                assert_eq!(got, want);
            }
            Expect::Slowest(n, want) => {
                let got: Vec<String> = slowest(&t, n).into_iter().map(nm).collect();
                assert_eq!(got, want);
            }
            Expect::Errors(want) => {
                let got: Vec<(String, String)> =
                    errors(&t).into_iter().map(|(i, m)| (nm(i), m)).collect();
                let want: Vec<(String, String)> = want
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect();
                assert_eq!(got, want);
            }
            Expect::Services(want) => {
                let got: Vec<(String, u64, u64, u64, u64)> = by_service(&t, &st)
                    .into_iter()
                    .map(|(s, t)| (s, t.span_count, t.total_nanos, t.self_nanos, t.error_count))
                    .collect();
                let want: Vec<(String, u64, u64, u64, u64)> = want
                    .iter()
                    .map(|(s, c, tot, se, e)| (s.to_string(), *c, ns(*tot), ns(*se), *e))
                    .collect();
                assert_eq!(got, want);
            }
            Expect::Operations(want) => {
                let got: Vec<(String, String, u64, u64, u64, u64)> = by_operation(&t, &st)
                    .into_iter()
                    .map(|((s, n), t)| {
                        (
                            s,
                            n,
                            t.span_count,
                            t.total_nanos,
                            t.self_nanos,
                            t.error_count,
                        )
                    })
                    .collect();
                let want: Vec<(String, String, u64, u64, u64, u64)> = want
                    .iter()
                    .map(|(s, n, c, tot, se, e)| {
                        (s.to_string(), n.to_string(), *c, ns(*tot), ns(*se), *e)
                    })
                    .collect();
                assert_eq!(got, want);
            }
        }
    }

    const SHOP: &str = "
        root gw   -    0 100 kind=server
        auth gw   root 2 10
        call gw   root 10 95 kind=client
        srv  ord  call 12 93 kind=server
        db   ord  srv  20 90 err=deadlock name=query
        db2  ord  srv  90 92 exc=timeout name=query err
        tiny ord  srv  13 13.5
    ";

    #[test]
    fn bottlenecks_are_spans_busy_on_their_own() {
        check(
            SHOP,
            Expect::Bottlenecks(
                BottleneckRule::default(),
                // db: 70 ms of its parent's 81; auth (8 of 100) and tiny are not
                &[("db", 70.0, 70.0 / 81.0)],
            ),
        );
        check(
            SHOP,
            Expect::Bottlenecks(
                BottleneckRule {
                    share: 0.05,
                    min_self_nanos: 0,
                    min_trace_share: 0.0,
                },
                &[
                    ("db", 70.0, 70.0 / 81.0),
                    ("srv", 8.5, 8.5 / 85.0),
                    ("auth", 8.0, 0.08),
                    ("root", 7.0, 0.07),
                ],
            ),
        );
        // the floor relative to the trace drops `tiny` even when the share would list it
        check(
            SHOP,
            Expect::Bottlenecks(
                BottleneckRule {
                    share: 0.0,
                    min_self_nanos: 0,
                    min_trace_share: 0.01,
                },
                &[
                    ("db", 70.0, 70.0 / 81.0),
                    ("srv", 8.5, 8.5 / 85.0),
                    ("auth", 8.0, 0.08),
                    ("root", 7.0, 0.07),
                    ("call", 4.0, 0.04),
                    ("db2", 2.0, 2.0 / 81.0),
                ],
            ),
        );
    }

    #[test]
    fn a_root_busy_on_its_own_is_a_bottleneck() {
        check(
            "root a - 0 100
             c    b root 0 10",
            Expect::Bottlenecks(BottleneckRule::default(), &[("root", 90.0, 0.9)]),
        );
    }

    #[test]
    fn slowest_spans() {
        check(SHOP, Expect::Slowest(3, &["root", "call", "srv"]));
        check(
            SHOP,
            Expect::Slowest(100, &["root", "call", "srv", "db", "auth", "db2", "tiny"]),
        );
    }

    #[test]
    fn errors_with_messages_from_status_or_exception_events() {
        check(
            SHOP,
            Expect::Errors(&[("db", "deadlock"), ("db2", "timeout")]),
        );
        check(
            "root a - 0 1 err
             c    a root 0 1 kind=client",
            Expect::Errors(&[("root", "")]),
        );
    }

    #[test]
    fn per_service_totals() {
        check(
            SHOP,
            Expect::Services(&[
                ("ord", 4, 81.0 + 70.0 + 2.0 + 0.5, 8.5 + 70.0 + 2.0 + 0.5, 2),
                ("gw", 3, 100.0 + 8.0 + 85.0, 7.0 + 8.0 + 4.0, 0),
            ]),
        );
    }

    #[test]
    fn per_operation_totals() {
        check(
            SHOP,
            Expect::Operations(&[
                ("ord", "query", 2, 72.0, 72.0, 2),
                ("ord", "srv", 1, 81.0, 8.5, 0),
                ("gw", "auth", 1, 8.0, 8.0, 0),
                ("gw", "root", 1, 100.0, 7.0, 0),
                ("gw", "call", 1, 85.0, 4.0, 0),
                ("ord", "tiny", 1, 0.5, 0.5, 0),
            ]),
        );
    }
}
