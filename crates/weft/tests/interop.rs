//! Propagation interop with the Python OpenTelemetry SDK, both directions. Needs the venv
//! python (`WEFT_PYTHON`, else `<repo>/.venv/bin/python`) with tests/interop/requirements.txt
//! installed (scripts/test.sh does it). Fails, never skips, when it is missing.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use axum::routing::get;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

fn python() -> PathBuf {
    let p = match std::env::var_os("WEFT_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
    };
    assert!(
        p.is_file(),
        "python with the OpenTelemetry SDK is missing at {}: run `python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt` or set WEFT_PYTHON",
        p.display()
    );
    p
}

fn peer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.py")
}

#[tokio::test(flavor = "current_thread")]
async fn python_client_calls_a_weft_service() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(guard.layer()));
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hi" }))
        .layer(weft::http_server::WeftLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    tokio::spawn(async move { server.await });

    let py = python();
    let out = tokio::process::Command::new(py)
        .arg(peer())
        .args(["client", &format!("http://{addr}/hello")])
        .env("OTEL_TRACES_EXPORTER", "none")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    drop(_sub);
    drop(guard);
    let spans = mem.spans();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /hello")
        .expect("server span");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        py["trace_id"].as_str().unwrap()
    );
    assert_eq!(
        server.parent_span_id.to_string(),
        py["span_id"].as_str().unwrap()
    );
    assert!(server.parent_span_is_remote);
}

#[tokio::test(flavor = "current_thread")]
async fn weft_client_calls_a_python_service() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(guard.layer()));

    let mut child = Command::new(python())
        .arg(peer())
        .arg("server")
        .env("OTEL_TRACES_EXPORTER", "none")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().trim_start_matches("listening ").to_string();
    assert!(!port.is_empty(), "python server printed nothing");

    let client = weft::http_client::client(reqwest::Client::new());
    let body = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .instrument(tracing::info_span!("rust-caller"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    child.wait().unwrap();
    let py: serde_json::Value = serde_json::from_str(&body).unwrap();
    drop(_sub);
    drop(guard);
    let spans = mem.spans();
    let caller = spans.iter().find(|s| s.name == "rust-caller").unwrap();
    let client_span = spans
        .iter()
        .find(|s| s.parent_span_id == caller.span_context.span_id())
        .expect("client span");
    assert_eq!(
        py["trace_id"].as_str().unwrap(),
        caller.span_context.trace_id().to_string()
    );
    assert_eq!(
        py["parent_span_id"].as_str().unwrap(),
        client_span.span_context.span_id().to_string()
    );
    assert_eq!(py["remote"], true);
    assert_eq!(py["sampled"], true);
}
