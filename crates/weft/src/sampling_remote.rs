//! The Jaeger remote sampler (`OTEL_TRACES_SAMPLER=jaeger_remote` / `parentbased_jaeger_remote`).
//!
//! It starts with `initialSamplingRate` and polls a Jaeger remote sampling endpoint every
//! `pollingIntervalMs` on weft's own runtime (never on the application's threads), over the
//! HTTP/JSON form of the protocol: `GET <endpoint>?service=<service.name>`, as served by the
//! Jaeger agent (`:5778/sampling`), the Jaeger collector (`:14268/api/sampling`), the
//! OpenTelemetry Collector's `jaegerremotesampling` extension and `weft serve` (`/sampling` and
//! `/api/sampling` on its `--http` port). An endpoint without a path gets `/sampling`. A failed
//! poll keeps the last strategy; failures are counted ([`JaegerRemoteSampler::polls`]) and logged
//! once until a poll succeeds again.
//!
//! Strategies applied, as Jaeger's clients apply them:
//! - probabilistic: the trace-id ratio of the SDK's `TraceIdRatioBased`;
//! - rate limiting: a token bucket of `maxTracesPerSecond` (burst `max(rate, 1)`, starting full);
//! - per operation: the span name's probability, `defaultSamplingProbability` for other names
//!   (up to [`MAX_OPERATIONS`] names are tracked, further ones use the default probability
//!   without a lower bound), plus Jaeger's guaranteed throughput: each operation gets at least
//!   `defaultLowerBoundTracesPerSecond` traces per second whatever its probability (a lower
//!   bound of 0 guarantees nothing).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

/// Endpoint polled when `OTEL_TRACES_SAMPLER_ARG` names none (the Jaeger agent's HTTP form, as
/// in Jaeger's Go and Rust remote samplers).
pub const DEFAULT_ENDPOINT: &str = "http://localhost:5778/sampling";
/// Polling interval when `OTEL_TRACES_SAMPLER_ARG` names none (Jaeger clients' default).
pub const DEFAULT_POLLING_INTERVAL: Duration = Duration::from_secs(60);
/// Operations (span names) tracked by a per-operation strategy.
pub const MAX_OPERATIONS: usize = 2000;

/// Settings of the Jaeger remote sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerRemoteConfig {
    /// `http(s)://host:port[/path]`; without a path `/sampling` is appended.
    pub endpoint: String,
    /// How often to poll.
    pub polling_interval: Duration,
    /// Probability used until a strategy has been fetched.
    pub initial_sampling_rate: f64,
}

impl JaegerRemoteConfig {
    /// The default endpoint and interval with this initial rate.
    pub fn new(initial_sampling_rate: f64) -> JaegerRemoteConfig {
        JaegerRemoteConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            polling_interval: DEFAULT_POLLING_INTERVAL,
            initial_sampling_rate,
        }
    }

    /// Parses `OTEL_TRACES_SAMPLER_ARG` (`endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`,
    /// key names as the specification spells them). As the specification says, invalid or
    /// unknown input is reported and otherwise ignored: each bad entry gives a warning and its
    /// default is used.
    pub fn from_arg(
        arg: Option<&str>,
        default_initial_rate: f64,
    ) -> (JaegerRemoteConfig, Vec<String>) {
        let mut c = JaegerRemoteConfig::new(default_initial_rate);
        let mut warnings = Vec::new();
        let mut bad = |entry: &str, why: &str| {
            warnings.push(format!(
                "OTEL_TRACES_SAMPLER_ARG entry {entry:?} ignored: {why}"
            ))
        };
        for entry in arg
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let Some((k, v)) = entry.split_once('=') else {
                bad(
                    entry,
                    "expected key=value (endpoint, pollingIntervalMs, initialSamplingRate)",
                );
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "endpoint" => match endpoint_url(v, "probe") {
                    Ok(_) => c.endpoint = v.to_string(),
                    Err(e) => bad(entry, &e),
                },
                "pollingIntervalMs" => match v.parse::<u64>() {
                    Ok(ms) if ms > 0 => c.polling_interval = Duration::from_millis(ms),
                    _ => bad(entry, "expected a whole number of milliseconds above 0"),
                },
                "initialSamplingRate" => match v.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => c.initial_sampling_rate = r,
                    _ => bad(entry, "expected a number from 0.0 to 1.0"),
                },
                _ => bad(
                    entry,
                    "unknown key (use endpoint, pollingIntervalMs, initialSamplingRate)",
                ),
            }
        }
        if let Ok(u) = endpoint_url(&c.endpoint, "probe") {
            if u.port() == Some(14250) && c.endpoint.trim_end_matches('/').ends_with(":14250") {
                warnings.push(format!(
                    "OTEL_TRACES_SAMPLER_ARG endpoint {} is Jaeger's gRPC port; weft polls the HTTP form: use http://<agent>:5778/sampling, http://<collector>:14268/api/sampling or weft serve's --http address",
                    c.endpoint
                ));
            }
        }
        (c, warnings)
    }

    /// The URL polled for `service`.
    pub fn strategy_url(&self, service: &str) -> Result<String, String> {
        endpoint_url(&self.endpoint, service).map(|u| u.to_string())
    }
}

fn endpoint_url(endpoint: &str, service: &str) -> Result<reqwest::Url, String> {
    let mut u = reqwest::Url::parse(endpoint).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err("expected an http:// or https:// URL with a host".to_string());
    }
    if u.path().is_empty() || u.path() == "/" {
        u.set_path("/sampling");
    }
    u.query_pairs_mut().append_pair("service", service);
    Ok(u)
}

/// A strategy as the remote sampling endpoint sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteStrategy {
    /// `probabilisticSampling.samplingRate`.
    Probabilistic(f64),
    /// `rateLimitingSampling.maxTracesPerSecond`.
    RateLimiting(f64),
    /// `operationSampling`.
    PerOperation(PerOperationStrategy),
}

/// Jaeger's `PerOperationSamplingStrategies`.
#[derive(Debug, Clone, PartialEq)]
pub struct PerOperationStrategy {
    /// Probability of operations not listed.
    pub default_probability: f64,
    /// Traces per second guaranteed to every operation.
    pub default_lower_bound_traces_per_second: f64,
    /// `(operation, probability)`.
    pub operations: Vec<(String, f64)>,
}

/// Parses a Jaeger api_v2 `SamplingStrategyResponse` in JSON. `operationSampling` wins, then
/// `probabilisticSampling`, then `rateLimitingSampling` (the order of Jaeger's Go sampler);
/// `strategyType` may be the enum name or its number and is not needed.
pub fn parse_strategy(body: &[u8]) -> Result<RemoteStrategy, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let present = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let prob = |v: &Value, at: &str| -> Result<f64, String> {
        let p = v
            .get("samplingRate")
            .map_or(Some(0.0), Value::as_f64)
            .ok_or(format!("{at}.samplingRate is not a number"))?;
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(format!("{at}.samplingRate {p} is outside [0, 1]"))
        }
    };
    let number = |v: &Value, k: &str, at: &str| -> Result<f64, String> {
        let n = v
            .get(k)
            .map_or(Some(0.0), Value::as_f64)
            .ok_or(format!("{at}.{k} is not a number"))?;
        if n >= 0.0 {
            Ok(n)
        } else {
            Err(format!("{at}.{k} {n} is negative"))
        }
    };
    if let Some(ops) = present("operationSampling") {
        let at = "operationSampling";
        let default_probability = match ops.get("defaultSamplingProbability") {
            None | Some(Value::Null) => 0.0,
            Some(p) => {
                let p = p
                    .as_f64()
                    .ok_or(format!("{at}.defaultSamplingProbability is not a number"))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!(
                        "{at}.defaultSamplingProbability {p} is outside [0, 1]"
                    ));
                }
                p
            }
        };
        let lower = number(ops, "defaultLowerBoundTracesPerSecond", at)?;
        let mut operations = Vec::new();
        if let Some(list) = ops.get("perOperationStrategies").filter(|v| !v.is_null()) {
            let list = list
                .as_array()
                .ok_or(format!("{at}.perOperationStrategies is not an array"))?;
            for (i, o) in list.iter().enumerate() {
                let oat = format!("{at}.perOperationStrategies[{i}]");
                let name = o
                    .get("operation")
                    .and_then(Value::as_str)
                    .ok_or(format!("{oat}.operation is missing"))?;
                let p = match o.get("probabilisticSampling").filter(|v| !v.is_null()) {
                    Some(ps) => prob(ps, &format!("{oat}.probabilisticSampling"))?,
                    None => default_probability,
                };
                operations.push((name.to_string(), p));
            }
        }
        return Ok(RemoteStrategy::PerOperation(PerOperationStrategy {
            default_probability,
            default_lower_bound_traces_per_second: lower,
            operations,
        }));
    }
    if let Some(p) = present("probabilisticSampling") {
        return prob(p, "probabilisticSampling").map(RemoteStrategy::Probabilistic);
    }
    if let Some(r) = present("rateLimitingSampling") {
        return number(r, "maxTracesPerSecond", "rateLimitingSampling")
            .map(RemoteStrategy::RateLimiting);
    }
    Err("no probabilisticSampling, rateLimitingSampling or operationSampling".to_string())
}

/// A token bucket: `credits_per_second` tokens a second, at most `max(credits_per_second, 1)`
/// kept, starting full (Jaeger's rate limiter).
#[derive(Debug)]
pub struct RateLimiter {
    credits_per_second: f64,
    max_balance: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(credits_per_second: f64, now: Instant) -> RateLimiter {
        let max_balance = credits_per_second.max(1.0);
        RateLimiter {
            credits_per_second,
            max_balance,
            state: Mutex::new((max_balance, now)),
        }
    }

    /// Takes one token if there is one at `now`.
    pub fn check_at(&self, now: Instant) -> bool {
        let mut st = self.state.lock();
        let elapsed = now.saturating_duration_since(st.1).as_secs_f64();
        if now > st.1 {
            st.1 = now;
        }
        st.0 = (st.0 + elapsed * self.credits_per_second).min(self.max_balance);
        // tolerate the rounding of many small refills
        if st.0 >= 1.0 - 1e-9 {
            st.0 = (st.0 - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

/// The trace-id ratio decision of the SDK's `TraceIdRatioBased`.
pub fn trace_id_ratio(probability: f64, trace_id: TraceId) -> bool {
    if probability >= 1.0 {
        return true;
    }
    let bound = (probability.max(0.0) * (1u64 << 63) as f64) as u64;
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
    (low >> 1) < bound
}

#[derive(Debug)]
struct Guaranteed {
    probability: f64,
    lower_bound: Option<RateLimiter>,
}

impl Guaranteed {
    fn new(probability: f64, lower_bound: f64, now: Instant) -> Guaranteed {
        Guaranteed {
            probability,
            lower_bound: (lower_bound > 0.0).then(|| RateLimiter::new(lower_bound, now)),
        }
    }

    fn decide(&self, trace_id: TraceId, now: Instant) -> bool {
        if trace_id_ratio(self.probability, trace_id) {
            // keep the lower-bound limiter in step, as Jaeger's guaranteed-throughput sampler does
            if let Some(l) = &self.lower_bound {
                l.check_at(now);
            }
            return true;
        }
        self.lower_bound.as_ref().is_some_and(|l| l.check_at(now))
    }
}

#[derive(Debug)]
enum Active {
    Probabilistic(f64),
    RateLimiting(RateLimiter),
    PerOperation {
        strategy: PerOperationStrategy,
        operations: RwLock<HashMap<String, Arc<Guaranteed>>>,
    },
}

impl Active {
    fn new(s: &RemoteStrategy, now: Instant) -> Active {
        match s {
            RemoteStrategy::Probabilistic(p) => Active::Probabilistic(*p),
            RemoteStrategy::RateLimiting(r) => Active::RateLimiting(RateLimiter::new(*r, now)),
            RemoteStrategy::PerOperation(p) => Active::PerOperation {
                operations: RwLock::new(
                    p.operations
                        .iter()
                        .take(MAX_OPERATIONS)
                        .map(|(name, prob)| {
                            let g = Guaranteed::new(
                                *prob,
                                p.default_lower_bound_traces_per_second,
                                now,
                            );
                            (name.clone(), Arc::new(g))
                        })
                        .collect(),
                ),
                strategy: p.clone(),
            },
        }
    }

    fn decide(&self, trace_id: TraceId, name: &str, now: Instant) -> bool {
        match self {
            Active::Probabilistic(p) => trace_id_ratio(*p, trace_id),
            Active::RateLimiting(l) => l.check_at(now),
            Active::PerOperation {
                strategy,
                operations,
            } => {
                let found = operations.read().get(name).cloned();
                let g = match found {
                    Some(g) => g,
                    None => {
                        let mut ops = operations.write();
                        if ops.len() >= MAX_OPERATIONS && !ops.contains_key(name) {
                            return trace_id_ratio(strategy.default_probability, trace_id);
                        }
                        ops.entry(name.to_string())
                            .or_insert_with(|| {
                                Arc::new(Guaranteed::new(
                                    strategy.default_probability,
                                    strategy.default_lower_bound_traces_per_second,
                                    now,
                                ))
                            })
                            .clone()
                    }
                };
                g.decide(trace_id, now)
            }
        }
    }
}

#[derive(Debug)]
struct Current {
    remote: Option<RemoteStrategy>,
    active: Active,
}

#[derive(Debug)]
struct Shared {
    current: RwLock<Arc<Current>>,
    polls_ok: AtomicU64,
    polls_failed: AtomicU64,
    failing: AtomicBool,
}

/// Poll counters of a [`JaegerRemoteSampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollStats {
    /// Polls that returned a strategy.
    pub ok: u64,
    /// Polls that failed (connection, status, body); the last strategy stayed.
    pub failed: u64,
}

/// A sampler whose strategy comes from a Jaeger remote sampling endpoint (see the module docs).
#[derive(Debug, Clone)]
pub struct JaegerRemoteSampler {
    shared: Arc<Shared>,
}

impl JaegerRemoteSampler {
    /// A sampler that samples `initial_sampling_rate` of traces until a strategy is set; it does
    /// not poll (see [`JaegerRemoteSampler::start`]).
    pub fn new(initial_sampling_rate: f64) -> JaegerRemoteSampler {
        JaegerRemoteSampler {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(Current {
                    remote: None,
                    active: Active::Probabilistic(initial_sampling_rate),
                })),
                polls_ok: AtomicU64::new(0),
                polls_failed: AtomicU64::new(0),
                failing: AtomicBool::new(false),
            }),
        }
    }

    /// Starts polling `config.endpoint` for `service` on `runtime` (weft's own), first at once,
    /// then every `config.polling_interval`. Polling stops when the last clone of the sampler is
    /// dropped or the runtime shuts down.
    pub fn start(
        config: &JaegerRemoteConfig,
        service: &str,
        runtime: &tokio::runtime::Handle,
    ) -> JaegerRemoteSampler {
        let sampler = JaegerRemoteSampler::new(config.initial_sampling_rate);
        let url = match config.strategy_url(service) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(target: "weft", endpoint = %config.endpoint, error = %e,
                    "jaeger remote sampler endpoint is unusable; keeping the initial sampling rate");
                return sampler;
            }
        };
        let weak = Arc::downgrade(&sampler.shared);
        let interval = config.polling_interval;
        runtime.spawn(poll_loop(weak, url, interval));
        sampler
    }

    /// Replaces the strategy (an unchanged strategy keeps its rate limiters' state).
    pub fn set_strategy(&self, strategy: RemoteStrategy) {
        let cur = self.shared.current.read().clone();
        if cur.remote.as_ref() == Some(&strategy) {
            return;
        }
        let active = Active::new(&strategy, Instant::now());
        *self.shared.current.write() = Arc::new(Current {
            remote: Some(strategy),
            active,
        });
    }

    /// The strategy last fetched; `None` while the initial rate applies.
    pub fn strategy(&self) -> Option<RemoteStrategy> {
        self.shared.current.read().remote.clone()
    }

    /// Poll counters.
    pub fn polls(&self) -> PollStats {
        PollStats {
            ok: self.shared.polls_ok.load(Ordering::Relaxed),
            failed: self.shared.polls_failed.load(Ordering::Relaxed),
        }
    }

    /// The decision for a root span named `name` of `trace_id` at `now` (the clock is a
    /// parameter so rate limits can be tested on a simulated clock).
    pub fn is_sampled_at(&self, trace_id: TraceId, name: &str, now: Instant) -> bool {
        let cur = self.shared.current.read().clone();
        cur.active.decide(trace_id, name, now)
    }

    fn poll_failed(&self, url: &str, why: &str) {
        self.shared.polls_failed.fetch_add(1, Ordering::Relaxed);
        if !self.shared.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "weft", url, error = why,
                "jaeger remote sampler cannot fetch its strategy; keeping the current one (logged once until it recovers)");
        }
    }

    fn poll_succeeded(&self, url: &str, strategy: RemoteStrategy) {
        self.shared.polls_ok.fetch_add(1, Ordering::Relaxed);
        if self.shared.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(target: "weft", url, "jaeger remote sampler fetches its strategy again");
        }
        self.set_strategy(strategy);
    }
}

async fn poll_loop(weak: Weak<Shared>, url: String, interval: Duration) {
    let client = match reqwest::Client::builder()
        .timeout(interval.clamp(Duration::from_secs(1), Duration::from_secs(10)))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(target: "weft", error = %e,
                "jaeger remote sampler cannot build its HTTP client; keeping the initial sampling rate");
            return;
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = weak.upgrade() else { return };
        let sampler = JaegerRemoteSampler { shared };
        match fetch(&client, &url).await {
            Ok(s) => sampler.poll_succeeded(&url, s),
            Err(e) => sampler.poll_failed(&url, &e),
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<RemoteStrategy, String> {
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("status {status}: {text}"));
    }
    parse_strategy(&body)
}

impl ShouldSample for JaegerRemoteSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let sampled = self.is_sampled_at(trace_id, name, Instant::now());
        SamplingResult {
            decision: if sampled {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            },
            attributes: Vec::new(),
            trace_state: parent_context
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default(),
        }
    }
}
