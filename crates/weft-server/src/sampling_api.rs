//! Jaeger remote sampling: `GET /api/sampling?service=<name>` (the collector's form) and
//! `GET /sampling?service=<name>` (the agent's form), answering Jaeger's api_v2 JSON
//! (`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}`, …).
//!
//! Strategies come from a file in Jaeger's `strategies.json` format (`default_strategy`,
//! `service_strategies`, `operation_strategies`, types `probabilistic` / `ratelimiting`) and are
//! resolved the way Jaeger's file provider resolves them: a service without its own operation
//! strategies inherits the default strategy's, with its own probability as the default; a
//! service with some gets the default's operations it does not name; rate-limiting operation
//! strategies are ignored (Jaeger supports only probabilistic ones per operation).
//!
//! Unlike Jaeger (default 0.001), a service without a strategy — and every service when no file
//! is given — gets probabilistic 1.0: weft's SDK defaults to 100% in development, and a sampler
//! pointed at a weft without a strategies file should not silently drop 999 traces in 1000.
//! Unlike Jaeger, an unknown `type` or a probability outside [0, 1] is an error, not a warning.
//!
//! The file is re-read at most once a second, when a request comes, and only replaces the served
//! strategies when its content changed and parses; a broken edit keeps the last good strategies
//! and logs the error once.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::{ApiError, ApiState};

/// Probability served when no strategy applies.
pub const DEFAULT_PROBABILITY: f64 = 1.0;
/// How often a request may cause the strategies file to be re-read.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A strategies file that cannot be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum StrategiesError {
    #[error("cannot read the sampling strategies file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid sampling strategies file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The sampling strategy of one service, as Jaeger's api_v2 `SamplingStrategyResponse`.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategyResponse {
    /// The top-level strategy.
    pub strategy: Strategy,
    /// Per-operation probabilities, when the file names operations.
    pub operations: Option<PerOperation>,
}

/// A probabilistic or rate-limiting strategy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    /// Sample this fraction of traces.
    Probabilistic(f64),
    /// Sample at most this many traces per second.
    RateLimiting(i32),
}

/// Jaeger's `PerOperationSamplingStrategies`.
#[derive(Clone, Debug, PartialEq)]
pub struct PerOperation {
    /// Probability of operations not listed.
    pub default_probability: f64,
    /// Traces per second guaranteed per operation (always 0 from a Jaeger strategies file).
    pub default_lower_bound_traces_per_second: f64,
    /// `(operation, probability)`, in file order.
    pub operations: Vec<(String, f64)>,
}

impl StrategyResponse {
    /// The probabilistic strategy `p` without operations.
    pub fn probabilistic(p: f64) -> StrategyResponse {
        StrategyResponse {
            strategy: Strategy::Probabilistic(p),
            operations: None,
        }
    }

    /// Jaeger's JSON: the jsonpb form with defaults emitted and null members removed.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        match self.strategy {
            Strategy::Probabilistic(p) => {
                out.insert("strategyType".into(), json!("PROBABILISTIC"));
                out.insert("probabilisticSampling".into(), json!({"samplingRate": p}));
            }
            Strategy::RateLimiting(n) => {
                out.insert("strategyType".into(), json!("RATE_LIMITING"));
                out.insert(
                    "rateLimitingSampling".into(),
                    json!({"maxTracesPerSecond": n}),
                );
            }
        }
        if let Some(ops) = &self.operations {
            let per: Vec<Value> = ops
                .operations
                .iter()
                .map(|(op, p)| json!({"operation": op, "probabilisticSampling": {"samplingRate": p}}))
                .collect();
            out.insert(
                "operationSampling".into(),
                json!({
                    "defaultSamplingProbability": ops.default_probability,
                    "defaultLowerBoundTracesPerSecond": ops.default_lower_bound_traces_per_second,
                    "perOperationStrategies": per,
                    "defaultUpperBoundTracesPerSecond": 0.0,
                }),
            );
        }
        Value::Object(out)
    }
}

/// Resolved strategies: the default and one per named service.
#[derive(Clone, Debug, PartialEq)]
pub struct Strategies {
    /// For services not named in the file.
    pub default: StrategyResponse,
    /// By service name.
    pub services: HashMap<String, StrategyResponse>,
}

impl Default for Strategies {
    fn default() -> Strategies {
        Strategies {
            default: StrategyResponse::probabilistic(DEFAULT_PROBABILITY),
            services: HashMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStrategies {
    default_strategy: Option<FileStrategy>,
    #[serde(default)]
    service_strategies: Vec<FileStrategy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStrategy {
    service: Option<String>,
    operation: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    param: f64,
    #[serde(default)]
    operation_strategies: Vec<FileStrategy>,
}

impl Strategies {
    /// Parses Jaeger's strategies.json and resolves it as Jaeger's file provider does.
    pub fn parse(text: &str) -> Result<Strategies, String> {
        let file: FileStrategies = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut out = Strategies::default();
        if let Some(d) = &file.default_strategy {
            out.default = service_response(d, "default_strategy")?;
        }
        for (i, s) in file.service_strategies.iter().enumerate() {
            let at = format!("service_strategies[{i}]");
            let Some(name) = s.service.clone().filter(|n| !n.is_empty()) else {
                return Err(format!("{at}: \"service\" is missing"));
            };
            let mut resp = service_response(s, &at)?;
            if let Some(def_ops) = &out.default.operations {
                match &mut resp.operations {
                    None => {
                        let mut ops = def_ops.clone();
                        if let Strategy::Probabilistic(p) = resp.strategy {
                            ops.default_probability = p;
                        }
                        resp.operations = Some(ops);
                    }
                    Some(ops) => {
                        for (op, p) in &def_ops.operations {
                            if !ops.operations.iter().any(|(o, _)| o == op) {
                                ops.operations.push((op.clone(), *p));
                            }
                        }
                    }
                }
            }
            out.services.insert(name, resp);
        }
        Ok(out)
    }

    /// The strategy for `service`: its own, or the default.
    pub fn for_service(&self, service: &str) -> &StrategyResponse {
        self.services.get(service).unwrap_or(&self.default)
    }
}

fn strategy(s: &FileStrategy, at: &str) -> Result<Strategy, String> {
    match s.kind.as_str() {
        "probabilistic" => {
            if !(0.0..=1.0).contains(&s.param) {
                return Err(format!("{at}: probability {} is outside [0, 1]", s.param));
            }
            Ok(Strategy::Probabilistic(s.param))
        }
        "ratelimiting" => {
            if !(0.0..=i32::MAX as f64).contains(&s.param) {
                return Err(format!(
                    "{at}: traces per second {} must be from 0 to {}",
                    s.param,
                    i32::MAX
                ));
            }
            Ok(Strategy::RateLimiting(s.param as i32))
        }
        other => Err(format!(
            "{at}: unknown type {other:?} (use probabilistic or ratelimiting)"
        )),
    }
}

fn service_response(s: &FileStrategy, at: &str) -> Result<StrategyResponse, String> {
    let top = strategy(s, at)?;
    if s.operation_strategies.is_empty() {
        return Ok(StrategyResponse {
            strategy: top,
            operations: None,
        });
    }
    let mut ops = PerOperation {
        default_probability: match top {
            Strategy::Probabilistic(p) => p,
            Strategy::RateLimiting(_) => DEFAULT_PROBABILITY,
        },
        default_lower_bound_traces_per_second: 0.0,
        operations: Vec::new(),
    };
    for (i, o) in s.operation_strategies.iter().enumerate() {
        let oat = format!("{at}.operation_strategies[{i}]");
        let Some(name) = o.operation.clone() else {
            return Err(format!("{oat}: \"operation\" is missing"));
        };
        match strategy(o, &oat)? {
            Strategy::Probabilistic(p) => ops.operations.push((name, p)),
            Strategy::RateLimiting(_) => tracing::warn!(
                operation = %name,
                "operation strategies support only probabilistic sampling; {oat} uses the default probability"
            ),
        }
    }
    Ok(StrategyResponse {
        strategy: top,
        operations: Some(ops),
    })
}

/// The strategies served, re-read from the file when it changes.
pub struct StrategyStore {
    path: Option<PathBuf>,
    state: Mutex<Loaded>,
}

struct Loaded {
    strategies: Arc<Strategies>,
    last_text: Option<Vec<u8>>,
    checked: Instant,
}

impl StrategyStore {
    /// Loads `path` (no file: probabilistic 1.0 for everyone). A file that cannot be read or
    /// parsed is an error here; later, a broken edit keeps the last good strategies.
    pub fn open(path: Option<PathBuf>) -> Result<StrategyStore, StrategiesError> {
        let mut loaded = Loaded {
            strategies: Arc::new(Strategies::default()),
            last_text: None,
            checked: Instant::now(),
        };
        if let Some(p) = &path {
            let text = std::fs::read(p).map_err(|source| StrategiesError::Read {
                path: p.display().to_string(),
                source,
            })?;
            let s = Strategies::parse(&String::from_utf8_lossy(&text)).map_err(|message| {
                StrategiesError::Invalid {
                    path: p.display().to_string(),
                    message,
                }
            })?;
            loaded.strategies = Arc::new(s);
            loaded.last_text = Some(text);
        }
        Ok(StrategyStore {
            path,
            state: Mutex::new(loaded),
        })
    }

    /// The current strategies, re-reading the file if [`RELOAD_CHECK`] has passed.
    pub fn current(&self) -> Arc<Strategies> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = &self.path {
            if st.checked.elapsed() >= RELOAD_CHECK {
                st.checked = Instant::now();
                match std::fs::read(p) {
                    Err(e) => tracing::error!(
                        path = %p.display(), error = %e,
                        "cannot re-read the sampling strategies file; serving the last ones"
                    ),
                    Ok(text) if st.last_text.as_ref() != Some(&text) => {
                        match Strategies::parse(&String::from_utf8_lossy(&text)) {
                            Ok(s) => {
                                tracing::info!(path = %p.display(), "sampling strategies reloaded");
                                st.strategies = Arc::new(s);
                            }
                            Err(e) => tracing::error!(
                                path = %p.display(), error = %e,
                                "invalid sampling strategies file; serving the last good ones"
                            ),
                        }
                        // a broken edit is reported once, not on every request
                        st.last_text = Some(text);
                    }
                    Ok(_) => {}
                }
            }
        }
        st.strategies.clone()
    }
}

/// `/api/sampling` and `/sampling`.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/sampling", get(sampling))
        .route("/sampling", get(sampling))
}

async fn sampling(State(st): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let services: Vec<String> = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "service")
        .map(|(_, v)| v.into_owned())
        .collect();
    let [service] = services.as_slice() else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "'service' parameter must be provided once, e.g. /api/sampling?service=checkout",
        )
        .into_response();
    };
    let strategies = st.sampling.current();
    Json(strategies.for_service(service).to_json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `file` and checks the JSON served for each `(service, expected JSON)`.
    fn check(file: &str, expect: &[(&str, Value)]) {
        let s = Strategies::parse(file).unwrap_or_else(|e| panic!("{e}"));
        for (svc, want) in expect {
            assert_eq!(&s.for_service(svc).to_json(), want, "service {svc}");
        }
    }

    fn check_err(file: &str, want: &str) {
        let e = Strategies::parse(file).unwrap_err();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }

    // Jaeger's fixtures/strategies.json
    const STRATEGIES: &str = r#"{
      "default_strategy": {"type": "probabilistic", "param": 0.5},
      "service_strategies": [
        {"service": "foo", "type": "probabilistic", "param": 0.8},
        {"service": "bar", "type": "ratelimiting", "param": 5}
      ]
    }"#;

    // Jaeger's fixtures/operation_strategies.json
    const OPERATIONS: &str = r#"{
      "default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [
        {"operation": "op0", "type": "probabilistic", "param": 0.2},
        {"operation": "op6", "type": "probabilistic", "param": 0},
        {"operation": "spam", "type": "ratelimiting", "param": 1},
        {"operation": "op7", "type": "probabilistic", "param": 1}]},
      "service_strategies": [
        {"service": "foo", "type": "probabilistic", "param": 0.8, "operation_strategies": [
          {"operation": "op6", "type": "probabilistic", "param": 0.5},
          {"operation": "op1", "type": "probabilistic", "param": 0.2},
          {"operation": "op2", "type": "ratelimiting", "param": 10}]},
        {"service": "bar", "type": "ratelimiting", "param": 5, "operation_strategies": [
          {"operation": "op3", "type": "probabilistic", "param": 0.3},
          {"operation": "op4", "type": "ratelimiting", "param": 100},
          {"operation": "op5", "type": "probabilistic", "param": 0.4}]},
        {"service": "baz", "type": "probabilistic", "param": 0.1}
      ]
    }"#;

    fn op(name: &str, p: f64) -> Value {
        json!({"operation": name, "probabilisticSampling": {"samplingRate": p}})
    }

    fn op_sampling(default: f64, ops: Vec<Value>) -> Value {
        json!({"defaultSamplingProbability": default, "defaultLowerBoundTracesPerSecond": 0.0,
               "perOperationStrategies": ops, "defaultUpperBoundTracesPerSecond": 0.0})
    }

    #[test]
    fn service_and_default_strategies() {
        check(
            STRATEGIES,
            &[
                (
                    "foo",
                    json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.8}}),
                ),
                (
                    "bar",
                    json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5}}),
                ),
                (
                    "unknown",
                    json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5}}),
                ),
            ],
        );
    }

    #[test]
    fn no_file_and_empty_file_sample_everything() {
        let all = json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1.0}});
        assert_eq!(Strategies::default().for_service("x").to_json(), all);
        check("{}", &[("x", all)]);
    }

    #[test]
    fn operation_strategies_merge_as_jaeger_does() {
        check(
            OPERATIONS,
            &[
                (
                    "foo",
                    json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.8},
                           "operationSampling": op_sampling(0.8, vec![op("op6", 0.5), op("op1", 0.2), op("op0", 0.2), op("op7", 1.0)])}),
                ),
                (
                    "bar",
                    json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5},
                           "operationSampling": op_sampling(1.0, vec![op("op3", 0.3), op("op5", 0.4), op("op0", 0.2), op("op6", 0.0), op("op7", 1.0)])}),
                ),
                (
                    // no operations of its own: the default's, with its own probability
                    "baz",
                    json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.1},
                           "operationSampling": op_sampling(0.1, vec![op("op0", 0.2), op("op6", 0.0), op("op7", 1.0)])}),
                ),
                (
                    "other",
                    json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5},
                           "operationSampling": op_sampling(0.5, vec![op("op0", 0.2), op("op6", 0.0), op("op7", 1.0)])}),
                ),
            ],
        );
    }

    #[test]
    fn bad_files() {
        check_err("[", "EOF");
        check_err(
            r#"{"default_strategy": {"type": "probabilistc", "param": 0.5}}"#,
            "default_strategy: unknown type \"probabilistc\"",
        );
        check_err(
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1.5}]}"#,
            "service_strategies[0]: probability 1.5 is outside [0, 1]",
        );
        check_err(
            r#"{"service_strategies": [{"type": "probabilistic", "param": 0.5}]}"#,
            "service_strategies[0]: \"service\" is missing",
        );
        check_err(
            r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": -1}]}"#,
            "traces per second -1 must be from 0",
        );
        check_err(r#"{"defaults": {}}"#, "unknown field `defaults`");
    }

    #[test]
    fn store_reloads_changed_file_and_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, STRATEGIES).unwrap();
        let store = StrategyStore::open(Some(path.clone())).unwrap();
        let rate = |s: &StrategyStore| s.current().for_service("foo").strategy;
        assert_eq!(rate(&store), Strategy::Probabilistic(0.8));

        std::fs::write(
            &path,
            r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": 0.3}]}"#,
        )
        .unwrap();
        store.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert_eq!(rate(&store), Strategy::Probabilistic(0.3));

        std::fs::write(&path, "{broken").unwrap();
        store.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert_eq!(rate(&store), Strategy::Probabilistic(0.3));

        assert!(matches!(
            StrategyStore::open(Some(dir.path().join("missing.json"))),
            Err(StrategiesError::Read { .. })
        ));
        std::fs::write(&path, "{broken").unwrap();
        let e = StrategyStore::open(Some(path)).err().unwrap().to_string();
        assert!(e.starts_with("invalid sampling strategies file"), "{e}");
    }
}
