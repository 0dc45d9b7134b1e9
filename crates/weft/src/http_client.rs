//! A reqwest-middleware middleware: opens a client span and injects its context.
//!
//! ```no_run
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(weft::http_client::WeftMiddleware)
//!     .build();
//! ```

use http::Extensions;
use reqwest_middleware::{Middleware, Next, Result};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Client span + context injection for every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct WeftMiddleware;

/// A `reqwest_middleware::ClientWithMiddleware` with weft's middleware.
pub fn client(inner: reqwest::Client) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(inner)
        .with(WeftMiddleware)
        .build()
}

#[async_trait::async_trait]
impl Middleware for WeftMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<reqwest::Response> {
        let method = req.method().as_str().to_string();
        let url = req.url();
        let span = tracing::info_span!(
            "http.client",
            otel.name = method.clone(),
            otel.kind = "client",
            http.request.method = method,
            url.full = url.as_str(),
            server.address = url.host_str().unwrap_or(""),
            server.port = url.port_or_known_default().map(i64::from),
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        crate::propagation::inject_headers(&span.context(), req.headers_mut());
        let result = next.run(req, extensions).instrument(span.clone()).await;
        match &result {
            Ok(resp) => {
                let code = resp.status().as_u16();
                span.set_attribute("http.response.status_code", i64::from(code));
                if code >= 400 {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", code.to_string());
                }
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record(
                    "error.type",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "request_error"
                    },
                );
            }
        }
        result
    }
}
