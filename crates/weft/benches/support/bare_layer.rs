//! The least a server layer on the bare SDK does: extract the caller's trace context, start a
//! server span with the basic HTTP attributes, keep its context current while the handler
//! runs. The baseline for what weft's layer adds on top.

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
