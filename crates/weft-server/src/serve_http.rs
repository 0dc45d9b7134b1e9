//! Serving an axum router over HTTP/1.1 and HTTP/2 (cleartext), as `axum::serve` does, plus a
//! deadline for a request's headers: a client that opens a connection and sends its headers
//! slowly, or never, is disconnected after `header_timeout`, so idle half-open connections
//! cannot pile up (the OpenTelemetry Collector's `read_header_timeout`, Go's
//! `ReadHeaderTimeout`). `axum::serve` has no such setting.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` on `listener` until `stop` completes, then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // out of descriptors, or a connection reset before it was accepted: wait
                    // a moment rather than spin, as axum::serve does
                    tracing::debug!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(
            app.clone()
                .map_request(|req: http::Request<Incoming>| req.map(axum::body::Body::new)),
        );
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // a client that goes away, or is too slow with its headers, ends its connection
            let _ = conn.await;
        });
    }
    graceful.shutdown().await;
}
