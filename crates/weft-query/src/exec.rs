//! The executor: asks the store for candidate traces (newest first, in growing pages), fetches
//! them a few at a time concurrently, evaluates the whole query on each and stops at `limit`
//! matches or when the inspection budget is spent.

use std::collections::HashSet;

use futures_util::stream::{self, StreamExt};
use weft_model::{Batch, TraceId, TraceSummary};
use weft_store::TraceReader;

use crate::ast::Query;
use crate::error::QueryError;
use crate::eval::{evaluate, EvalOptions, Spanset};
use crate::plan::{plan, Plan};

/// Options of [`execute`].
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// Only spans starting in `[start, end]` (unix nanoseconds) take part.
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// Matching traces wanted.
    pub limit: usize,
    /// Spans returned per spanset.
    pub spans_per_spanset: usize,
    /// Candidate traces fetched and evaluated at most.
    pub max_inspected_traces: usize,
    /// Trace fetches in flight at once.
    pub concurrency: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            start: None,
            end: None,
            limit: 20,
            spans_per_spanset: 3,
            max_inspected_traces: 5_000,
            concurrency: 12,
        }
    }
}

/// One matching trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceMatch {
    /// Computed from the fetched trace.
    pub summary: TraceSummary,
    pub spansets: Vec<Spanset>,
}

/// The result of [`execute`].
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// Newest first.
    pub traces: Vec<TraceMatch>,
    /// The search stopped (at `limit` or at the inspection budget) with candidates left
    /// unexamined: more traces may match.
    pub truncated: bool,
    /// Candidate traces fetched and evaluated.
    pub inspected: usize,
    /// What was pushed down to the store.
    pub plan: Plan,
}

/// The summary of a whole trace (as the store computes it).
pub fn summarize(id: TraceId, batch: &Batch) -> TraceSummary {
    let mut s = TraceSummary::new(id);
    for r in batch.spans() {
        s.add(
            r.resource.service_name(),
            &r.span.name,
            r.span.parent_span_id.is_none(),
            r.span.start_time_unix_nano,
            r.span.end_time_unix_nano,
            r.span.is_error(),
        );
    }
    s
}

/// Runs `query` against `reader`.
pub async fn execute(
    reader: &dyn TraceReader,
    query: &Query,
    opts: &QueryOptions,
) -> Result<QueryResult, QueryError> {
    let caps = reader.capabilities();
    let plan = plan(query, caps);
    let limit = opts.limit.max(1);
    let budget = opts.max_inspected_traces.max(1);
    let eval_opts = EvalOptions {
        spans_per_spanset: opts.spans_per_spanset.max(1),
        start_unix_nano: opts.start,
        end_unix_nano: opts.end,
    };
    let mut seen: HashSet<TraceId> = HashSet::new();
    let mut traces: Vec<TraceMatch> = Vec::new();
    let mut inspected = 0usize;
    // The first page asks for `limit` candidates: when the store evaluates the whole query
    // (a filter it can push down completely) every candidate matches and one page is enough;
    // asking for more would make the store settle more traces, often in older blocks.
    // Pages then double.
    let mut page = limit.clamp(16, 1_000);
    let truncated;
    loop {
        let want = (seen.len() + page).min(seen.len() + budget - inspected + 1);
        let res = reader
            .search(&plan.search_query(caps, opts.start, opts.end, want))
            .await?;
        let fresh: Vec<TraceId> = res
            .traces
            .iter()
            .map(|t| t.trace_id)
            .filter(|id| !seen.contains(id))
            .collect();
        let store_has_more = res.truncated;
        let room = budget - inspected;
        let take = fresh.len().min(room);
        seen.extend(fresh.iter().copied());
        let mut stream = stream::iter(fresh[..take].iter().copied())
            .map(|id| async move { (id, reader.trace(id).await) })
            .buffered(opts.concurrency.max(1));
        let mut stopped_early = false;
        while let Some((id, batch)) = stream.next().await {
            inspected += 1;
            let Some(batch) = batch? else {
                continue; // deleted (retention) between search and fetch
            };
            let spansets = evaluate(query, &batch, &eval_opts);
            if !spansets.is_empty() {
                traces.push(TraceMatch {
                    summary: summarize(id, &batch),
                    spansets,
                });
                if traces.len() >= limit {
                    stopped_early = true;
                    break;
                }
            }
        }
        drop(stream);
        let left_in_page = if stopped_early {
            // candidates of this page not yet evaluated
            inspected < seen.len()
        } else {
            take < fresh.len()
        };
        if traces.len() >= limit || inspected >= budget {
            truncated = left_in_page || store_has_more;
            break;
        }
        if !store_has_more {
            truncated = false;
            break;
        }
        if fresh.is_empty() {
            // the store says "more" without new candidates (it changed under us)
            truncated = true;
            break;
        }
        page = page.saturating_mul(2).min(100_000);
    }
    traces.sort_by(|a, b| {
        b.summary
            .start_unix_nano
            .cmp(&a.summary.start_unix_nano)
            .then(a.summary.trace_id.cmp(&b.summary.trace_id))
    });
    Ok(QueryResult {
        traces,
        truncated,
        inspected,
        plan,
    })
}
