//! Clock-skew adjustment: opt-in, bounded and reported, as Jaeger's query adjuster does it.
//!
//! Spans are timed by the clock of the machine that produced them. When a call crosses to
//! another machine whose clock is off, the callee's span can appear to start before its caller
//! or end after it. The adjustment moves such a subtree back inside its parent:
//!
//! - Only a child on a *different clock* than its parent is ever given a shift of its own. Two
//!   spans share a clock when they come from the same service, or when both resources name the
//!   same host (`host.id`, else `host.ip`, else `host.name`). A child of the same service is
//!   never shifted on its own: when it lies outside its parent that is real (async work).
//! - A child that already fits inside its parent is left alone. A child shorter than its parent
//!   is centred in it (the network latency is assumed to split evenly between request and
//!   response). A child longer than its parent (async, or the caller timed out) is only moved
//!   so that it does not start before the parent. Messaging is async by nature: under a
//!   `PRODUCER` parent or for a `CONSUMER` child only the start is fixed, never a late start.
//! - The shift carries down to every span of the child's subtree on the same clock (with their
//!   events); a descendant on yet another clock is compared with its adjusted parent.
//! - A shift larger than the bound (default [`DEFAULT_MAX_SHIFT_NANOS`], one minute) is
//!   reported but not applied: NTP-synced hosts disagree by milliseconds and a badly kept VM by
//!   seconds, while a gap of minutes is more likely a real delay (a queue, a retry, a batch job)
//!   than a clock. Raise the bound for clients with poor clocks (browsers, phones).
//!
//! Every applied shift is listed per span; every computed shift that was not applied (beyond
//! the bound, or adjustment not requested) is listed for the span that needed it.

use std::collections::HashMap;

use weft_model::{AnyValue, Batch, Resource, Span, SpanId, SpanKind, TraceTree};

/// The default bound of a shift: one minute.
pub const DEFAULT_MAX_SHIFT_NANOS: u64 = 60_000_000_000;

/// A span whose timestamps were moved by `shift_nanos` (negative: earlier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub span_id: SpanId,
    pub shift_nanos: i64,
}

/// Why a computed shift was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Larger than the bound.
    ExceedsBound,
    /// Adjustment was not asked for; the shift is only reported.
    NotRequested,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ExceedsBound => "exceeds the bound",
            SkipReason::NotRequested => "not requested",
        }
    }
}

/// A shift that was computed but not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub span_id: SpanId,
    pub shift_nanos: i64,
    pub reason: SkipReason,
}

/// What the adjustment did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkewReport {
    /// Whether adjustment was requested.
    pub requested: bool,
    pub max_shift_nanos: u64,
    /// Spans moved, in tree pre-order.
    pub adjustments: Vec<Shift>,
    /// Shifts computed but not applied, in tree pre-order.
    pub skipped: Vec<Skipped>,
}

impl SkewReport {
    /// Whether any timestamp was moved.
    pub fn applied(&self) -> bool {
        !self.adjustments.is_empty()
    }
}

fn host_key(r: &Resource) -> Option<String> {
    let s = |v: &AnyValue| match v {
        AnyValue::String(s) if !s.is_empty() => Some(s.to_string()),
        AnyValue::Array(a) => a.first().map(|x| x.to_string()).filter(|s| !s.is_empty()),
        _ => None,
    };
    ["host.id", "host.ip", "host.name"]
        .iter()
        .find_map(|k| r.attribute(k).and_then(s))
}

fn same_clock(a: &Resource, b: &Resource) -> bool {
    if std::ptr::eq(a, b) || a.service_name() == b.service_name() {
        return true;
    }
    matches!((host_key(a), host_key(b)), (Some(x), Some(y)) if x == y)
}

/// The shift that puts a child `[cs, ce]` inside its parent `[ps, pe]`.
fn needed_shift(cs: i128, ce: i128, ps: i128, pe: i128, async_link: bool) -> i128 {
    let (pd, cd) = (pe - ps, ce - cs);
    if cd > pd || async_link {
        return if cs < ps { ps - cs } else { 0 };
    }
    if cs >= ps && ce <= pe {
        return 0;
    }
    ps + (pd - cd) / 2 - cs
}

/// Computes the shift of every node. `max_shift` is `None` when adjustment is not requested:
/// then every computed shift is reported as skipped and none is applied.
fn plan(tree: &TraceTree<'_>, max_shift: Option<u64>) -> (Vec<i64>, SkewReport) {
    let mut eff = vec![0i64; tree.len()];
    let mut report = SkewReport {
        requested: max_shift.is_some(),
        max_shift_nanos: max_shift.unwrap_or(DEFAULT_MAX_SHIFT_NANOS),
        ..Default::default()
    };
    for n in tree.preorder() {
        let node = &tree.nodes[n];
        let Some(p) = node.parent else { continue };
        let parent = &tree.nodes[p];
        if same_clock(node.span.resource, parent.span.resource) {
            eff[n] = eff[p];
        } else {
            let ps = parent.start() as i128 + eff[p] as i128;
            let pe = parent.end() as i128 + eff[p] as i128;
            let async_link = parent.span.span.kind == SpanKind::Producer
                || node.span.span.kind == SpanKind::Consumer;
            let d = needed_shift(node.start() as i128, node.end() as i128, ps, pe, async_link)
                .clamp(i64::MIN as i128 + 1, i64::MAX as i128) as i64;
            let reason = match max_shift {
                _ if d == 0 => None,
                None => Some(SkipReason::NotRequested),
                Some(max) if d.unsigned_abs() > max => Some(SkipReason::ExceedsBound),
                Some(_) => None,
            };
            match reason {
                Some(reason) => report.skipped.push(Skipped {
                    span_id: node.span_id(),
                    shift_nanos: d,
                    reason,
                }),
                None => eff[n] = d,
            }
        }
        if eff[n] != 0 {
            report.adjustments.push(Shift {
                span_id: node.span_id(),
                shift_nanos: eff[n],
            });
        }
    }
    (eff, report)
}

/// Reports the shifts the trace would need without applying any.
pub fn detect_clock_skew(batch: &Batch) -> SkewReport {
    detect_clock_skew_in(&TraceTree::new(batch))
}

/// [`detect_clock_skew`] on a tree already built.
pub fn detect_clock_skew_in(tree: &TraceTree<'_>) -> SkewReport {
    plan(tree, None).1
}

fn shift(t: u64, by: i64) -> u64 {
    t.saturating_add_signed(by)
}

/// Moves the subtrees of children on a different clock inside their parents, at most
/// `max_shift_nanos` each (see the module documentation). Returns the adjusted copy of the
/// batch and what was done. Spans dropped by the tree as duplicate ids are not moved.
pub fn adjust_clock_skew(batch: &Batch, max_shift_nanos: u64) -> (Batch, SkewReport) {
    let tree = TraceTree::new(batch);
    let (eff, report) = plan(&tree, Some(max_shift_nanos));
    if !report.applied() {
        return (batch.clone(), report);
    }
    let by_ptr: HashMap<*const Span, i64> = tree
        .nodes
        .iter()
        .zip(&eff)
        .filter(|(_, &d)| d != 0)
        .map(|(n, &d)| (n.span.span as *const Span, d))
        .collect();
    let deltas: Vec<i64> = batch
        .spans()
        .map(|s| by_ptr.get(&(s.span as *const Span)).copied().unwrap_or(0))
        .collect();
    let mut out = batch.clone();
    let spans = out
        .resource_spans
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .flat_map(|s| s.spans.iter_mut());
    for (span, d) in spans.zip(deltas) {
        if d == 0 {
            continue;
        }
        span.start_time_unix_nano = shift(span.start_time_unix_nano, d);
        span.end_time_unix_nano = shift(span.end_time_unix_nano, d);
        for e in &mut span.events {
            e.time_unix_nano = shift(e.time_unix_nano, d);
        }
    }
    (out, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{id, name, trace, MS};

    struct Expect<'a> {
        /// (span, shift ms) applied
        shifts: &'a [(&'a str, f64)],
        /// (span, shift ms, reason) not applied
        skipped: &'a [(&'a str, f64, SkipReason)],
        /// (span, start ms, end ms) after adjustment
        times: &'a [(&'a str, f64, f64)],
    }

    /// `max_ms`: the bound in ms, or `None` for detection only.
    fn check(text: &str, max_ms: Option<f64>, expect: Expect<'_>) {
        let b = trace(text);
        let ns = |ms: f64| (ms * MS as f64).round() as i64;
        let (out, report) = match max_ms {
            Some(m) => adjust_clock_skew(&b, ns(m) as u64),
            None => (b.clone(), detect_clock_skew(&b)),
        };
        let got: Vec<(String, i64)> = report
            .adjustments
            .iter()
            .map(|s| (name(s.span_id), s.shift_nanos))
            .collect();
        let want: Vec<(String, i64)> = expect
            .shifts
            .iter()
            .map(|(n, d)| (n.to_string(), ns(*d)))
            .collect();
        assert_eq!(got, want, "applied shifts of\n{text}");
        let got: Vec<(String, i64, SkipReason)> = report
            .skipped
            .iter()
            .map(|s| (name(s.span_id), s.shift_nanos, s.reason))
            .collect();
        let want: Vec<(String, i64, SkipReason)> = expect
            .skipped
            .iter()
            .map(|(n, d, r)| (n.to_string(), ns(*d), *r))
            .collect();
        assert_eq!(got, want, "skipped shifts of\n{text}");
        assert_eq!(report.applied(), !expect.shifts.is_empty());
        assert_eq!(report.requested, max_ms.is_some());
        let t = TraceTree::new(&out);
        for (n, s, e) in expect.times {
            let node = &t.nodes[t.get(id(n)).expect("span")];
            assert_eq!(
                (node.start() as i64, node.end() as i64),
                (ns(*s), ns(*e)),
                "times of {n}"
            );
        }
        if max_ms.is_none() {
            assert_eq!(out, b, "detection changes nothing");
        }
    }

    // the api service's clock runs 30 ms slow: its spans appear to start too early
    const SLOW_CLOCK: &str = "
        root gw  -    100 200 kind=client
        srv  api root 75  135 kind=server
        db   api srv  80  120
        late gw  root 190 260
    ";

    #[test]
    fn a_child_from_another_service_is_centred_with_its_subtree() {
        check(
            SLOW_CLOCK,
            Some(60_000.0),
            Expect {
                shifts: &[("srv", 45.0), ("db", 45.0)],
                skipped: &[],
                // srv lasts 60 of root's 100 ms: 20 ms of latency each way
                times: &[
                    ("root", 100.0, 200.0),
                    ("srv", 120.0, 180.0),
                    ("db", 125.0, 165.0),
                    // same service as its parent: async, never shifted
                    ("late", 190.0, 260.0),
                ],
            },
        );
    }

    #[test]
    fn a_child_ending_after_its_parent_is_moved_back() {
        check(
            "root gw - 0 100
             srv api root 80 120",
            Some(60_000.0),
            Expect {
                shifts: &[("srv", -50.0)],
                skipped: &[],
                times: &[("srv", 30.0, 70.0)],
            },
        );
    }

    #[test]
    fn a_child_longer_than_its_parent_only_gets_its_start_aligned() {
        check(
            "root gw - 10 20
             early api root 0 50
             after api2 root 15 60",
            Some(60_000.0),
            Expect {
                shifts: &[("early", 10.0)],
                skipped: &[],
                times: &[("early", 10.0, 60.0), ("after", 15.0, 60.0)],
            },
        );
    }

    #[test]
    fn fitting_children_same_host_and_same_service_stay() {
        check(
            "root gw  -    0 100 host=h1
             fits api  root 10 90
             host db   root 90 150 host=h1
             same gw   root 95 300 host=h1
             far  gw   root 500 600 host=h2",
            Some(60_000.0),
            Expect {
                shifts: &[],
                skipped: &[],
                times: &[
                    ("host", 90.0, 150.0),
                    ("same", 95.0, 300.0),
                    ("far", 500.0, 600.0),
                ],
            },
        );
    }

    #[test]
    fn messaging_children_may_start_late_but_not_early() {
        check(
            "root gw  -    10 20 kind=producer
             late wk  root 50 55 kind=consumer
             pub  gw  root 12 13 kind=producer
             early wk pub 5 8 kind=consumer",
            Some(60_000.0),
            Expect {
                shifts: &[("early", 7.0)],
                skipped: &[],
                times: &[("late", 50.0, 55.0), ("early", 12.0, 15.0)],
            },
        );
    }

    #[test]
    fn a_shift_beyond_the_bound_is_reported_not_applied() {
        // the api clock is two minutes fast; its child in a third service is compared with
        // the unadjusted api span, and is two minutes off from it too
        check(
            "root gw  -   0 100
             srv  api root 120010 120090
             db   pg  srv  20 60",
            Some(60_000.0),
            Expect {
                shifts: &[],
                skipped: &[
                    ("srv", -120_000.0, SkipReason::ExceedsBound),
                    ("db", 120_010.0, SkipReason::ExceedsBound),
                ],
                times: &[("srv", 120_010.0, 120_090.0), ("db", 20.0, 60.0)],
            },
        );
        // with a bound of an hour both fit
        check(
            "root gw  -   0 100
             srv  api root 120010 120090
             db   pg  srv  20 60",
            Some(3_600_000.0),
            Expect {
                shifts: &[("srv", -120_000.0)],
                skipped: &[],
                times: &[("srv", 10.0, 90.0), ("db", 20.0, 60.0)],
            },
        );
    }

    #[test]
    fn a_chain_of_skewed_clocks_is_adjusted_against_adjusted_parents() {
        check(
            "root a - 0 100
             b1   b root 60 140
             c1   c b1 160 180",
            Some(60_000.0),
            Expect {
                // b1 (80 ms) centred at 10..90; c1 (20 ms) centred in that at 40..60
                shifts: &[("b1", -50.0), ("c1", -120.0)],
                skipped: &[],
                times: &[("b1", 10.0, 90.0), ("c1", 40.0, 60.0)],
            },
        );
    }

    #[test]
    fn detection_only_reports() {
        check(
            SLOW_CLOCK,
            None,
            Expect {
                shifts: &[],
                skipped: &[("srv", 45.0, SkipReason::NotRequested)],
                times: &[("srv", 75.0, 135.0)],
            },
        );
    }

    #[test]
    fn events_move_with_their_span() {
        let b = trace(
            "root gw - 0 100
             srv api root 80 120 exc=boom",
        );
        let (out, _) = adjust_clock_skew(&b, DEFAULT_MAX_SHIFT_NANOS);
        let t = TraceTree::new(&out);
        let srv = t.nodes[t.get(id("srv")).unwrap()].span.span;
        assert_eq!(srv.events[0].time_unix_nano, 30 * MS);
    }
}
