//! End to end: the three demo services send to a real `weft serve`; one request gives one
//! connected trace. Needs the `weft` binary: `WEFT_BIN`, else `<repo>/target/debug/weft`
//! (`cargo build -p weft-cli`). Fails, never skips, when it is missing.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM lets the services flush through their guard; then make sure it is gone
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a process and returns it with the first stdout line that starts with `prefix`.
fn start(name: &'static str, mut cmd: Command, prefix: &str) -> (Proc, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent && line.starts_with(&prefix) {
                let _ = tx.send(line);
                sent = true;
            }
        }
    });
    let proc = Proc { name, child };
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{name} did not print its ready line within 30 s"));
    (proc, line)
}

fn weft_bin() -> PathBuf {
    let path = match std::env::var_os("WEFT_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/weft"),
    };
    assert!(
        path.is_file(),
        "the weft server binary is missing at {}: build it with `cargo build -p weft-cli` or set WEFT_BIN",
        path.display()
    );
    path
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn attr_str(span: &Value, key: &str) -> Option<String> {
    attr(span, key).and_then(|v| v["stringValue"].as_str().map(str::to_string))
}

fn demo(role: &str, extra: &[(&str, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weft-demo"));
    c.arg(role)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("RUST_LOG", "warn");
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

#[test]
fn one_request_gives_one_connected_trace_across_three_services() {
    let bin = weft_bin();
    let data = tempfile_dir();
    let mut serve = Command::new(&bin);
    serve.args([
        "serve",
        "--otlp-grpc",
        "127.0.0.1:0",
        "--otlp-http",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let (_server, line) = start("weft serve", serve, "weft listening");
    let addrs: HashMap<&str, &str> = line
        .trim_start_matches("weft listening")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let (grpc, otlp_http, api) = (addrs["otlp-grpc"], addrs["otlp-http"], addrs["http"]);

    // three exporters on three protocols
    let (_llm, l) = start(
        "llm",
        demo(
            "llm",
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{grpc}")),
            ],
        ),
        "listening",
    );
    let llm_addr = l.trim_start_matches("listening ").to_string();
    let (_orders, l) = start(
        "orders",
        demo(
            "orders",
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".into()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp_http}")),
                ("LLM_URL", format!("http://{llm_addr}")),
            ],
        ),
        "listening",
    );
    let orders_addr = l.trim_start_matches("listening ").to_string();
    let (_gateway, l) = start(
        "gateway",
        demo(
            "gateway",
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp_http}")),
                ("ORDERS_URL", format!("http://{orders_addr}")),
            ],
        ),
        "listening",
    );
    let gateway_addr = l.trim_start_matches("listening ").to_string();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let (status, traceparent, body) = rt.block_on(async {
        let r = client
            .get(format!("http://{gateway_addr}/checkout/alice"))
            .header("x-request-id", "e2e-req-1")
            .send()
            .await
            .expect("gateway request");
        let tp = r
            .headers()
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status(), tp, r.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Summary: alice ordered tea"), "{body}");
    let traceparent = traceparent.expect("the gateway echoes traceparent");
    let trace_id = traceparent.split('-').nth(1).unwrap().to_string();

    // poll until every service's spans arrived (bounded)
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans: Vec<(String, Value)> = loop {
        let got = rt.block_on(async {
            let r = client
                .get(format!("http://{api}/api/v1/traces/{trace_id}"))
                .send()
                .await
                .expect("query api");
            if r.status() == 404 {
                return Vec::new();
            }
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let mut out = Vec::new();
            for rs in v["resourceSpans"].as_array().cloned().unwrap_or_default() {
                let svc = attr_str(&rs["resource"], "service.name").unwrap_or_default();
                for ss in rs["scopeSpans"].as_array().cloned().unwrap_or_default() {
                    for s in ss["spans"].as_array().cloned().unwrap_or_default() {
                        out.push((svc.clone(), s));
                    }
                }
            }
            out
        });
        let has_model = got
            .iter()
            .any(|(_, s)| attr(s, "gen_ai.usage.input_tokens").is_some());
        let services: HashSet<&str> = got.iter().map(|(svc, _)| svc.as_str()).collect();
        // gateway: server + client; orders: server + 2 db + client; llm: server + agent + model
        if has_model && services.len() == 3 && got.len() >= 9 {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} incomplete after 20 s: {:?}",
            got.iter()
                .map(|(svc, s)| format!("{svc}:{}", s["name"]))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let names: Vec<String> = spans
        .iter()
        .map(|(svc, s)| format!("{svc}:{}", s["name"].as_str().unwrap()))
        .collect();
    let services: HashSet<&str> = spans.iter().map(|(svc, _)| svc.as_str()).collect();
    assert_eq!(
        services,
        HashSet::from(["demo-gateway", "demo-orders", "demo-llm"]),
        "{names:?}"
    );
    // one trace, every parent present, exactly one root
    let ids: HashSet<String> = spans
        .iter()
        .map(|(_, s)| s["spanId"].as_str().unwrap().to_string())
        .collect();
    let mut roots = 0;
    for (_, s) in &spans {
        assert_eq!(s["traceId"].as_str().unwrap(), trace_id);
        match s["parentSpanId"].as_str().filter(|p| !p.is_empty()) {
            Some(p) => assert!(
                ids.contains(p),
                "parent {p} of {} missing: {names:?}",
                s["name"]
            ),
            None => roots += 1,
        }
    }
    assert_eq!(roots, 1, "{names:?}");

    let find = |svc: &str, name: &str| {
        spans
            .iter()
            .find(|(s, sp)| s == svc && sp["name"] == name)
            .map(|(_, sp)| sp)
            .unwrap_or_else(|| panic!("no {svc}:{name} in {names:?}"))
    };
    let gw = find("demo-gateway", "GET /checkout/{user}");
    assert_eq!(
        attr_str(gw, "http.route").as_deref(),
        Some("/checkout/{user}")
    );
    assert_eq!(
        attr_str(gw, "http.request.header.x-request-id").as_deref(),
        Some("e2e-req-1")
    );
    let orders = find("demo-orders", "POST /orders");
    assert_eq!(attr_str(orders, "http.route").as_deref(), Some("/orders"));
    find("demo-llm", "POST /summarize");
    let db = find("demo-orders", "INSERT orders");
    assert_eq!(attr_str(db, "db.system.name").as_deref(), Some("sqlite"));
    assert_eq!(attr_str(db, "db.operation.name").as_deref(), Some("INSERT"));
    assert_eq!(
        attr_str(db, "db.query.text").as_deref(),
        Some("INSERT INTO orders (user, item) VALUES (?, ?)")
    );
    let model = find("demo-llm", "chat fake-model-1");
    assert_eq!(
        attr_str(model, "gen_ai.provider.name").as_deref(),
        Some("fake")
    );
    assert_eq!(
        attr_str(model, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert!(attr(model, "gen_ai.usage.output_tokens").is_some());
    assert!(attr(model, "weft.gen_ai.cost_usd").is_some());
    // prompt capture is off by default
    assert!(attr(model, "gen_ai.input.messages").is_none());
    // services first (they flush through their guard on SIGTERM), then the server
    drop((_gateway, _orders, _llm));
    drop(_server);
    let _ = std::fs::remove_dir_all(&data);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("weft-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
