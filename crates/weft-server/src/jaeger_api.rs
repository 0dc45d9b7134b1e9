//! The Jaeger-compatible query API, shaped as Jaeger v2.20's query service serves it (what
//! Grafana's Jaeger data source and the Jaeger UI call). `/api/dependencies` lives in
//! `analysis_api`.
//!
//! * `/api/…` (Jaeger's `http_handler.go`): the envelope `{data, total, limit, offset, errors}`,
//!   errors as `{"data":null,…,"errors":[{"code":400,"msg":"…"}]}` with the same status. Times
//!   are unix microseconds, durations Go duration strings (`1.2s`, `100ms`, `500us`).
//!   Differences from Jaeger: `service` is optional in `/api/traces`; `limit` is capped at
//!   [`MAX_LIMIT`]; error bodies are `application/json`.
//! * `/api/v3/…` (Jaeger's `apiv3/http_gateway.go`): grpc-gateway JSON, traces as OTLP/JSON
//!   under `result`, errors as `{"error":{"httpCode":404,"message":"…"}}`.
//!
//! Traces are returned after Jaeger's standard adjusters (`weft_proto::jaeger::adjust`) unless
//! `raw=true` (`rawTraces=true` in v3). Search tags apply to one span as weft's search does;
//! tags that Jaeger derives from OTLP fields (`span.kind`, `otel.status_code`, `error`,
//! `otel.status_description`, `otel.scope.name`, `otel.scope.version`, `w3c.tracestate`) are
//! matched against those fields: `error=true` and `otel.status_code=ERROR` are pushed down as
//! "status is error", the others are checked on the fetched traces (weft then fetches up to ten
//! times `limit` candidates).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use weft_model::{Batch, KeyValue, SpanKind, TraceId};
use weft_proto::jaeger::{self, UiTrace};
use weft_store::{SearchQuery, StoreError, TraceReader};

use crate::api::{ApiState, MAX_LIMIT};

/// Jaeger's default number of traces a search returns.
const DEFAULT_LIMIT: i64 = 100;
/// Jaeger's default search window when `start` is absent: the last two days.
const DEFAULT_LOOKBACK_NANOS: u64 = 2 * 86_400 * 1_000_000_000;
/// Traces fetched at once for one search.
const FETCH_CONCURRENCY: usize = 8;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/services", get(services))
        .route("/api/services/{service}/operations", get(operations_legacy))
        .route("/api/operations", get(operations))
        .route("/api/traces", get(search))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/archive/{trace_id}", post(archive_trace))
        .route("/api/transform", post(transform))
        .route("/api/v3/services", get(v3_services))
        .route("/api/v3/operations", get(v3_operations))
        .route("/api/v3/traces", get(v3_find_traces))
        .route("/api/v3/traces/{trace_id}", get(v3_get_trace))
        .route("/api/v3/trace-summaries", get(v3_trace_summaries))
}

// ---------------------------------------------------------------------------------------------
// query strings

/// Query parameters in order; `get` is Go's `url.Values.Get` (the first value, or "").
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<String>) -> Params {
        Params(
            form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    fn get(&self, k: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The canonical parameter, else its deprecated alias; with the name that was used.
    fn alias<'a>(
        &'a self,
        canonical: &'static str,
        deprecated: &'static str,
    ) -> (&'a str, &'static str) {
        match self.get(canonical) {
            "" => (self.get(deprecated), deprecated),
            v => (v, canonical),
        }
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn bool_error(v: &str) -> String {
    format!("strconv.ParseBool: parsing {v:?}: invalid syntax")
}

/// A Go duration string (`1.2s`, `100ms`, `500us`, `1h30m`, `0`, `-5s`) in nanoseconds.
fn go_duration(v: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {v:?}");
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(invalid());
    }
    let n = weft_model::duration::parse_duration_nanos(&body.replace('\u{3bc}', "\u{b5}"))
        .map_err(|_| invalid())?;
    let n = i64::try_from(n).map_err(|_| invalid())?;
    Ok(if neg { -n } else { n })
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// RFC 3339 with optional fractional seconds (Go's `time.RFC3339Nano` layout), in unix
/// nanoseconds (times before 1970 count as 0).
fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let err =
        || format!("parsing time {s:?} as \"2006-01-02T15:04:05.999999999Z07:00\": cannot parse");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = s.get(from..from + len).ok_or_else(err)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        part.parse().map_err(|_| err())
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(err());
    }
    let (y, mo, d, h, mi, sec) = (
        num(0, 4)?,
        num(5, 2)?,
        num(8, 2)?,
        num(11, 2)?,
        num(14, 2)?,
        num(17, 2)?,
    );
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return Err(err());
        }
        frac = num(i + 1, digits)? * 10i64.pow(9 - digits as u32);
        i += 1 + digits;
    }
    let offset_secs = match &s[i..] {
        "Z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(err());
            }
            let o = oh * 3600 + om * 60;
            if tz.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return Err(err()),
    };
    let month_len = [
        31,
        28 + i64::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > month_len[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return Err(err());
    }
    let days = crate::archive::days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Ok(if secs < 0 {
        0
    } else {
        secs as u64 * 1_000_000_000 + frac as u64
    })
}

// ---------------------------------------------------------------------------------------------
// responses

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<JaegerError>>,
}

/// Jaeger's `structuredError`.
#[derive(Serialize)]
struct JaegerError {
    #[serde(skip_serializing_if = "is_zero")]
    code: u16,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "String::is_empty")]
    trace_id: String,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn json_response<T: Serialize>(status: StatusCode, body: &T, pretty: bool) -> Response {
    let bytes = if pretty {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        body.serialize(&mut ser).map(|_| out)
    } else {
        serde_json::to_vec(body)
    };
    match bytes {
        Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => JErr::internal(format!("failed writing HTTP response: {e}")).into_response(),
    }
}

fn envelope<T: Serialize>(
    data: T,
    total: usize,
    errors: Option<Vec<JaegerError>>,
    pretty: bool,
) -> Response {
    json_response(
        StatusCode::OK,
        &Envelope {
            data,
            total,
            limit: 0,
            offset: 0,
            errors,
        },
        pretty,
    )
}

/// An error of the `/api` routes, answered in Jaeger's envelope.
struct JErr(StatusCode, String);

impl JErr {
    fn bad(msg: impl Into<String>) -> JErr {
        JErr(StatusCode::BAD_REQUEST, msg.into())
    }
    fn internal(msg: impl Into<String>) -> JErr {
        JErr(StatusCode::INTERNAL_SERVER_ERROR, msg.into())
    }
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
        StoreError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
        StoreError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<StoreError> for JErr {
    fn from(e: StoreError) -> JErr {
        JErr(store_status(&e), e.to_string())
    }
}

impl IntoResponse for JErr {
    fn into_response(self) -> Response {
        let body = Envelope {
            data: Value::Null,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![JaegerError {
                code: self.0.as_u16(),
                msg: self.1,
                trace_id: String::new(),
            }]),
        };
        json_response(self.0, &body, false)
    }
}

/// An error of the `/api/v3` routes (`api_v3.GRPCGatewayError`).
struct V3Err(StatusCode, String);

impl V3Err {
    fn bad(msg: impl Into<String>) -> V3Err {
        V3Err(StatusCode::BAD_REQUEST, msg.into())
    }
    fn not_found() -> V3Err {
        V3Err(StatusCode::NOT_FOUND, "No traces found".into())
    }
}

impl From<StoreError> for V3Err {
    fn from(e: StoreError) -> V3Err {
        V3Err(store_status(&e), e.to_string())
    }
}

impl IntoResponse for V3Err {
    fn into_response(self) -> Response {
        let body = json!({"error": {"httpCode": self.0.as_u16(), "message": self.1}});
        json_response(self.0, &body, false)
    }
}

fn pretty(p: &Params) -> bool {
    let v = p.get("prettyPrint");
    !v.is_empty() && v != "false"
}

fn ui_trace(mut b: Batch, raw: bool) -> Option<UiTrace> {
    if !raw {
        jaeger::adjust(&mut b);
    }
    jaeger::to_ui_trace(&b)
}

/// The Jaeger UI JSON of one trace (`/api/traces/{id}`), for `/api/v1/traces/{id}?format=jaeger`.
pub(crate) fn trace_envelope(batch: Batch) -> Response {
    let data: Vec<UiTrace> = ui_trace(batch, false).into_iter().collect();
    envelope(data, 0, None, false)
}

// ---------------------------------------------------------------------------------------------
// loading and searching

async fn load(
    reader: &Arc<dyn TraceReader>,
    id: Option<TraceId>,
) -> Result<Option<Batch>, StoreError> {
    match id {
        Some(id) => Ok(reader.trace(id).await?.filter(|b| !b.is_empty())),
        None => Ok(None),
    }
}

/// Loads traces, a few at a time, in the given order.
async fn load_many(
    reader: &Arc<dyn TraceReader>,
    ids: &[TraceId],
) -> Result<Vec<Option<Batch>>, StoreError> {
    let mut out: Vec<Option<Batch>> = vec![None; ids.len()];
    for (chunk_no, chunk) in ids.chunks(FETCH_CONCURRENCY).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (i, id) in chunk.iter().enumerate() {
            let (reader, id) = (reader.clone(), *id);
            set.spawn(async move { (i, load(&reader, Some(id)).await) });
        }
        while let Some(r) = set.join_next().await {
            let (i, b) = r.map_err(|e| StoreError::Corrupt {
                path: "trace fetch".into(),
                message: e.to_string(),
            })?;
            out[chunk_no * FETCH_CONCURRENCY + i] = b?;
        }
    }
    Ok(out)
}

/// Tags Jaeger derives from OTLP fields rather than attributes.
const DERIVED_TAGS: [&str; 7] = [
    "error",
    "span.kind",
    "otel.status_code",
    "otel.status_description",
    "otel.scope.name",
    "otel.scope.version",
    "w3c.tracestate",
];

/// A search: what the store evaluates, and the tags checked on fetched traces.
struct Search {
    query: SearchQuery,
    post: Vec<(String, String)>,
    limit: usize,
}

struct SearchInput<'a> {
    service: &'a str,
    operation: &'a str,
    tags: Vec<(String, String)>,
    start: Option<u64>,
    end: Option<u64>,
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    limit: usize,
}

fn plan(i: SearchInput<'_>) -> Search {
    let mut q = SearchQuery {
        service: (!i.service.is_empty()).then(|| i.service.to_string()),
        span_name: (!i.operation.is_empty()).then(|| i.operation.to_string()),
        min_duration_nanos: i.min_duration,
        max_duration_nanos: i.max_duration,
        start_unix_nano: i.start,
        end_unix_nano: i.end,
        limit: i.limit,
        ..Default::default()
    };
    let mut post = Vec::new();
    for (k, v) in i.tags {
        match (k.as_str(), v.as_str()) {
            ("error", "true") | ("otel.status_code", "ERROR") => q.errors_only = true,
            (k2, _) if DERIVED_TAGS.contains(&k2) => post.push((k, v)),
            _ => q.attributes.push((k, v)),
        }
    }
    if !post.is_empty() {
        q.limit = (i.limit.saturating_mul(10)).clamp(i.limit, MAX_LIMIT);
    }
    Search {
        query: q,
        post,
        limit: i.limit,
    }
}

fn attr_matches(attrs: &[KeyValue], key: &str, text: &str) -> bool {
    attrs
        .iter()
        .any(|kv| kv.key == key && weft_store::terms::value_matches(&kv.value, text))
}

/// The value Jaeger gives a derived tag of this span, if it has one.
fn derived_tag(key: &str, scope: &weft_model::Scope, s: &weft_model::Span) -> Option<String> {
    use weft_model::StatusCode as S;
    let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
    match key {
        "span.kind" => (s.kind != SpanKind::Unspecified).then(|| s.kind.short_name().to_string()),
        "otel.status_code" => match s.status.code {
            S::Error => Some("ERROR".into()),
            S::Ok => Some("OK".into()),
            S::Unset => None,
        },
        "error" => s.is_error().then(|| "true".into()),
        "otel.status_description" => non_empty(&s.status.message),
        "otel.scope.name" => non_empty(&scope.name),
        "otel.scope.version" => non_empty(&scope.version),
        "w3c.tracestate" => non_empty(&s.trace_state),
        _ => None,
    }
}

/// Whether one span of the trace satisfies every condition (weft's search semantics).
fn trace_matches(search: &Search, b: &Batch) -> bool {
    let q = &search.query;
    b.spans().any(|sr| {
        let s = sr.span;
        q.service
            .as_deref()
            .is_none_or(|v| v == sr.resource.service_name())
            && q.span_name.as_deref().is_none_or(|v| v == s.name)
            && q.matches_numbers(s.start_time_unix_nano, s.duration_nanos(), s.is_error())
            && q.attributes.iter().chain(&search.post).all(|(k, v)| {
                derived_tag(k, sr.scope, s).as_deref() == Some(v.as_str())
                    || attr_matches(&s.attributes, k, v)
                    || attr_matches(&sr.resource.attributes, k, v)
            })
    })
}

/// Runs a search and loads the matching traces, newest first.
async fn run_search(
    reader: &Arc<dyn TraceReader>,
    search: &Search,
) -> Result<Vec<Batch>, StoreError> {
    if let (Some(a), Some(b)) = (search.query.start_unix_nano, search.query.end_unix_nano) {
        if a > b {
            return Ok(Vec::new());
        }
    }
    let found = reader.search(&search.query).await?;
    let ids: Vec<TraceId> = found.traces.iter().map(|t| t.trace_id).collect();
    let mut out = Vec::new();
    for b in load_many(reader, &ids).await?.into_iter().flatten() {
        if search.post.is_empty() || trace_matches(search, &b) {
            out.push(b);
            if out.len() == search.limit {
                break;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// /api

async fn services(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Result<Response, JErr> {
    let s = st.reader.services().await?;
    Ok(envelope(&s, s.len(), None, pretty(&Params::parse(raw))))
}

async fn operations_legacy(
    State(st): State<ApiState>,
    Path(service): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, JErr> {
    let ops = st.reader.operations(&service).await?;
    let names: Vec<&str> = ops
        .iter()
        .map(|o| o.name.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(envelope(
        &names,
        names.len(),
        None,
        pretty(&Params::parse(raw)),
    ))
}

fn kind_string(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "",
        k => k.short_name(),
    }
}

async fn operations(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Result<Response, JErr> {
    let p = Params::parse(raw);
    let service = p.get("service");
    if service.is_empty() {
        return Err(JErr::bad("parameter 'service' is required"));
    }
    let kind = p.get("spanKind").to_ascii_lowercase();
    let ops = st.reader.operations(service).await?;
    let data: Vec<Value> = ops
        .iter()
        .filter(|o| kind.is_empty() || kind_string(o.kind) == kind)
        .map(|o| json!({"name": o.name, "spanKind": kind_string(o.kind)}))
        .collect();
    Ok(envelope(&data, data.len(), None, pretty(&p)))
}

fn parse_micros(p: &Params, name: &str) -> Result<Option<u64>, JErr> {
    match p.get(name) {
        "" => Ok(None),
        v => v
            .parse::<i64>()
            .map(|us| Some((us.max(0) as u64).saturating_mul(1_000)))
            .map_err(|_| JErr::bad(format!("unable to parse param '{name}': strconv.ParseInt: parsing {v:?}: invalid syntax"))),
    }
}

fn parse_raw(p: &Params) -> Result<bool, JErr> {
    match p.get("raw") {
        "" => Ok(false),
        v => go_bool(v)
            .ok_or_else(|| JErr::bad(format!("unable to parse param 'raw': {}", bool_error(v)))),
    }
}

fn parse_duration_param(p: &Params, name: &str) -> Result<Option<i64>, JErr> {
    match p.get(name) {
        "" => Ok(None),
        v => go_duration(v)
            .map(Some)
            .map_err(|e| JErr::bad(format!("unable to parse param '{name}': {e}"))),
    }
}

/// `/api/traces`: search, or look up `traceID=` ids.
async fn search(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Result<Response, JErr> {
    let p = Params::parse(raw);
    let start = parse_micros(&p, "start")?;
    let end = parse_micros(&p, "end")?;
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for t in p.all("tag") {
        let (k, v) = t.split_once(':').ok_or_else(|| {
            JErr::bad(format!(
                "malformed 'tag' parameter, expecting key:value, received: {t}"
            ))
        })?;
        tags.insert(k.to_string(), v.to_string());
    }
    for t in p.all("tags") {
        let m: BTreeMap<String, String> = serde_json::from_str(t).map_err(|e| {
            JErr::bad(format!(
                "malformed 'tags' parameter, cannot unmarshal JSON: {e}"
            ))
        })?;
        tags.extend(m);
    }
    let limit = match p.get("limit") {
        "" => DEFAULT_LIMIT,
        v => v.parse::<i32>().map(i64::from).map_err(|_| {
            JErr::bad(format!(
                "unable to parse param 'limit': strconv.ParseInt: parsing {v:?}: invalid syntax"
            ))
        })?,
    };
    if limit < 1 {
        return Err(JErr::bad(format!(
            "unable to parse param 'limit': {limit} is not a positive number of traces"
        )));
    }
    let min = parse_duration_param(&p, "minDuration")?;
    let max = parse_duration_param(&p, "maxDuration")?;
    let mut ids = Vec::new();
    for v in p.all("traceID") {
        let id = jaeger::parse_trace_id_hex_only(v)
            .map_err(|e| JErr::bad(format!("cannot parse traceID param: {e}")))?;
        ids.push(id);
    }
    let raw_traces = parse_raw(&p)?;
    if let (Some(a), Some(b)) = (min.filter(|n| *n != 0), max.filter(|n| *n != 0)) {
        if b < a {
            return Err(JErr::bad(
                "'maxDuration' should be greater than 'minDuration'",
            ));
        }
    }
    let pretty = pretty(&p);

    if !ids.is_empty() {
        let mut seen = HashSet::new();
        let mut data = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            if !seen.insert(id.map(|t| t.0)) {
                continue;
            }
            match load(&st.reader, id).await? {
                Some(b) => data.extend(ui_trace(b, raw_traces)),
                None => errors.push(JaegerError {
                    code: 0,
                    msg: "trace not found".into(),
                    trace_id: id
                        .map(|t| jaeger::trace_id_string(&t))
                        .unwrap_or_else(|| "0000000000000000".into()),
                }),
            }
        }
        let errors = (!errors.is_empty()).then_some(errors);
        return Ok(envelope(data, 0, errors, pretty));
    }

    let end = end.unwrap_or_else(now_nanos);
    let start = start.unwrap_or_else(|| {
        let lookback = weft_model::duration::parse_duration_nanos(p.get("lookback"))
            .unwrap_or(DEFAULT_LOOKBACK_NANOS);
        end.saturating_sub(lookback)
    });
    let search = plan(SearchInput {
        service: p.get("service"),
        operation: p.get("operation"),
        tags: tags.into_iter().collect(),
        start: Some(start),
        end: Some(end),
        min_duration: min.filter(|n| *n > 0).map(|n| n as u64),
        max_duration: max.filter(|n| *n > 0).map(|n| n as u64),
        limit: (limit as usize).min(MAX_LIMIT),
    });
    let traces = run_search(&st.reader, &search).await?;
    let data: Vec<UiTrace> = traces
        .into_iter()
        .filter_map(|b| ui_trace(b, raw_traces))
        .collect();
    Ok(envelope(data, 0, None, pretty))
}

fn path_trace_id(id: &str) -> Result<Option<TraceId>, String> {
    jaeger::parse_trace_id(id)
}

/// `/api/traces/{traceID}`.
async fn get_trace(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, JErr> {
    let p = Params::parse(raw);
    let id = path_trace_id(&id).map_err(JErr::bad)?;
    parse_micros(&p, "start")?;
    parse_micros(&p, "end")?;
    let raw_traces = parse_raw(&p)?;
    match load(&st.reader, id).await? {
        Some(b) => {
            let data: Vec<UiTrace> = ui_trace(b, raw_traces).into_iter().collect();
            Ok(envelope(data, 0, None, pretty(&p)))
        }
        None => Err(JErr(StatusCode::NOT_FOUND, "trace not found".into())),
    }
}

/// `POST /api/archive/{traceID}`: writes the trace to the file archive now.
async fn archive_trace(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, JErr> {
    let id = path_trace_id(&id).map_err(JErr::bad)?;
    let Some(archive) = &st.archive else {
        return Err(JErr::internal(
            "archive span storage was not configured: start weft serve with --archive-dir",
        ));
    };
    let Some(id) = id else {
        return Err(JErr(StatusCode::NOT_FOUND, "trace not found".into()));
    };
    match archive.archive_now(id).await {
        Ok(true) => Ok(envelope(Vec::<String>::new(), 0, Some(Vec::new()), false)),
        Ok(false) => Err(JErr(StatusCode::NOT_FOUND, "trace not found".into())),
        Err(e) => Err(JErr::internal(e)),
    }
}

/// `POST /api/transform`: OTLP/JSON in, the Jaeger UI JSON of each trace out (no adjusters).
async fn transform(body: Bytes) -> Result<Response, JErr> {
    let req = weft_proto::json::decode_request(&body)
        .map_err(|e| JErr::bad(format!("cannot unmarshal OTLP : {e}")))?;
    let (batch, _) = weft_proto::otlp::batch_from_request(req);
    let mut order: Vec<TraceId> = Vec::new();
    let mut by_trace: std::collections::HashMap<TraceId, Vec<weft_model::FlatSpan>> =
        Default::default();
    for fs in batch.into_flat() {
        let e = by_trace.entry(fs.span.trace_id).or_default();
        if e.is_empty() {
            order.push(fs.span.trace_id);
        }
        e.push(fs);
    }
    let data: Vec<UiTrace> = order
        .iter()
        .filter_map(|id| by_trace.remove(id))
        .filter_map(|spans| jaeger::to_ui_trace(&Batch::from_flat_grouped(spans)))
        .collect();
    Ok(envelope(data, 0, None, false))
}

// ---------------------------------------------------------------------------------------------
// /api/v3

async fn v3_services(State(st): State<ApiState>) -> Result<Response, V3Err> {
    let s = st.reader.services().await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"services": s}),
        false,
    ))
}

async fn v3_operations(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Err> {
    let p = Params::parse(raw);
    let service = p.get("service");
    let kind = p.alias("spanKind", "span_kind").0.to_ascii_lowercase();
    let ops = if service.is_empty() {
        Vec::new()
    } else {
        st.reader.operations(service).await?
    };
    let data: Vec<Value> = ops
        .iter()
        .filter(|o| kind.is_empty() || kind_string(o.kind) == kind)
        .map(|o| {
            let k = match o.kind {
                SpanKind::Unspecified => "internal",
                k => k.short_name(),
            };
            let mut m = serde_json::Map::new();
            if !o.name.is_empty() {
                m.insert("name".into(), Value::String(o.name.clone()));
            }
            m.insert("spanKind".into(), Value::String(k.into()));
            Value::Object(m)
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"operations": data}),
        false,
    ))
}

fn v3_raw(p: &Params, canonical: &'static str, deprecated: &'static str) -> Result<bool, String> {
    match p.alias(canonical, deprecated) {
        ("", _) => Ok(false),
        (v, name) => {
            go_bool(v).ok_or_else(|| format!("malformed parameter {name}: {}", bool_error(v)))
        }
    }
}

/// `/api/v3/traces/{trace_id}`.
async fn v3_get_trace(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Err> {
    let p = Params::parse(raw);
    let id =
        path_trace_id(&id).map_err(|e| V3Err::bad(format!("malformed parameter trace_id: {e}")))?;
    for (canonical, deprecated) in [("startTime", "start_time"), ("endTime", "end_time")] {
        let (v, name) = p.alias(canonical, deprecated);
        if !v.is_empty() {
            parse_rfc3339(v).map_err(|e| V3Err::bad(format!("malformed parameter {name}: {e}")))?;
        }
    }
    let raw_traces = v3_raw(&p, "rawTraces", "raw_traces").map_err(V3Err::bad)?;
    let mut b = load(&st.reader, id).await?.ok_or_else(V3Err::not_found)?;
    if !raw_traces {
        jaeger::adjust(&mut b);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"result": jaeger::otlp_json(&b)}),
        false,
    ))
}

/// The parameters of `/api/v3/traces` and `/api/v3/trace-summaries` (`parseFindTracesQuery`).
fn v3_search(p: &Params) -> Result<(Search, bool), String> {
    let (service, _) = p.alias("query.serviceName", "query.service_name");
    let (operation, _) = p.alias("query.operationName", "query.operation_name");
    let mut tags = Vec::new();
    let attrs = p.get("query.attributes");
    if !attrs.is_empty() {
        let m: BTreeMap<String, String> = serde_json::from_str(attrs)
            .map_err(|e| format!("malformed parameter query.attributes: {e}"))?;
        tags.extend(m);
    }
    let (tmin, tmin_name) = p.alias("query.startTimeMin", "query.start_time_min");
    let (tmax, tmax_name) = p.alias("query.startTimeMax", "query.start_time_max");
    if tmin.is_empty() || tmax.is_empty() {
        return Err("query.startTimeMin and query.startTimeMax are required".into());
    }
    let tmin = parse_rfc3339(tmin).map_err(|e| format!("malformed parameter {tmin_name}: {e}"))?;
    let tmax = parse_rfc3339(tmax).map_err(|e| format!("malformed parameter {tmax_name}: {e}"))?;
    if tmin >= tmax {
        return Err("query.startTimeMin must be before query.startTimeMax".into());
    }
    let (mut depth, mut depth_name) = p.alias("query.searchDepth", "query.search_depth");
    if depth.is_empty() {
        (depth, depth_name) = (p.get("query.num_traces"), "query.num_traces");
    }
    let depth: i64 = match depth {
        "" => DEFAULT_LIMIT,
        v => v.parse().map_err(|_| {
            format!("malformed parameter {depth_name}: strconv.Atoi: parsing {v:?}: invalid syntax")
        })?,
    };
    if depth < 1 {
        return Err(format!(
            "malformed parameter {depth_name}: {depth} is not a positive number of traces"
        ));
    }
    let dur = |canonical, deprecated| -> Result<Option<u64>, String> {
        match p.alias(canonical, deprecated) {
            ("", _) => Ok(None),
            (v, name) => go_duration(v)
                .map(|n| (n > 0).then_some(n as u64))
                .map_err(|e| format!("malformed parameter {name}: {e}")),
        }
    };
    let min_duration = dur("query.durationMin", "query.duration_min")?;
    let max_duration = dur("query.durationMax", "query.duration_max")?;
    let raw = v3_raw(p, "query.rawTraces", "query.raw_traces")?;
    let search = plan(SearchInput {
        service,
        operation,
        tags,
        start: Some(tmin),
        end: Some(tmax),
        min_duration,
        max_duration,
        limit: (depth as usize).min(MAX_LIMIT),
    });
    Ok((search, raw))
}

/// `/api/v3/traces`: every matching trace in one OTLP `TracesData`.
async fn v3_find_traces(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Err> {
    let (search, raw_traces) = v3_search(&Params::parse(raw)).map_err(V3Err::bad)?;
    let traces = run_search(&st.reader, &search).await?;
    if traces.is_empty() {
        return Err(V3Err::not_found());
    }
    let mut all = Batch::default();
    for mut b in traces {
        if !raw_traces {
            jaeger::adjust(&mut b);
        }
        all.resource_spans.extend(b.resource_spans);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"result": jaeger::otlp_json(&all)}),
        false,
    ))
}

/// `/api/v3/trace-summaries`: one summary per matching trace (always of adjusted traces).
async fn v3_trace_summaries(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Err> {
    let (search, _) = v3_search(&Params::parse(raw)).map_err(V3Err::bad)?;
    let traces = run_search(&st.reader, &search).await?;
    let summaries: Vec<Value> = traces
        .into_iter()
        .map(|mut b| {
            jaeger::adjust(&mut b);
            jaeger::trace_summary_v3(&b)
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"summaries": summaries}),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (input, want) in [
            ("1.2s", Ok(1_200_000_000)),
            ("100ms", Ok(100_000_000)),
            ("500us", Ok(500_000)),
            ("500µs", Ok(500_000)),
            ("500\u{3bc}s", Ok(500_000)),
            ("1h30m", Ok(5_400_000_000_000)),
            ("0", Ok(0)),
            ("-5s", Ok(-5_000_000_000)),
            ("5", Err("time: invalid duration \"5\"")),
            ("abc", Err("time: invalid duration \"abc\"")),
            ("", Err("time: invalid duration \"\"")),
        ] {
            assert_eq!(go_duration(input), want.map_err(String::from), "{input}");
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2000-04-05T21:55:16.999999992+08:00"),
            Ok(954_942_916_999_999_992)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.5Z"),
            Ok(1_700_000_000_500_000_000)
        );
        for bad in [
            "abc",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
        ] {
            assert!(
                parse_rfc3339(bad).unwrap_err().contains("cannot parse"),
                "{bad}"
            );
        }
    }
}
