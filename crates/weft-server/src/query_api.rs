//! TraceQL over HTTP.
//!
//! - `GET /api/v1/query?q=&start=&end=&limit=&spss=`: weft's shape (the rows of
//!   `/api/v1/search` with the matching spansets). A query that does not parse answers 400
//!   with the message and its `line` and `column`.
//! - `GET /api/search?q=&start=&end=&limit=&spss=`: the same search in Grafana Tempo's JSON
//!   shape, so Tempo clients (Grafana's Tempo data source) can search weft.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value as JsonValue};
use weft_query::{QueryError, QueryOptions, QueryResult, Spanset, Value};

use crate::api::{parse_time, summary_json, ApiError, ApiState, DEFAULT_LIMIT, MAX_LIMIT};

/// Candidate traces one query fetches and evaluates at most.
pub const MAX_INSPECTED_TRACES: usize = 5_000;
/// Default spans per spanset (Tempo's `spss`).
pub const DEFAULT_SPSS: usize = 3;
pub const MAX_SPSS: usize = 1_000;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/query", get(query))
        .route("/api/search", get(tempo_search))
        // Tempo's liveness probe, which Grafana's Tempo data source calls to test a connection
        .route("/api/echo", get(|| async { "echo" }))
}

struct Params {
    q: String,
    opts: QueryOptions,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// Reads the query string. `tempo`: Tempo's endpoint, which ignores parameters it does not
/// know (Grafana sends several) and treats a missing `q` as `{ }`.
fn params(raw: &str, tempo: bool) -> Result<Params, ApiError> {
    let mut q: Option<String> = None;
    let mut opts = QueryOptions {
        limit: DEFAULT_LIMIT,
        spans_per_spanset: DEFAULT_SPSS,
        max_inspected_traces: MAX_INSPECTED_TRACES,
        ..Default::default()
    };
    let number = |k: &str, v: &str, max: usize| -> Result<usize, ApiError> {
        match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "{k} {v:?}: expected an integer between 1 and {max}"
            ))),
        }
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = v.trim();
        match k.as_ref() {
            "q" => q = Some(v.to_string()),
            _ if v.is_empty() => {}
            "start" => opts.start = Some(parse_time(v).map_err(|e| bad(format!("start: {e}")))?),
            "end" => opts.end = Some(parse_time(v).map_err(|e| bad(format!("end: {e}")))?),
            "limit" => opts.limit = number("limit", v, MAX_LIMIT)?,
            "spss" => opts.spans_per_spanset = number("spss", v, MAX_SPSS)?,
            _ if tempo => {}
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}: use q, start, end, limit, spss"
                )))
            }
        }
    }
    if let (Some(a), Some(b)) = (opts.start, opts.end) {
        if a > b {
            return Err(bad("start is after end"));
        }
    }
    let q = match q {
        Some(q) if !q.trim().is_empty() => q,
        _ if tempo => "{ }".to_string(),
        _ => {
            return Err(bad(
                "missing q: pass a TraceQL query, e.g. q={ status = error } or q=duration > 2s",
            ))
        }
    };
    Ok(Params { q, opts })
}

/// Parses and runs the query; a parse error becomes 400 with its position.
async fn run(st: &ApiState, p: &Params) -> Result<QueryResult, Response> {
    let query = weft_query::parse(&p.q).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string(), "line": e.line, "column": e.column})),
        )
            .into_response()
    })?;
    weft_query::execute(st.reader.as_ref(), &query, &p.opts)
        .await
        .map_err(|e| match e {
            QueryError::Store(s) => ApiError::from(s).into_response(),
            QueryError::Parse(e) => bad(e.to_string()).into_response(),
        })
}

async fn query(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = match params(raw.as_deref().unwrap_or(""), false) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match run(&st, &p).await {
        Ok(r) => Json(query_json(&r)).into_response(),
        Err(resp) => resp,
    }
}

/// A result value as JSON: numbers and booleans as such, durations as Go-style text
/// (`1.5s`), enums by name, nil as null.
pub fn value_json(v: &Value) -> JsonValue {
    match v {
        Value::Nil => JsonValue::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::Duration(_) | Value::Status(_) | Value::Kind(_) => {
            // Display quotes only strings, so this is the bare spelling
            json!(v.to_string())
        }
        Value::Array(a) => JsonValue::Array(a.iter().map(value_json).collect()),
    }
}

fn attrs_json(attrs: &[(String, Value)]) -> JsonValue {
    let mut m = Map::new();
    for (k, v) in attrs {
        m.insert(k.clone(), value_json(v));
    }
    JsonValue::Object(m)
}

fn spanset_json(s: &Spanset) -> JsonValue {
    json!({
        "matched": s.matched,
        "spans": s.spans.iter().map(|sp| json!({
            "spanId": sp.span_id.to_hex(),
            "name": sp.name,
            "service": sp.service,
            "startTimeUnixNano": sp.start_unix_nano.to_string(),
            "durationNanos": sp.duration_nanos.to_string(),
            "attributes": attrs_json(&sp.attributes),
        })).collect::<Vec<_>>(),
        "attributes": attrs_json(&s.attributes),
    })
}

/// The `/api/v1/query` answer.
pub fn query_json(r: &QueryResult) -> JsonValue {
    let traces: Vec<JsonValue> = r
        .traces
        .iter()
        .map(|t| {
            let mut row = summary_json(&t.summary);
            row["spanSets"] = JsonValue::Array(t.spansets.iter().map(spanset_json).collect());
            row
        })
        .collect();
    json!({
        "traces": traces,
        "truncated": r.truncated,
        "inspectedTraces": r.inspected,
    })
}

// ---------------------------------------------------------------------------------------
// Tempo's search shape

/// An OTLP/JSON `AnyValue`, as Tempo's search results carry attributes.
fn otlp_value(v: &Value) -> JsonValue {
    match v {
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Int(i) => json!({"intValue": i.to_string()}),
        Value::Float(f) => json!({"doubleValue": f}),
        Value::Str(s) => json!({"stringValue": s}),
        Value::Array(a) => {
            json!({"arrayValue": {"values": a.iter().map(otlp_value).collect::<Vec<_>>()}})
        }
        Value::Nil => json!({"stringValue": "nil"}),
        other => json!({"stringValue": other.to_string()}),
    }
}

fn otlp_attrs(attrs: &[(String, Value)]) -> JsonValue {
    JsonValue::Array(
        attrs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": otlp_value(v)}))
            .collect(),
    )
}

fn tempo_spanset(s: &Spanset) -> JsonValue {
    json!({
        "spans": s.spans.iter().map(|sp| json!({
            "spanID": sp.span_id.to_hex(),
            "name": sp.name,
            "startTimeUnixNano": sp.start_unix_nano.to_string(),
            "durationNanos": sp.duration_nanos.to_string(),
            "attributes": otlp_attrs(&sp.attributes),
        })).collect::<Vec<_>>(),
        "matched": s.matched,
        "attributes": otlp_attrs(&s.attributes),
    })
}

/// The `/api/search` answer, as Tempo's `SearchResponse` in JSON.
pub fn tempo_json(r: &QueryResult) -> JsonValue {
    let traces: Vec<JsonValue> = r
        .traces
        .iter()
        .map(|t| {
            let s = &t.summary;
            let sets: Vec<JsonValue> = t.spansets.iter().map(tempo_spanset).collect();
            let mut row = json!({
                "traceID": s.trace_id.to_hex(),
                "rootServiceName": if s.root_service.is_empty() { "<root span not yet received>" } else { &s.root_service },
                "rootTraceName": s.root_name,
                "startTimeUnixNano": s.start_unix_nano.to_string(),
                "durationMs": s.duration_nanos() / 1_000_000,
                "spanSets": sets,
            });
            if let Some(first) = row["spanSets"].get(0).cloned() {
                row["spanSet"] = first;
            }
            row
        })
        .collect();
    json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": r.inspected,
            "completedJobs": 1,
            "totalJobs": 1,
        },
    })
}

async fn tempo_search(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = match params(raw.as_deref().unwrap_or(""), true) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match run(&st, &p).await {
        Ok(r) => Json(tempo_json(&r)).into_response(),
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters() {
        let p = params(
            "q=%7B%20status%20%3D%20error%20%7D&limit=5&spss=2&start=1700000000",
            false,
        )
        .unwrap();
        assert_eq!(p.q, "{ status = error }");
        assert_eq!(p.opts.limit, 5);
        assert_eq!(p.opts.spans_per_spanset, 2);
        assert_eq!(p.opts.start, Some(1_700_000_000_000_000_000));
        for bad in [
            "",
            "q=",
            "q=x&limit=0",
            "q=x&spss=abc",
            "q=x&bogus=1",
            "q=x&start=2&end=1",
        ] {
            assert!(params(bad, false).is_err(), "{bad} should be rejected");
        }
        // Tempo's endpoint: q defaults to { }, unknown parameters are ignored
        let p = params("tags=&minDuration=&foo=bar", true).unwrap();
        assert_eq!(p.q, "{ }");
    }

    #[test]
    fn values() {
        assert_eq!(value_json(&Value::Duration(1_500_000_000)), json!("1.5s"));
        assert_eq!(value_json(&Value::Str("a".into())), json!("a"));
        assert_eq!(
            value_json(&Value::Status(weft_model::StatusCode::Error)),
            json!("error")
        );
        assert_eq!(otlp_value(&Value::Int(3)), json!({"intValue": "3"}));
    }
}
