//! The native query API (`/api/v1/...`), health endpoints and `/metrics`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use weft_ingest::IngestMetrics;
use weft_model::{TraceId, TraceSummary};
use weft_store::{EmbeddedStore, SearchQuery, StoreError, TraceReader};

#[derive(Clone)]
pub struct ApiState {
    pub reader: Arc<dyn TraceReader>,
    pub store: EmbeddedStore,
    pub ingest: Arc<IngestMetrics>,
    /// The file archive, when `--archive-dir` is set.
    pub archive: Option<Arc<crate::archive::Archive>>,
    /// Jaeger remote sampling strategies (`--sampling-strategies`).
    pub sampling: Arc<crate::sampling_api::StrategyStore>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/traces/{trace_id}", get(get_trace))
        .route("/api/v1/search", get(search))
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{service}/operations", get(operations))
        .route("/api/v1/admin/flush", axum::routing::post(flush))
        .route("/api/v1/admin/compact", axum::routing::post(compact))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/metrics", get(crate::metrics::metrics))
        .merge(crate::query_api::routes())
        .merge(crate::analysis_api::routes())
        .merge(crate::jaeger_api::routes())
        .merge(crate::sampling_api::routes())
        .merge(crate::ui::routes())
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint: see /api/v1/search, /api/v1/traces/{id}, /api/v1/services",
            )
        })
        .with_state(state)
}

/// An API error: a status and a JSON body `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::InvalidQuery(m) => ApiError::bad_request(m),
            StoreError::Overloaded(m) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, m),
            StoreError::ShuttingDown => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "weft is shutting down")
            }
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("store error: {other}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

pub fn parse_trace_id(s: &str) -> Result<TraceId, ApiError> {
    TraceId::from_hex(s).map_err(|e| ApiError::bad_request(format!("invalid trace id {s:?}: {e}")))
}

/// `GET /api/v1/traces/{id}[?format=otlp|jaeger]`: OTLP/JSON, or the Jaeger UI JSON of
/// `/api/traces/{id}`.
async fn get_trace(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = parse_trace_id(&id)?;
    let format = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned());
    let jaeger = match format.as_deref() {
        None | Some("") | Some("otlp") => false,
        Some("jaeger") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown format {other:?}: use format=otlp or format=jaeger"
            )))
        }
    };
    match st.reader.trace(id).await? {
        Some(batch) if jaeger => Ok(crate::jaeger_api::trace_envelope(batch)),
        Some(batch) => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            weft_proto::json::encode_traces_data(&batch),
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("trace {id} not found"),
        )),
    }
}

/// The JSON shape of a search result row.
pub fn summary_json(s: &TraceSummary) -> Value {
    json!({
        "traceId": s.trace_id.to_hex(),
        "rootServiceName": s.root_service,
        "rootSpanName": s.root_name,
        "rootSpanPresent": s.has_root,
        "startTimeUnixNano": s.start_unix_nano.to_string(),
        "durationNanos": s.duration_nanos().to_string(),
        "durationMs": s.duration_nanos() as f64 / 1e6,
        "spanCount": s.span_count,
        "errorCount": s.error_count,
        "services": s.services,
    })
}

/// Parses a timestamp: RFC 3339, or an integer of unix time whose magnitude says its unit
/// (seconds, milliseconds, microseconds or nanoseconds).
pub fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(match n {
            0..=99_999_999_999 => n * 1_000_000_000,
            100_000_000_000..=99_999_999_999_999 => n * 1_000_000,
            100_000_000_000_000..=99_999_999_999_999_999 => n * 1_000,
            _ => n,
        });
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("invalid time {s:?} ({e}): use RFC 3339 or unix seconds"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .map_err(|_| format!("time {s:?} is before 1970"))
        })
}

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 10_000;

/// Builds a store query from `/api/v1/search` parameters.
pub fn search_query(raw: &str) -> Result<SearchQuery, ApiError> {
    let mut q = SearchQuery {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let dur = |k: &str, v: &str| {
        weft_model::duration::parse_duration_nanos(v)
            .map_err(|e| ApiError::bad_request(format!("{k}: {e}")))
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "service" => q.service = Some(v.to_string()),
            "name" | "operation" => q.span_name = Some(v.to_string()),
            "attr" | "tag" => {
                let (key, val) = v.split_once('=').or_else(|| v.split_once(':')).ok_or_else(|| {
                    ApiError::bad_request(format!("attr {v:?}: write attr=key=value"))
                })?;
                q.attributes.push((key.trim().to_string(), val.trim().to_string()));
            }
            "minDuration" => q.min_duration_nanos = Some(dur("minDuration", v)?),
            "maxDuration" => q.max_duration_nanos = Some(dur("maxDuration", v)?),
            "status" => match v {
                "error" => q.errors_only = true,
                "any" | "all" => q.errors_only = false,
                _ => return Err(ApiError::bad_request(format!("status {v:?}: use status=error"))),
            },
            "start" => q.start_unix_nano = Some(parse_time(v).map_err(|e| ApiError::bad_request(format!("start: {e}")))?),
            "end" => q.end_unix_nano = Some(parse_time(v).map_err(|e| ApiError::bad_request(format!("end: {e}")))?),
            "limit" => {
                let n: usize = v.parse().map_err(|_| ApiError::bad_request(format!("limit {v:?}: expected a positive integer")))?;
                if n == 0 || n > MAX_LIMIT {
                    return Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")));
                }
                q.limit = n;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown search parameter {other:?}: use service, name, attr, minDuration, maxDuration, status, start, end, limit"
                )))
            }
        }
    }
    if let (Some(a), Some(b)) = (q.min_duration_nanos, q.max_duration_nanos) {
        if a > b {
            return Err(ApiError::bad_request(
                "minDuration is greater than maxDuration",
            ));
        }
    }
    if let (Some(a), Some(b)) = (q.start_unix_nano, q.end_unix_nano) {
        if a > b {
            return Err(ApiError::bad_request("start is after end"));
        }
    }
    Ok(q)
}

async fn search(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = search_query(raw.as_deref().unwrap_or(""))?;
    let res = st.reader.search(&q).await?;
    Ok(Json(json!({
        "traces": res.traces.iter().map(summary_json).collect::<Vec<_>>(),
        "truncated": res.truncated,
        "limit": q.limit,
    })))
}

/// Cuts the head into a block now (like Tempo's `/flush`): for benchmarks and before backups.
async fn flush(State(st): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let store = st.store.clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!({"flushed": true})))
}

/// Runs one round of compaction now (it also runs in the background).
async fn compact(State(st): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let store = st.store.clone();
    let merged = tokio::task::spawn_blocking(move || store.compact())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!({"compacted": merged})))
}

async fn services(State(st): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"services": st.reader.services().await?})))
}

async fn operations(
    State(st): State<ApiState>,
    Path(service): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ops = st.reader.operations(&service).await?;
    Ok(Json(json!({
        "operations": ops.iter().map(|o| json!({"name": o.name, "spanKind": o.kind.short_name()})).collect::<Vec<_>>()
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_params() {
        let q = search_query("service=api&name=GET%20%2Fx&attr=http.status_code=500&attr=user.id%3Dabc&minDuration=1.5s&status=error&limit=5&start=1700000000").unwrap();
        assert_eq!(q.service.as_deref(), Some("api"));
        assert_eq!(q.span_name.as_deref(), Some("GET /x"));
        assert_eq!(
            q.attributes,
            vec![
                ("http.status_code".into(), "500".into()),
                ("user.id".into(), "abc".into())
            ]
        );
        assert_eq!(q.min_duration_nanos, Some(1_500_000_000));
        assert!(q.errors_only);
        assert_eq!(q.limit, 5);
        assert_eq!(q.start_unix_nano, Some(1_700_000_000_000_000_000));
        for bad in [
            "limit=0",
            "minDuration=5",
            "status=ok",
            "attr=nokey",
            "bogus=1",
            "start=yesterday",
            "minDuration=2s&maxDuration=1s",
        ] {
            assert!(search_query(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000_000_000));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000_000_000));
        assert_eq!(
            parse_time("1700000000000000"),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("1700000000000000000"),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000_000_000)
        );
    }
}
