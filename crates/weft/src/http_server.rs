//! A tower layer for axum (or any `http` server): extracts the caller's context, opens a
//! server span with the HTTP semantic-convention attributes, takes or generates
//! `x-request-id`, records and echoes it, marks 5xx as errors, and skips excluded paths.
//!
//! Add it with `Router::layer` so that `http.route` comes from axum's `MatchedPath`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

#[derive(Debug, Clone)]
struct Settings {
    excluded: Vec<String>,
    traceparent_in_response: bool,
}

/// The server layer. `WeftLayer::default()` excludes `/health`, `/healthz`, `/ready` and `/metrics`.
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
    format!("{:032x}", rand::random::<u128>())
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
        let method = req.method().as_str().to_string();
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|m| m.as_str().to_string());
        let name = match &route {
            Some(r) => format!("{method} {r}"),
            None => method.clone(),
        };
        let user_agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let span = tracing::info_span!(
            "http.server",
            otel.name = name,
            otel.kind = "server",
            http.request.method = method,
            url.path = req.uri().path(),
            url.scheme = req.uri().scheme_str().unwrap_or("http"),
            http.route = route.as_deref(),
            user_agent.original = user_agent,
            client.address = client_address(&req),
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        // attribute keys with dashes cannot be tracing field names: set it directly
        span.set_attribute("http.request.header.x-request-id", request_id.clone());
        let _ = span.set_parent(crate::propagation::extract_headers(req.headers()));
        let traceparent = self.settings.traceparent_in_response;
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let result = fut.await;
                let span = tracing::Span::current();
                if let Ok(resp) = &result {
                    let code = resp.status().as_u16();
                    span.set_attribute("http.response.status_code", i64::from(code));
                    if code >= 500 {
                        span.record("otel.status_code", "ERROR");
                        span.record("error.type", code.to_string());
                    }
                }
                result.map(|mut resp| {
                    if let Ok(v) = HeaderValue::from_str(&request_id) {
                        resp.headers_mut().insert(REQUEST_ID, v);
                    }
                    if traceparent {
                        crate::propagation::inject_headers(&span.context(), resp.headers_mut());
                        // only traceparent is meant for the caller
                        resp.headers_mut().remove("baggage");
                    }
                    resp
                })
            }
            .instrument(span),
        )
    }
}
