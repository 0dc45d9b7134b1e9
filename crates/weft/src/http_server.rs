//! A tower layer for axum (or any `http` server): extracts the caller's context, opens a
//! server span with the HTTP semantic-convention attributes, takes or generates
//! `x-request-id`, records and echoes it, marks 5xx as errors, and skips excluded paths.
//!
//! Add it with `Router::layer` so that `http.route` comes from axum's `MatchedPath`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use opentelemetry::context::FutureExt as _;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

#[derive(Debug, Clone)]
struct Settings {
    excluded: Vec<String>,
    traceparent_in_response: bool,
    tracer: TracerSource,
}

/// Where server spans are started: the global tracer provider (resolved at the first request,
/// so the layer may be built before `weft::init`) or a provider given explicitly.
#[derive(Debug, Clone)]
enum TracerSource {
    Global(Arc<OnceLock<BoxedTracer>>),
    Sdk(SdkTracer),
}

/// The server layer. `WeftLayer::default()` excludes `/health`, `/healthz`, `/ready` and `/metrics`.
///
/// Server spans are OpenTelemetry spans started directly (not through `tracing`): this keeps
/// the layer's cost near one SDK span per request. The span's context is current while the
/// inner service runs, so `tracing` spans and events inside handlers nest under it (with
/// tracing-opentelemetry's default context activation) and JSON logs carry its ids. To add
/// attributes to the server span from a handler, use
/// `opentelemetry::trace::get_active_span(|span| span.set_attribute(...))`.
#[derive(Debug, Clone)]
pub struct WeftLayer {
    settings: Arc<Settings>,
}

impl Default for WeftLayer {
    fn default() -> Self {
        WeftLayer {
            settings: Arc::new(Settings {
                excluded: ["/health", "/healthz", "/ready", "/metrics"]
                    .map(String::from)
                    .to_vec(),
                traceparent_in_response: false,
                tracer: TracerSource::Global(Arc::new(OnceLock::new())),
            }),
        }
    }
}

impl WeftLayer {
    /// The default layer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Replaces the excluded paths (exact match).
    pub fn exclude<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        Arc::make_mut(&mut self.settings).excluded = paths.into_iter().map(Into::into).collect();
        self
    }
    /// Adds a `traceparent` header to responses (for browsers and test clients).
    pub fn traceparent_in_response(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.settings).traceparent_in_response = on;
        self
    }
    /// Starts server spans with this provider instead of the global one (for applications
    /// that call `Builder::set_global(false)`; `Guard::tracer_provider` gives weft's).
    pub fn tracer_provider(mut self, provider: &SdkTracerProvider) -> Self {
        Arc::make_mut(&mut self.settings).tracer = TracerSource::Sdk(provider.tracer("weft"));
        self
    }
}

impl<S> tower::Layer<S> for WeftLayer {
    type Service = WeftService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WeftService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service [`WeftLayer`] wraps around yours.
#[derive(Debug, Clone)]
pub struct WeftService<S> {
    inner: S,
    settings: Arc<Settings>,
}

/// A random 128-bit request id, hex.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::random::<u128>();
    (0..32)
        .map(|i| HEX[((n >> (124 - 4 * i)) & 0xf) as usize] as char)
        .collect()
}

fn client_address<B>(req: &Request<B>) -> Option<String> {
    if let Some(ff) = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        if let Some(first) = ff
            .split(',')
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            return Some(first.to_string());
        }
    }
    req.extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

impl<S, B, RB> tower::Service<Request<B>> for WeftService<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let path = req.uri().path();
        if self.settings.excluded.iter().any(|p| p == path) {
            return Box::pin(self.inner.call(req));
        }
        let request_id = match req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() && id.len() <= 128 => id.to_string(),
            _ => {
                let id = new_request_id();
                if let Ok(v) = HeaderValue::from_str(&id) {
                    req.headers_mut().insert(REQUEST_ID, v);
                }
                id
            }
        };
        let method = req.method().as_str();
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|m| m.as_str().to_string());
        let name = match &route {
            Some(r) => format!("{method} {r}"),
            None => method.to_string(),
        };
        let mut attributes = Vec::with_capacity(9);
        let method_value = method_value(req.method());
        attributes.push(KeyValue::new("http.request.method", method_value));
        if method_value == "_OTHER" {
            attributes.push(KeyValue::new(
                "http.request.method_original",
                method.to_string(),
            ));
        }
        attributes.push(KeyValue::new("url.path", req.uri().path().to_string()));
        attributes.push(KeyValue::new(
            "url.scheme",
            match req.uri().scheme_str() {
                Some("https") => "https",
                _ => "http",
            },
        ));
        if let Some(r) = route {
            attributes.push(KeyValue::new("http.route", r));
        }
        if let Some(ua) = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(KeyValue::new("user_agent.original", ua.to_string()));
        }
        if let Some(addr) = client_address(&req) {
            attributes.push(KeyValue::new("client.address", addr));
        }
        attributes.push(KeyValue::new(
            "http.request.header.x-request-id",
            request_id.clone(),
        ));
        let parent = crate::propagation::extract_headers(req.headers());
        let builder = opentelemetry::trace::SpanBuilder::from_name(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes);
        let cx = match &self.settings.tracer {
            TracerSource::Sdk(t) => parent.with_span(builder.start_with_context(t, &parent)),
            TracerSource::Global(cell) => {
                let t = cell.get_or_init(|| opentelemetry::global::tracer("weft"));
                parent.with_span(builder.start_with_context(t, &parent))
            }
        };
        let traceparent = self.settings.traceparent_in_response;
        // the inner service may do work in `call` itself: run it inside the span's context too
        let fut = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        Box::pin(async move {
            let result = fut.with_context(cx.clone()).await;
            let span = cx.span();
            match &result {
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
                    if code >= 500 {
                        span.set_attribute(KeyValue::new("error.type", code.to_string()));
                        span.set_status(Status::error(""));
                    }
                }
                Err(_) => {
                    span.set_attribute(KeyValue::new("error.type", "_OTHER"));
                    span.set_status(Status::error("the service returned an error"));
                }
            }
            let result = result.map(|mut resp| {
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    resp.headers_mut().insert(REQUEST_ID, v);
                }
                if traceparent {
                    crate::propagation::inject_headers(&cx, resp.headers_mut());
                    // only traceparent is meant for the caller
                    resp.headers_mut().remove("baggage");
                }
                resp
            });
            span.end();
            result
        })
    }
}

/// The method as semantic conventions want it: known methods by name, others as `_OTHER`.
fn method_value(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}
