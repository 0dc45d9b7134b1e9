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

mod bare_layer {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use opentelemetry::context::FutureExt as _;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
    use opentelemetry::KeyValue;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracer;

    #[derive(Clone)]
    pub struct BareLayer(pub SdkTracer);

    impl<S> tower::Layer<S> for BareLayer {
        type Service = BareService<S>;
        fn layer(&self, inner: S) -> Self::Service {
            BareService(inner, self.0.clone(), TraceContextPropagator::new())
        }
    }

    #[derive(Clone)]
    pub struct BareService<S>(S, SdkTracer, TraceContextPropagator);

    struct Headers<'a>(&'a http::HeaderMap);

    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    impl<S, B, RB> tower::Service<http::Request<B>> for BareService<S>
    where
        S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Send + 'static,
        S::Future: Send + 'static,
    {
        type Response = http::Response<RB>;
        type Error = S::Error;
        type Future = Pin<Box<dyn Future<Output = Result<http::Response<RB>, S::Error>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            let attributes = vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", req.uri().path().to_string()),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("http.route", route.clone()),
            ];
            let parent = self.2.extract(&Headers(req.headers()));
            let span = self
                .1
                .span_builder(format!("GET {route}"))
                .with_kind(SpanKind::Server)
                .with_attributes(attributes)
                .start_with_context(&self.1, &parent);
            let cx = parent.with_span(span);
            let fut = self.0.call(req);
            Box::pin(async move {
                let r = fut.with_context(cx.clone()).await;
                if let Ok(resp) = &r {
                    cx.span().set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(resp.status().as_u16()),
                    ));
                }
                cx.span().end();
                r
            })
        }
    }
}

criterion_group!(benches, spans, axum_hello);
criterion_main!(benches);
