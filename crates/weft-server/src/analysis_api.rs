//! Trace analysis over HTTP: `/api/v1/traces/{id}/analysis`, `/api/v1/dependencies`,
//! `/api/v1/compare`, and Jaeger's `/api/dependencies`. The analyses themselves are pure
//! functions in `weft-analyze`; this module reads traces from the store, parses parameters
//! and runs the CPU work off the async threads.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use weft_analyze::{CompareOptions, GraphAggregator, Options, ServiceGraph};
use weft_model::duration::parse_duration_nanos;
use weft_model::{Batch, TraceId};
use weft_store::{SearchQuery, StoreError};

use crate::api::{parse_time, parse_trace_id, ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/traces/{trace_id}/analysis", get(analysis))
        .route("/api/v1/dependencies", get(dependencies))
        .route("/api/v1/compare", get(compare))
        .route("/api/dependencies", get(jaeger_dependencies))
}

/// How many traces a dependency graph reads at most, unless `maxTraces` says otherwise.
pub const DEFAULT_MAX_TRACES: usize = 1_000;
/// The largest `maxTraces` accepted.
pub const MAX_TRACES_LIMIT: usize = 10_000;
/// The window of a dependency graph when no start is given (Jaeger's default lookback).
pub const DEFAULT_LOOKBACK_NANOS: u64 = 24 * 3_600 * 1_000_000_000;
/// Traces read from the store at the same time while building a dependency graph.
const FETCH_CONCURRENCY: usize = 8;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn params(raw: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn unknown(name: &str, known: &str) -> ApiError {
    bad(format!("unknown parameter {name:?}: use {known}"))
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Parses `/analysis` parameters: `skew=adjust|off`, `maxSkew=<duration>`, `slowest=<n>`,
/// `bottleneckShare=<0..1>`.
pub fn analysis_options(raw: &Option<String>) -> Result<Options, String> {
    let mut o = Options::default();
    for (k, v) in params(raw) {
        match k.as_str() {
            "skew" => {
                o.adjust_skew = match v.as_str() {
                    "adjust" => true,
                    "off" | "none" | "report" => false,
                    _ => return Err(format!("skew {v:?}: use skew=adjust (or skew=off)")),
                }
            }
            "maxSkew" => {
                o.max_skew_nanos = parse_duration_nanos(&v).map_err(|e| format!("maxSkew: {e}"))?
            }
            "slowest" => {
                o.slowest = v
                    .parse()
                    .ok()
                    .filter(|n| *n <= 1_000)
                    .ok_or_else(|| format!("slowest {v:?}: expected a number from 0 to 1000"))?
            }
            "bottleneckShare" => {
                o.bottlenecks.share = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .ok_or_else(|| {
                        format!("bottleneckShare {v:?}: expected a share between 0 and 1, e.g. 0.5")
                    })?
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: use skew, maxSkew, slowest, bottleneckShare"
                ))
            }
        }
    }
    Ok(o)
}

async fn load(st: &ApiState, id: TraceId, which: &str) -> Result<Batch, ApiError> {
    st.reader
        .trace(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("{which}{id} not found")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

async fn analysis(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = parse_trace_id(&id)?;
    let opts = analysis_options(&raw).map_err(bad)?;
    let batch = load(&st, id, "trace ").await?;
    Ok(Json(
        blocking(move || weft_analyze::analyze(&batch, &opts).to_json()).await?,
    ))
}

async fn compare(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (mut a, mut b) = (None, None);
    let mut opts = CompareOptions::default();
    for (k, v) in params(&raw) {
        match k.as_str() {
            "a" => a = Some(parse_trace_id(&v)?),
            "b" => b = Some(parse_trace_id(&v)?),
            "minDelta" => {
                opts.min_delta_nanos =
                    parse_duration_nanos(&v).map_err(|e| bad(format!("minDelta: {e}")))?
            }
            "minDeltaRatio" => {
                opts.min_delta_ratio = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| {
                        bad(format!("minDeltaRatio {v:?}: expected a ratio such as 0.1"))
                    })?
            }
            other => return Err(unknown(other, "a, b, minDelta, minDeltaRatio")),
        }
    }
    let (Some(a), Some(b)) = (a, b) else {
        return Err(bad(
            "compare needs two trace ids: /api/v1/compare?a=<trace id>&b=<trace id>",
        ));
    };
    let (ta, tb) = tokio::join!(load(&st, a, "trace a "), load(&st, b, "trace b "));
    let (ta, tb) = (ta?, tb?);
    Ok(Json(
        blocking(move || weft_analyze::compare(&ta, &tb, &opts).to_json()).await?,
    ))
}

/// The graph of the traces with a span starting in `[start, end]`, newest first, at most
/// `max_traces` of them.
struct Gathered {
    graph: ServiceGraph,
    traces_analyzed: u64,
    /// More traces were in the window than were read.
    truncated: bool,
}

/// Why a graph could not be gathered; answered as a native or as a Jaeger error.
enum GatherError {
    Store(StoreError),
    Internal(String),
}

impl From<StoreError> for GatherError {
    fn from(e: StoreError) -> GatherError {
        GatherError::Store(e)
    }
}

impl From<GatherError> for ApiError {
    fn from(e: GatherError) -> ApiError {
        match e {
            GatherError::Store(e) => ApiError::from(e),
            GatherError::Internal(m) => internal(m),
        }
    }
}

impl GatherError {
    /// The error in Jaeger's envelope, with the status the native API would use.
    fn jaeger(self) -> Response {
        let (status, msg) = match self {
            GatherError::Store(e) => (
                match e {
                    StoreError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
                    StoreError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
                    StoreError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                },
                e.to_string(),
            ),
            GatherError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        jaeger_error(status, msg)
    }
}

async fn gather(
    st: &ApiState,
    start: u64,
    end: u64,
    service: Option<String>,
    max_traces: usize,
    self_calls: bool,
) -> Result<Gathered, GatherError> {
    let found = st
        .reader
        .search(&SearchQuery {
            service: service.clone(),
            start_unix_nano: Some(start),
            end_unix_nano: Some(end),
            limit: max_traces,
            ..Default::default()
        })
        .await?;
    // traces stream to one blocking aggregator as they arrive, so memory stays bounded by
    // the fetches in flight, not by maxTraces
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(FETCH_CONCURRENCY);
    let aggregator = tokio::task::spawn_blocking(move || {
        let mut agg = if self_calls {
            GraphAggregator::with_self_calls()
        } else {
            GraphAggregator::new()
        };
        while let Some(b) = rx.blocking_recv() {
            agg.add(&b);
        }
        agg
    });
    let mut pending = found.traces.iter().map(|t| t.trace_id);
    let mut set = tokio::task::JoinSet::new();
    loop {
        while set.len() < FETCH_CONCURRENCY {
            let Some(id) = pending.next() else { break };
            let reader = st.reader.clone();
            set.spawn(async move { reader.trace(id).await });
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        // a trace deleted by retention since the search is simply not counted
        if let Some(b) = done.map_err(|e| GatherError::Internal(e.to_string()))?? {
            if tx.send(b).await.is_err() {
                break; // the aggregator died; its join below reports why
            }
        }
    }
    drop(tx);
    let agg = aggregator
        .await
        .map_err(|e| GatherError::Internal(e.to_string()))?;
    let traces_analyzed = agg.traces();
    let mut graph = agg.finish();
    if let Some(s) = &service {
        graph.retain_service(s);
    }
    Ok(Gathered {
        graph,
        traces_analyzed,
        truncated: found.truncated,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Mermaid,
    Dot,
}

async fn dependencies(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (mut start, mut end, mut service) = (None, None, None);
    let mut format = Format::Json;
    let mut max_traces = DEFAULT_MAX_TRACES;
    let time = |k: &str, v: &str| parse_time(v).map_err(|e| bad(format!("{k}: {e}")));
    for (k, v) in params(&raw) {
        match k.as_str() {
            "start" => start = Some(time("start", &v)?),
            "end" => end = Some(time("end", &v)?),
            "service" => service = Some(v),
            "format" => {
                format = match v.as_str() {
                    "json" => Format::Json,
                    "mermaid" => Format::Mermaid,
                    "dot" => Format::Dot,
                    _ => return Err(bad(format!("format {v:?}: use json, mermaid or dot"))),
                }
            }
            "maxTraces" => {
                max_traces = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_TRACES_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "maxTraces {v:?}: expected a number from 1 to {MAX_TRACES_LIMIT}"
                        ))
                    })?
            }
            other => {
                return Err(unknown(other, "start, end, service, format, maxTraces"));
            }
        }
    }
    let end = end.unwrap_or_else(now_nanos);
    let start = start.unwrap_or_else(|| end.saturating_sub(DEFAULT_LOOKBACK_NANOS));
    if start > end {
        return Err(bad("start is after end"));
    }
    let g = gather(&st, start, end, service, max_traces, false).await?;
    let text = |body: String| {
        let mut r = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
        let h = r.headers_mut();
        h.insert(
            "x-weft-traces-analyzed",
            HeaderValue::from(g.traces_analyzed),
        );
        h.insert(
            "x-weft-truncated",
            HeaderValue::from_static(if g.truncated { "true" } else { "false" }),
        );
        r
    };
    Ok(match format {
        Format::Mermaid => text(g.graph.to_mermaid()),
        Format::Dot => text(g.graph.to_dot()),
        Format::Json => {
            let mut v = g.graph.to_json();
            v["tracesAnalyzed"] = json!(g.traces_analyzed);
            v["truncated"] = json!(g.truncated);
            v["startTimeUnixNano"] = json!(start.to_string());
            v["endTimeUnixNano"] = json!(end.to_string());
            v["maxTraces"] = json!(max_traces);
            Json(v).into_response()
        }
    })
}

/// An error in Jaeger's envelope, as its query service writes one.
fn jaeger_error(status: StatusCode, msg: String) -> Response {
    (
        status,
        Json(json!({
            "data": null,
            "total": 0,
            "limit": 0,
            "offset": 0,
            "errors": [{"code": status.as_u16(), "msg": msg}],
        })),
    )
        .into_response()
}

/// Jaeger's `GET /api/dependencies?endTs=<ms>&lookback=<ms>[&service=]`: the links of the
/// window, calls inside one service included (as Jaeger v2's stores count them),  (default: the 24 hours before now) as `{"data":[{"parent","child","callCount"}],
/// "total":0,"limit":0,"offset":0,"errors":null}`, read from at most
/// [`DEFAULT_MAX_TRACES`] traces.
async fn jaeger_dependencies(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let mut end_ms: Option<u64> = None;
    let mut lookback_ms: Option<u64> = None;
    let mut service = None;
    for (k, v) in params(&raw) {
        let ms = |name: &str| {
            v.parse::<u64>().map_err(|_| {
                format!("unable to parse param '{name}': {v:?} is not a number of milliseconds")
            })
        };
        let parsed = match k.as_str() {
            "endTs" => ms("endTs").map(|n| end_ms = Some(n)),
            "lookback" => ms("lookback").map(|n| lookback_ms = Some(n)),
            "service" => {
                service = Some(v.clone());
                Ok(())
            }
            // Jaeger ignores parameters it does not know
            _ => Ok(()),
        };
        if let Err(msg) = parsed {
            return jaeger_error(StatusCode::BAD_REQUEST, msg);
        }
    }
    let to_nanos = |ms: u64, name: &str| {
        ms.checked_mul(1_000_000)
            .ok_or_else(|| format!("unable to parse param '{name}': {ms} ms is out of range"))
    };
    let end = match end_ms.map(|m| to_nanos(m, "endTs")).transpose() {
        Ok(e) => e.unwrap_or_else(now_nanos),
        Err(msg) => return jaeger_error(StatusCode::BAD_REQUEST, msg),
    };
    let lookback = match lookback_ms.map(|m| to_nanos(m, "lookback")).transpose() {
        Ok(l) => l.unwrap_or(DEFAULT_LOOKBACK_NANOS),
        Err(msg) => return jaeger_error(StatusCode::BAD_REQUEST, msg),
    };
    match gather(
        &st,
        end.saturating_sub(lookback),
        end,
        service,
        DEFAULT_MAX_TRACES,
        // Jaeger counts a call inside one service as a link from the service to itself
        true,
    )
    .await
    {
        Ok(g) => Json(json!({
            "data": g.graph.edges.iter().map(|e| json!({
                "parent": e.parent,
                "child": e.child,
                "callCount": e.calls,
            })).collect::<Vec<_>>(),
            "total": 0,
            "limit": 0,
            "offset": 0,
            "errors": null,
        }))
        .into_response(),
        Err(e) => e.jaeger(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expect: Result<(bool, u64, usize, f64), &str>) {
        match (analysis_options(&Some(raw.to_string())), expect) {
            (Ok(o), Ok((adjust, max, slowest, share))) => assert_eq!(
                (
                    o.adjust_skew,
                    o.max_skew_nanos,
                    o.slowest,
                    o.bottlenecks.share
                ),
                (adjust, max, slowest, share),
                "{raw}"
            ),
            (Err(e), Err(want)) => assert!(e.contains(want), "{raw}: {e}"),
            (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn analysis_parameters() {
        let d = weft_analyze::DEFAULT_MAX_SHIFT_NANOS;
        check("", Ok((false, d, 10, 0.5)));
        check(
            "skew=adjust&slowest=3&bottleneckShare=0.25",
            Ok((true, d, 3, 0.25)),
        );
        check(
            "skew=adjust&maxSkew=1h",
            Ok((true, 3_600_000_000_000, 10, 0.5)),
        );
        check("skew=off", Ok((false, d, 10, 0.5)));
        check("skew=yes", Err("skew \"yes\": use skew=adjust"));
        check("maxSkew=5", Err("missing unit"));
        check("slowest=-1", Err("expected a number from 0 to 1000"));
        check("slowest=5000", Err("expected a number from 0 to 1000"));
        check("bottleneckShare=50", Err("between 0 and 1"));
        check("bottleneckShare=NaN", Err("between 0 and 1"));
        check("bogus=1", Err("unknown parameter \"bogus\""));
    }
}
