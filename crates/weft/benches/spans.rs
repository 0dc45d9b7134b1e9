//! ns per span through weft vs a bare opentelemetry_sdk pipeline, sampled and unsampled; and
//! an axum hello-world with and without weft's layer.
//!
//! `cargo bench -p weft --bench spans`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{Span as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};

#[derive(Debug)]
struct Noop;

impl SpanExporter for Noop {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

fn env(sampler: &str) -> std::collections::HashMap<String, String> {
    [
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_TRACES_SAMPLER", sampler),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn weft_guard(sampler: &str) -> weft::Guard {
    weft_builder(sampler).init().unwrap()
}

fn weft_builder(sampler: &str) -> weft::Builder {
    weft::builder()
        .env(env(sampler))
        .install_subscriber(false)
        .set_global(false)
        .with_exporter(Noop)
}

fn bare(sampler: Sampler) -> SdkTracerProvider {
    let bsp = BatchSpanProcessor::builder(Noop)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(65536)
                .with_scheduled_delay(Duration::from_millis(100))
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(bsp)
        .build()
}

fn one_span<T: opentelemetry::trace::Tracer>(t: &T) {
    let mut s = t.start("GET /items/{id}");
    s.set_attribute(KeyValue::new("http.route", "/items/{id}"));
    s.set_attribute(KeyValue::new("http.response.status_code", 200));
    s.end();
}

fn spans(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (label, sampler, sdk_sampler) in [
        ("sampled", "always_on", Sampler::AlwaysOn),
        ("unsampled", "always_off", Sampler::AlwaysOff),
    ] {
        let p = bare(sdk_sampler);
        let t = p.tracer("bench");
        g.bench_function(format!("sdk/{label}"), |b| b.iter(|| one_span(&t)));
        let _ = p.shutdown();
        let guard = weft_guard(sampler);
        let t = guard.tracer_provider().tracer("bench");
        g.bench_function(format!("weft/{label}"), |b| b.iter(|| one_span(&t)));
        drop(guard);
    }
    let guard = weft_builder("always_on").no_redaction().init().unwrap();
    let t = guard.tracer_provider().tracer("bench");
    g.bench_function("weft/sampled_no_redaction", |b| b.iter(|| one_span(&t)));
    drop(guard);
    g.finish();
}

fn axum_hello(c: &mut Criterion) {
    use axum::routing::get;
    use tower::ServiceExt;
    use tracing_subscriber::layer::SubscriberExt;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("axum_hello");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let plain = axum::Router::new().route("/hello", get(|| async { "hi" }));
    let req = || {
        http::Request::get("/hello")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    g.bench_function("no_layer", |b| {
        b.iter(|| rt.block_on(plain.clone().oneshot(req())).unwrap())
    });
    // the least a layer on the bare SDK does: extract the caller's trace context, start a
    // server span with the basic HTTP attributes, keep its context current while the handler
    // runs; the baseline for what weft adds on top
    let provider = bare(Sampler::AlwaysOn);
    let sdk_app = axum::Router::new()
        .route("/hello", get(|| async { "hi" }))
        .layer(bare_layer::BareLayer(provider.tracer("bare")));
    g.bench_function("bare_sdk_layer", |b| {
        b.iter(|| rt.block_on(sdk_app.clone().oneshot(req())).unwrap())
    });
    let _ = provider.shutdown();
    for (label, sampler) in [
        ("weft_sampled", "always_on"),
        ("weft_unsampled", "always_off"),
    ] {
        let guard = weft_guard(sampler);
        let sub = tracing_subscriber::registry().with(guard.layer());
        let app = axum::Router::new()
            .route("/hello", get(|| async { "hi" }))
            .layer(weft::http_server::WeftLayer::new().tracer_provider(guard.tracer_provider()));
        tracing::subscriber::with_default(sub, || {
            g.bench_function(label, |b| {
                b.iter(|| rt.block_on(app.clone().oneshot(req())).unwrap())
            });
        });
        drop(guard);
    }
    g.finish();
}

#[path = "support/bare_layer.rs"]
mod bare_layer;

criterion_group!(benches, spans, axum_hello);
criterion_main!(benches);
