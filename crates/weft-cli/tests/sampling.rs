//! Jaeger remote sampling with the real `weft serve`: the endpoint's JSON against Jaeger's, the
//! file reload, bad requests and files, and weft's `jaeger_remote` sampler polling it.

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use weft_testkit::Server;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

// Jaeger's fixtures/operation_strategies.json, trimmed
const STRATEGIES: &str = r#"{
  "default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [
    {"operation": "op0", "type": "probabilistic", "param": 0.2}]},
  "service_strategies": [
    {"service": "foo", "type": "probabilistic", "param": 0.8, "operation_strategies": [
      {"operation": "op1", "type": "probabilistic", "param": 0.2},
      {"operation": "op2", "type": "ratelimiting", "param": 10}]},
    {"service": "bar", "type": "ratelimiting", "param": 5}
  ]
}"#;

async fn get(client: &reqwest::Client, server: &Server, path: &str) -> (u16, Value) {
    let r = client.get(server.api(path)).send().await.expect("GET");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ct.as_deref(), Some("application/json"), "{path}");
    (status, r.json().await.expect("JSON"))
}

/// Jaeger's jsonpb rendering of a per-operation strategy (defaults emitted).
fn op_sampling(default: f64, ops: &[(&str, f64)]) -> Value {
    let per: Vec<Value> = ops
        .iter()
        .map(|(o, p)| json!({"operation": o, "probabilisticSampling": {"samplingRate": p}}))
        .collect();
    json!({"defaultSamplingProbability": default, "defaultLowerBoundTracesPerSecond": 0.0,
           "perOperationStrategies": per, "defaultUpperBoundTracesPerSecond": 0.0})
}

#[tokio::test]
async fn sampling_endpoint_serves_jaeger_json_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, STRATEGIES).unwrap();
    let server = Server::start_with_env(
        bin(),
        &dir.path().join("data"),
        &[],
        &[("WEFT_SAMPLING_STRATEGIES", file.to_str().unwrap())],
    );
    let c = reqwest::Client::new();

    let foo = json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.8},
                     "operationSampling": op_sampling(0.8, &[("op1", 0.2), ("op0", 0.2)])});
    let bar = json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5},
                     "operationSampling": op_sampling(0.5, &[("op0", 0.2)])});
    let default = json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5},
                         "operationSampling": op_sampling(0.5, &[("op0", 0.2)])});
    for prefix in ["/api/sampling", "/sampling"] {
        assert_eq!(
            get(&c, &server, &format!("{prefix}?service=foo")).await,
            (200, foo.clone())
        );
        assert_eq!(
            get(&c, &server, &format!("{prefix}?service=bar")).await,
            (200, bar.clone())
        );
        assert_eq!(
            get(&c, &server, &format!("{prefix}?service=nobody")).await,
            (200, default.clone())
        );
        for bad in ["", "?svc=foo", "?service=a&service=b"] {
            let (status, body) = get(&c, &server, &format!("{prefix}{bad}")).await;
            assert_eq!(status, 400, "{prefix}{bad}");
            let msg = body["error"].as_str().unwrap();
            assert!(
                msg.contains("'service' parameter must be provided once"),
                "{msg}"
            );
        }
    }

    // the file is re-read when it changes; a broken edit keeps the last good strategies
    std::fs::write(
        &file,
        r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": 0.1}]}"#,
    )
    .unwrap();
    let want =
        json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.1}});
    wait_for(&c, &server, "/api/sampling?service=foo", &want).await;
    std::fs::write(&file, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get(&c, &server, "/api/sampling?service=foo").await,
        (200, want)
    );
    // without a file entry for it, everyone gets the default: probabilistic 1.0
    assert_eq!(
        get(&c, &server, "/sampling?service=nobody").await.1,
        json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1.0}})
    );
}

async fn wait_for(c: &reqwest::Client, server: &Server, path: &str, want: &Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, got) = get(c, server, path).await;
        if &got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: still {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn bad_strategies_file_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    std::fs::write(
        &file,
        r#"{"default_strategy": {"type": "probabilistc", "param": 0.5}}"#,
    )
    .unwrap();
    for (path, want) in [
        (file.clone(), "unknown type \"probabilistc\""),
        (
            dir.path().join("missing.json"),
            "cannot read the sampling strategies file",
        ),
    ] {
        let out = Server::run_to_exit(
            bin(),
            &dir.path().join("data"),
            &["--sampling-strategies", path.to_str().unwrap()],
            &[],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}

/// weft's `jaeger_remote` sampler against `weft serve`: service A has probability 0, service B
/// samples only its operation "checkout".
#[test]
fn weft_jaeger_remote_sampler_follows_weft_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(
        &file,
        r#"{"service_strategies": [
            {"service": "svc-a", "type": "probabilistic", "param": 0},
            {"service": "svc-b", "type": "probabilistic", "param": 0, "operation_strategies": [
                {"operation": "checkout", "type": "probabilistic", "param": 1}]}]}"#,
    )
    .unwrap();
    let server = Server::start(
        bin(),
        &dir.path().join("data"),
        &["--sampling-strategies", file.to_str().unwrap()],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let arg = format!(
        "endpoint=http://{},pollingIntervalMs=50,initialSamplingRate=1",
        server.http
    );
    let otlp = format!("http://{}", server.otlp_http);
    let init = |service: &str| {
        let env = [
            ("OTEL_SERVICE_NAME", service),
            ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
            ("OTEL_TRACES_SAMPLER_ARG", arg.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ];
        weft::builder()
            .env(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
            .install_subscriber(false)
            .set_global(false)
            .init()
            .unwrap()
    };
    // the initial rate (1.0) holds until the first poll; then the server's strategy applies
    let wait_until_unsampled = |guard: &weft::Guard, name: &str| {
        let tracer = guard.tracer_provider().tracer("t");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tracer.start(name.to_string()).span_context().is_sampled() {
            assert!(Instant::now() < deadline, "the first poll never applied");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let sampled = |guard: &weft::Guard, name: &str| -> usize {
        let tracer = guard.tracer_provider().tracer("t");
        (0..200)
            .filter(|_| tracer.start(name.to_string()).span_context().is_sampled())
            .count()
    };

    let a = init("svc-a");
    wait_until_unsampled(&a, "anything");
    assert_eq!(sampled(&a, "checkout"), 0);
    assert_eq!(sampled(&a, "other"), 0);
    drop(a);

    let b = init("svc-b");
    wait_until_unsampled(&b, "other");
    assert_eq!(sampled(&b, "other"), 0);
    assert_eq!(sampled(&b, "checkout"), 200);
    // and the sampled span reaches the server
    let tracer = b.tracer_provider().tracer("t");
    let mut span = tracer.start("checkout");
    let trace_id = span.span_context().trace_id();
    span.end();
    b.flush().unwrap();
    let c = reqwest::Client::new();
    rt.block_on(weft_testkit::eventually(
        "the checkout trace is stored",
        Duration::from_secs(10),
        async || {
            let r = c
                .get(server.api(&format!("/api/v1/traces/{trace_id}")))
                .send()
                .await
                .unwrap();
            r.status() == 200
        },
    ));
    drop(b);
}
