//! Test support: a harness that runs the real `weft serve` binary on ephemeral loopback ports
//! (talked to over real sockets), and builders for OTLP requests with every field set.

pub mod arb;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `weft serve` process. Killed (SIGKILL) on drop.
pub struct Server {
    pub child: Child,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts `bin serve` on ephemeral ports with `data_dir` and extra flags; waits for the
    /// "weft listening" line (up to 60 s).
    pub fn start(bin: &Path, data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(bin, data_dir, extra, &[])
    }

    pub fn start_with_env(
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        Self::start_command(Command::new(bin), data_dir, extra, env)
    }

    /// Starts `weft serve` through `cmd`: the binary, or a wrapper such as `prlimit … weft`.
    pub fn start_command(
        mut cmd: Command,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        cmd.arg("serve")
            .args([
                "--otlp-grpc",
                "127.0.0.1:0",
                "--otlp-http",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start weft serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.starts_with("weft listening") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "weft serve did not print its listening line within 60 s (status: {:?})",
                    child.try_wait()
                );
            }
        };
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                .parse()
                .expect("socket address")
        };
        Server {
            otlp_grpc: field("otlp-grpc"),
            otlp_http: field("otlp-http"),
            http: field("http"),
            data_dir: data_dir.to_path_buf(),
            child,
        }
    }

    /// Runs `bin serve` on ephemeral ports with `data_dir`, extra flags and environment until
    /// it exits, for a start that must fail: its exit status and output.
    pub fn run_to_exit(
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Output {
        Command::new(bin)
            .arg("serve")
            .args(["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"])
            .args(["--http", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .output()
            .expect("run weft serve")
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn otlp_http_url(&self) -> String {
        format!("http://{}/v1/traces", self.otlp_http)
    }

    pub fn otlp_grpc_url(&self) -> String {
        format!("http://{}", self.otlp_grpc)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("weft serve did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn sv(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    })
}

pub fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v,
        ..Default::default()
    }
}

fn val(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

/// Every attribute type OTLP has.
pub fn all_types_attributes() -> Vec<KeyValue> {
    use any_value::Value as V;
    vec![
        kv("str", val(V::StringValue("hello wörld".into()))),
        kv("bool", val(V::BoolValue(true))),
        kv("int", val(V::IntValue(-9_007_199_254_740_993))),
        kv("double", val(V::DoubleValue(3.25))),
        kv("bytes", val(V::BytesValue(vec![0, 1, 2, 254, 255]))),
        kv(
            "array",
            val(V::ArrayValue(ArrayValue {
                values: vec![
                    sv("a").unwrap(),
                    val(V::IntValue(2)).unwrap(),
                    val(V::BoolValue(false)).unwrap(),
                ],
            })),
        ),
        kv(
            "kvlist",
            val(V::KvlistValue(KeyValueList {
                values: vec![kv("inner", sv("x")), kv("n", val(V::DoubleValue(-0.5)))],
            })),
        ),
    ]
}

pub fn random_trace_id() -> Vec<u8> {
    rand::random::<[u8; 16]>().to_vec()
}

pub fn random_span_id() -> Vec<u8> {
    rand::random::<[u8; 8]>().to_vec()
}

/// A three-span trace from `service` with typed attributes, an event, a link, an error.
pub fn sample_trace(service: &str, trace_id: &[u8]) -> ExportTraceServiceRequest {
    let root = random_span_id();
    let child = random_span_id();
    // now, minus up to ~4 s so that traces sent together have distinct starts
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64;
    let t0 = now - rand::random::<u32>() as u64;
    let mk = |id: &Vec<u8>, parent: &[u8], name: &str, start: u64, end: u64| Span {
        trace_id: trace_id.to_vec(),
        span_id: id.clone(),
        parent_span_id: parent.to_vec(),
        name: name.into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    };
    let mut s1 = mk(&root, &[], "GET /orders/{id}", t0, t0 + 50_000_000);
    s1.attributes = all_types_attributes();
    s1.attributes.push(kv("http.route", sv("/orders/{id}")));
    s1.trace_state = "vendor=abc".into();
    s1.flags = 0x301;
    let mut s2 = mk(
        &child,
        &root,
        "SELECT orders",
        t0 + 1_000_000,
        t0 + 21_000_000,
    );
    s2.kind = span::SpanKind::Client as i32;
    s2.events = vec![span::Event {
        time_unix_nano: t0 + 2_000_000,
        name: "exception".into(),
        attributes: vec![kv("exception.message", sv("deadlock"))],
        dropped_attributes_count: 1,
    }];
    s2.links = vec![span::Link {
        trace_id: random_trace_id(),
        span_id: random_span_id(),
        trace_state: "k=v".into(),
        attributes: vec![kv("link.kind", sv("retry-of"))],
        dropped_attributes_count: 2,
        flags: 1,
    }];
    s2.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "deadlock detected".into(),
    });
    s2.dropped_attributes_count = 3;
    s2.dropped_events_count = 4;
    s2.dropped_links_count = 5;
    let s3 = mk(
        &random_span_id(),
        &child,
        "lock wait",
        t0 + 2_000_000,
        t0 + 20_000_000,
    );
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", sv(service)),
                    kv("host.name", sv("box-1")),
                ],
                dropped_attributes_count: 1,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "weft-test".into(),
                    version: "1.0".into(),
                    attributes: vec![kv("scope.attr", sv("s"))],
                    dropped_attributes_count: 0,
                }),
                spans: vec![s1, s2, s3],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.25.0".into(),
        }],
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// The trace as the API returns it, decoded to the model (spans sorted for comparison).
pub async fn fetch_trace(
    client: &reqwest::Client,
    server: &Server,
    trace_id_hex: &str,
) -> Option<weft_model::Batch> {
    let r = client
        .get(server.api(&format!("/api/v1/traces/{trace_id_hex}")))
        .send()
        .await
        .expect("GET trace");
    if r.status().as_u16() == 404 {
        return None;
    }
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    assert_eq!(
        status,
        200,
        "GET trace {trace_id_hex}: {}",
        String::from_utf8_lossy(&body)
    );
    let req = weft_proto::json::decode_request(&body).expect("API returns valid OTLP/JSON");
    let (batch, rejected) = weft_proto::otlp::batch_from_request(req);
    assert_eq!(
        rejected.count, 0,
        "API returned invalid spans: {}",
        rejected.message
    );
    Some(batch)
}

/// Spans of a batch with their resource and scope, sorted by span id: an order-free view for
/// comparing what was sent with what came back.
pub fn normalized(b: &weft_model::Batch) -> Vec<weft_model::FlatSpan> {
    let mut v = b.clone().into_flat();
    v.sort_by_key(|s| s.span.span_id);
    v
}

/// Waits until `f` returns true, polling; panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lowercase hex of an id's bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// POSTs an export request as OTLP/HTTP protobuf and asserts 200.
pub async fn post_protobuf(
    client: &reqwest::Client,
    server: &Server,
    req: &ExportTraceServiceRequest,
) {
    use prost::Message;
    let r = client
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(r.status(), 200, "POST /v1/traces");
}

/// One value from the server's `/metrics`.
pub async fn metric(client: &reqwest::Client, server: &Server, name: &str) -> f64 {
    let m = client
        .get(server.api("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("body");
    m.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name} "))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no metric {name} in /metrics"))
}

/// `POST /api/v1/admin/<action>` (flush, compact); asserts 200 and returns the JSON answer.
pub async fn admin(client: &reqwest::Client, server: &Server, action: &str) -> serde_json::Value {
    let r = client
        .post(server.api(&format!("/api/v1/admin/{action}")))
        .send()
        .await
        .expect("POST admin");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "admin/{action}: {body}");
    serde_json::from_str(&body).expect("admin answers JSON")
}

/// `GET` an API path and decode the JSON answer (any status).
pub async fn get_json(client: &reqwest::Client, server: &Server, path: &str) -> serde_json::Value {
    client
        .get(server.api(path))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("the API answers JSON")
}

/// The repository's root directory.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The Python with the OpenTelemetry SDK: `$WEFT_PYTHON`, else `.venv/bin/python` (both set
/// up by `scripts/test.sh`).
pub fn python() -> std::path::PathBuf {
    std::env::var_os("WEFT_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// The npm project holding the Node OpenTelemetry SDK: `$WEFT_NODE_DIR`, else
/// `tests/interop/node` (installed by `scripts/test.sh`).
pub fn node_dir() -> std::path::PathBuf {
    std::env::var_os("WEFT_NODE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/interop/node"))
}
