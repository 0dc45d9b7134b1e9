//! The Jaeger remote sampler: configuration, strategy parsing, each strategy's behaviour
//! (statistically, and the rate limits on a simulated clock) and polling a real HTTP server.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{builder, env, Memory};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider as _,
};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use parking_lot::Mutex;
use weft::config::{Config, SamplerConfig};
use weft::sampling_remote::*;

fn random_ids(n: usize) -> Vec<TraceId> {
    (0..n)
        .map(|_| TraceId::from_bytes(rand::random::<[u8; 16]>()))
        .collect()
}

// ---- OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG ----

/// `arg` parsed with a default initial rate of 1.0 gives `want` and warnings containing `warn`.
fn check_arg(arg: Option<&str>, want: JaegerRemoteConfig, warn: &[&str]) {
    let (c, warnings) = JaegerRemoteConfig::from_arg(arg, 1.0);
    assert_eq!(c, want, "arg {arg:?}");
    assert_eq!(warnings.len(), warn.len(), "arg {arg:?}: {warnings:?}");
    for (w, want) in warnings.iter().zip(warn) {
        assert!(w.contains(want), "{w:?} should contain {want:?}");
        assert!(w.contains("OTEL_TRACES_SAMPLER_ARG"), "{w:?}");
    }
}

fn cfg(endpoint: &str, ms: u64, rate: f64) -> JaegerRemoteConfig {
    JaegerRemoteConfig {
        endpoint: endpoint.to_string(),
        polling_interval: Duration::from_millis(ms),
        initial_sampling_rate: rate,
    }
}

#[test]
fn sampler_arg_keys_as_the_spec_names_them() {
    check_arg(None, cfg(DEFAULT_ENDPOINT, 60_000, 1.0), &[]);
    check_arg(
        Some("endpoint=http://weft:16686,pollingIntervalMs=5000,initialSamplingRate=0.25"),
        cfg("http://weft:16686", 5000, 0.25),
        &[],
    );
    check_arg(
        Some(" endpoint = https://c:14268/api/sampling , initialSamplingRate=0"),
        cfg("https://c:14268/api/sampling", 60_000, 0.0),
        &[],
    );
    // the spec's own example: gRPC port, accepted with a warning
    check_arg(
        Some("endpoint=http://localhost:14250,pollingIntervalMs=5000,initialSamplingRate=0.25"),
        cfg("http://localhost:14250", 5000, 0.25),
        &["gRPC port"],
    );
    // bad entries are reported and ignored, the others kept
    check_arg(
        Some("endpoint=localhost:5778,pollingIntervalMs=5s,initialSamplingRate=1.5,poolingIntervalMs=10,junk"),
        cfg(DEFAULT_ENDPOINT, 60_000, 1.0),
        &[
            "\"endpoint=localhost:5778\" ignored",
            "\"pollingIntervalMs=5s\" ignored: expected a whole number of milliseconds",
            "\"initialSamplingRate=1.5\" ignored: expected a number from 0.0 to 1.0",
            "\"poolingIntervalMs=10\" ignored: unknown key",
            "\"junk\" ignored: expected key=value",
        ],
    );
    check_arg(
        Some("pollingIntervalMs=0"),
        cfg(DEFAULT_ENDPOINT, 60_000, 1.0),
        &["above 0"],
    );
}

#[test]
fn strategy_url_with_and_without_path() {
    let url = |e: &str| cfg(e, 1, 1.0).strategy_url("checkout svc").unwrap();
    assert_eq!(
        url("http://h:16686"),
        "http://h:16686/sampling?service=checkout+svc"
    );
    assert_eq!(
        url("http://h:16686/"),
        "http://h:16686/sampling?service=checkout+svc"
    );
    assert_eq!(
        url("http://h:14268/api/sampling"),
        "http://h:14268/api/sampling?service=checkout+svc"
    );
}

#[test]
fn otel_traces_sampler_values() {
    let c = |vars: &[(&str, &str)]| Config::from_env_map(&env(vars)).unwrap();
    let arg = (
        "OTEL_TRACES_SAMPLER_ARG",
        "endpoint=http://w:1,pollingIntervalMs=10",
    );
    assert_eq!(
        c(&[("OTEL_TRACES_SAMPLER", "jaeger_remote"), arg]).sampler,
        SamplerConfig::JaegerRemote(cfg("http://w:1", 10, 1.0))
    );
    assert_eq!(
        c(&[("OTEL_TRACES_SAMPLER", "PARENTBASED_JAEGER_REMOTE"), arg]).sampler,
        SamplerConfig::ParentBasedJaegerRemote(cfg("http://w:1", 10, 1.0))
    );
    // the initial rate defaults to the environment's ratio
    let prod = c(&[
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_ENVIRONMENT", "production"),
    ]);
    assert_eq!(prod.sampler.root_ratio(), 0.1);
    // a bad ARG is a warning naming it, never an error
    let bad = c(&[
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", "initialSamplingRate=2"),
    ]);
    assert_eq!(
        bad.sampler,
        SamplerConfig::JaegerRemote(cfg(DEFAULT_ENDPOINT, 60_000, 1.0))
    );
    assert!(
        bad.warnings[0].contains("OTEL_TRACES_SAMPLER_ARG"),
        "{:?}",
        bad.warnings
    );

    // xray: a value the spec knows but weft does not implement; warned about and ignored
    let x = c(&[("OTEL_TRACES_SAMPLER", "xray")]);
    assert_eq!(x.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(x.warnings.len(), 1);
    for want in [
        "xray",
        "not supported",
        "jaeger_remote",
        "parentbased_traceidratio",
    ] {
        assert!(x.warnings[0].contains(want), "{:?}", x.warnings);
    }
    let x = c(&[
        ("OTEL_TRACES_SAMPLER", "xray"),
        ("OTEL_SAMPLING_RATIO", "0.3"),
    ]);
    assert_eq!(x.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.3));

    let e = Config::from_env_map(&env(&[("OTEL_TRACES_SAMPLER", "jaeger")])).unwrap_err();
    assert!(e.to_string().contains("jaeger_remote"), "{e}");
}

// ---- strategy responses ----

fn check_strategy(json: &str, want: Result<RemoteStrategy, &str>) {
    match (parse_strategy(json.as_bytes()), want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "{json}"),
        (Err(e), Err(want)) => assert!(e.contains(want), "{e:?} should contain {want:?}"),
        (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
    }
}

fn per_op(default: f64, lower: f64, ops: &[(&str, f64)]) -> RemoteStrategy {
    RemoteStrategy::PerOperation(PerOperationStrategy {
        default_probability: default,
        default_lower_bound_traces_per_second: lower,
        operations: ops.iter().map(|(o, p)| (o.to_string(), *p)).collect(),
    })
}

#[test]
fn strategy_responses() {
    use RemoteStrategy::*;
    let table: &[(&str, Result<RemoteStrategy, &str>)] = &[
        (
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#,
            Ok(Probabilistic(0.5)),
        ),
        (
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":10}}"#,
            Ok(RateLimiting(10.0)),
        ),
        // jsonpb may omit zero values and write the enum as a number
        (r#"{"probabilisticSampling":{}}"#, Ok(Probabilistic(0.0))),
        (
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":3}}"#,
            Ok(RateLimiting(3.0)),
        ),
        // Jaeger's fixtures TestServiceNoPerOperationStrategies_Service{A,B}.json
        (
            r#"{"probabilisticSampling":{"samplingRate":1},"operationSampling":{"defaultSamplingProbability":1,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.1}}]}}"#,
            Ok(per_op(1.0, 0.0, &[("/health", 0.1)])),
        ),
        (
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":3},"operationSampling":{"defaultSamplingProbability":0.2,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.1}}]}}"#,
            Ok(per_op(0.2, 0.0, &[("/health", 0.1)])),
        ),
        (
            r#"{"operationSampling":{"defaultSamplingProbability":0.01,"defaultLowerBoundTracesPerSecond":2,"perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}"#,
            Ok(per_op(0.01, 2.0, &[])),
        ),
        (
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"rateLimitingSampling":null,"operationSampling":null}"#,
            Ok(Probabilistic(0.5)),
        ),
        (
            r#"{"probabilisticSampling":{"samplingRate":1.5}}"#,
            Err("outside [0, 1]"),
        ),
        (
            r#"{"probabilisticSampling":{"samplingRate":"x"}}"#,
            Err("not a number"),
        ),
        (
            r#"{"rateLimitingSampling":{"maxTracesPerSecond":-1}}"#,
            Err("negative"),
        ),
        (
            r#"{"operationSampling":{"perOperationStrategies":[{"probabilisticSampling":{"samplingRate":1}}]}}"#,
            Err("operation is missing"),
        ),
        (
            r#"{"strategyType":"PROBABILISTIC"}"#,
            Err("no probabilisticSampling"),
        ),
        ("[1]", Err("expected a JSON object")),
        ("<html>", Err("not JSON")),
    ];
    for (json, want) in table {
        check_strategy(json, want.clone());
    }
}

// ---- behaviour ----

fn sampled_share(s: &JaegerRemoteSampler, name: &str, ids: &[TraceId]) -> f64 {
    let now = Instant::now();
    let n = ids
        .iter()
        .filter(|id| s.is_sampled_at(**id, name, now))
        .count();
    n as f64 / ids.len() as f64
}

#[test]
fn initial_rate_then_probabilistic_like_the_sdk_ratio_sampler() {
    let ids = random_ids(40_000);
    let s = JaegerRemoteSampler::new(0.25);
    assert_eq!(s.strategy(), None);
    let share = sampled_share(&s, "x", &ids);
    assert!((share - 0.25).abs() < 0.015, "initial share {share}");

    for p in [0.0, 0.1, 0.5, 0.9, 1.0] {
        s.set_strategy(RemoteStrategy::Probabilistic(p));
        let share = sampled_share(&s, "x", &ids);
        assert!((share - p).abs() < 0.015, "p={p}: share {share}");
        // the same decision as the SDK's TraceIdRatioBased, id by id
        let sdk = Sampler::TraceIdRatioBased(p);
        for id in ids.iter().take(2000) {
            let r = sdk.should_sample(None, *id, "x", &SpanKind::Internal, &[], &[]);
            assert_eq!(
                s.is_sampled_at(*id, "x", Instant::now()),
                r.decision == SamplingDecision::RecordAndSample
            );
        }
    }
}

#[test]
fn rate_limiting_on_a_simulated_clock() {
    let s = JaegerRemoteSampler::new(1.0);
    s.set_strategy(RemoteStrategy::RateLimiting(10.0));
    let t0 = Instant::now();
    let id = TraceId::from_bytes([1; 16]);
    // a full bucket: 10 at once, then nothing in the same instant
    let burst = (0..1000).filter(|_| s.is_sampled_at(id, "x", t0)).count();
    assert_eq!(burst, 10);
    // then 10 a second: one call per millisecond for 5 simulated seconds
    let later = (1..=5000)
        .filter(|ms| s.is_sampled_at(id, "x", t0 + Duration::from_millis(*ms)))
        .count();
    assert!((49..=51).contains(&later), "{later} in 5 s");
    // an unchanged strategy keeps the bucket (empty now), a new one starts full
    s.set_strategy(RemoteStrategy::RateLimiting(10.0));
    let t1 = t0 + Duration::from_millis(5000);
    assert!(!s.is_sampled_at(id, "x", t1));

    let limiter = RateLimiter::new(0.5, t0);
    let hits: Vec<u64> = (0..6000)
        .filter(|ms| limiter.check_at(t0 + Duration::from_millis(*ms)))
        .collect();
    assert_eq!(hits, vec![0, 2000, 4000], "burst of 1, then one every 2 s");
}

#[test]
fn per_operation_with_guaranteed_lower_bound() {
    let ids = random_ids(20_000);
    let s = JaegerRemoteSampler::new(1.0);
    s.set_strategy(per_op(0.5, 0.0, &[("always", 1.0), ("never", 0.0)]));
    assert_eq!(sampled_share(&s, "always", &ids), 1.0);
    assert_eq!(sampled_share(&s, "never", &ids), 0.0);
    let other = sampled_share(&s, "other", &ids);
    assert!((other - 0.5).abs() < 0.02, "default probability: {other}");

    // a lower bound of 2 traces/s: probability 0 still gives ~2 a second per operation
    s.set_strategy(per_op(0.0, 2.0, &[("never", 0.0), ("always", 1.0)]));
    let t0 = Instant::now();
    for op in ["never", "unlisted"] {
        let n = ids
            .iter()
            .take(3000)
            .enumerate()
            .filter(|(ms, id)| s.is_sampled_at(**id, op, t0 + Duration::from_millis(*ms as u64)))
            .count();
        // a full bucket of 2, then 2/s for 3 s
        assert!((7..=9).contains(&n), "{op}: {n} in 3 s");
    }
    assert_eq!(sampled_share(&s, "always", &ids), 1.0);
}

// ---- polling a real HTTP server ----

#[derive(Clone, Default)]
struct Fake {
    body: Arc<Mutex<(u16, String)>>,
    requests: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

async fn fake_server(fake: Fake) -> std::net::SocketAddr {
    use axum::extract::State;
    async fn handle(State(f): State<Fake>, uri: axum::http::Uri) -> axum::response::Response {
        use axum::response::IntoResponse;
        f.requests.lock().push(uri.to_string());
        f.count.fetch_add(1, Ordering::SeqCst);
        let (status, body) = f.body.lock().clone();
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    }
    let app = axum::Router::new()
        .route("/sampling", axum::routing::get(handle))
        .route("/api/sampling", axum::routing::get(handle))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_follows_the_server_and_keeps_the_last_strategy_on_failure() {
    let fake = Fake::default();
    *fake.body.lock() = (
        200,
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0}}"#.into(),
    );
    let addr = fake_server(fake.clone()).await;
    let config = cfg(&format!("http://{addr}/api/sampling"), 30, 1.0);
    let s = JaegerRemoteSampler::start(&config, "checkout", &tokio::runtime::Handle::current());
    until("the first strategy", || {
        s.strategy() == Some(RemoteStrategy::Probabilistic(0.0))
    })
    .await;
    assert_eq!(fake.requests.lock()[0], "/api/sampling?service=checkout");
    assert!(!s.is_sampled_at(TraceId::from_bytes([7; 16]), "x", Instant::now()));

    *fake.body.lock() = (
        200,
        r#"{"operationSampling":{"defaultSamplingProbability":0,"perOperationStrategies":[{"operation":"GET /pay","probabilisticSampling":{"samplingRate":1}}]}}"#.into(),
    );
    until("the per-operation strategy", || {
        matches!(s.strategy(), Some(RemoteStrategy::PerOperation(_)))
    })
    .await;
    assert!(s.is_sampled_at(TraceId::from_bytes([7; 16]), "GET /pay", Instant::now()));
    assert!(!s.is_sampled_at(TraceId::from_bytes([7; 16]), "GET /other", Instant::now()));

    // failures: counted, and the last strategy stays
    let before = s.polls();
    *fake.body.lock() = (503, "down".into());
    until("failed polls", || s.polls().failed >= 3).await;
    assert!(s.polls().ok >= before.ok);
    assert!(matches!(
        s.strategy(),
        Some(RemoteStrategy::PerOperation(_))
    ));
    *fake.body.lock() = (200, "not json".into());
    let failed = s.polls().failed;
    until("more failed polls", || s.polls().failed >= failed + 2).await;
    assert!(matches!(
        s.strategy(),
        Some(RemoteStrategy::PerOperation(_))
    ));

    // an endpoint without a path polls /sampling
    let s2 = JaegerRemoteSampler::start(
        &cfg(&format!("http://{addr}"), 1000, 1.0),
        "a b",
        &tokio::runtime::Handle::current(),
    );
    until("a poll of /sampling", || {
        fake.requests
            .lock()
            .iter()
            .any(|r| r == "/sampling?service=a+b")
    })
    .await;
    drop(s2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_against_nothing_keeps_the_initial_rate() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hole.local_addr().unwrap();
    drop(hole);
    let s = JaegerRemoteSampler::start(
        &cfg(&format!("http://{addr}"), 20, 1.0),
        "svc",
        &tokio::runtime::Handle::current(),
    );
    until("failed polls", || s.polls().failed >= 3).await;
    assert_eq!(s.polls().ok, 0);
    assert_eq!(s.strategy(), None);
    assert!(s.is_sampled_at(TraceId::from_bytes([9; 16]), "x", Instant::now()));
}

#[test]
fn init_with_jaeger_remote_samplers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = Fake::default();
    *fake.body.lock() = (
        200,
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0}}"#.into(),
    );
    let addr = rt.block_on(fake_server(fake.clone()));
    let arg = format!("endpoint=http://{addr},pollingIntervalMs=20,initialSamplingRate=1");
    for (sampler, child_of_sampled_parent) in [
        ("jaeger_remote", false),
        ("parentbased_jaeger_remote", true),
    ] {
        let mem = Memory::default();
        let guard = builder(
            &mem,
            &[
                ("OTEL_TRACES_SAMPLER", sampler),
                ("OTEL_TRACES_SAMPLER_ARG", &arg),
                ("OTEL_SERVICE_NAME", "svc-a"),
            ],
        )
        .set_global(false)
        .init()
        .unwrap();
        // two requests served: the first answer has been applied
        let seen = fake.count.load(Ordering::SeqCst);
        rt.block_on(until("two polls", || {
            fake.count.load(Ordering::SeqCst) >= seen + 2
        }));
        assert!(fake
            .requests
            .lock()
            .iter()
            .any(|r| r == "/sampling?service=svc-a"));
        let tracer = guard.tracer_provider().tracer("t");
        for _ in 0..50 {
            let span = tracer.start("root");
            assert!(!span.span_context().is_sampled(), "{sampler}: root sampled");
        }
        let parent = SpanContext::new(
            TraceId::from_bytes([3; 16]),
            SpanId::from_bytes([4; 8]),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(parent);
        let child = tracer.start_with_context("child", &cx);
        assert_eq!(
            child.span_context().is_sampled(),
            child_of_sampled_parent,
            "{sampler}"
        );
        drop(child);
        drop(guard);
    }
}
