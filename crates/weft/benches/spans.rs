//! ns per span through weft vs a bare opentelemetry_sdk pipeline, sampled and unsampled; and
//! an axum hello-world with and without weft's layer.
//!
//! `cargo bench -p weft --bench spans`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{Span as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::Sampler;

#[path = "support/pipelines.rs"]
mod pipelines;
use pipelines::{bare, weft_builder, weft_guard};

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
    // finished once, as `axum::serve` does per connection (see axum_overhead.rs)
    let plain = axum::Router::new()
        .route("/hello", get(|| async { "hi" }))
        .with_state::<()>(());
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
        .layer(bare_layer::BareLayer(provider.tracer("bare")))
        .with_state::<()>(());
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
            .layer(weft::http_server::WeftLayer::new().tracer_provider(guard.tracer_provider()))
            .with_state::<()>(());
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
