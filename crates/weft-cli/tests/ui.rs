//! The web UI in a real browser: the real `weft serve` binary is loaded with known traces over
//! OTLP/HTTP protobuf (a checkout trace and a changed copy of it, a trace with every attribute
//! type, and a 100,000-span trace), then `tests/ui/ui.test.mjs` drives Debian's headless
//! chromium through playwright-core against it: search by fields and by TraceQL, the
//! waterfall's order, critical path, collapse and keys, the span panel, the LLM span, span
//! links, flamegraph, statistics, export, the service map, compare, and the time a 100k-span
//! trace takes to open. Screenshots of each view go to `target/ui-screenshots/`.
//!
//! scripts/test.sh installs chromium and playwright-core; without them this test fails and
//! says so.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use weft_testkit::{
    get_json, hex, kv, post_protobuf, random_trace_id, repo_root, sample_trace, sv, Server,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

fn ui_test_dir() -> PathBuf {
    std::env::var_os("WEFT_UI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/ui"))
}

fn chromium() -> PathBuf {
    let p = std::env::var_os("WEFT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.exists(),
        "chromium not found at {} (set WEFT_CHROMIUM): run scripts/test.sh, which installs Debian's chromium",
        p.display()
    );
    p
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn int(v: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    })
}

fn double(v: f64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::DoubleValue(v)),
    })
}

fn sid(n: u8) -> Vec<u8> {
    vec![0x10, 0, 0, 0, 0, 0, 0, n]
}

/// Spans grouped by service into one export request.
fn request(groups: BTreeMap<&str, Vec<Span>>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(svc, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", sv(svc)), kv("host.name", sv("ui-test"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "ui-fixture".into(),
                        version: "1.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

struct Checkout {
    req: ExportTraceServiceRequest,
}

/// The checkout trace. Variant A (times in ms from t0):
///
/// ```text
/// frontend    GET /checkout   0–100
///  checkout    POST /checkout  5–95
///   inventory   SELECT stock   10–28    critical (runs before charge)
///   checkout    audit log      12–18    not critical (inside SELECT's window)
///   payment     charge         30–90    error, event, link to B's charge
///    llm-worker  chat gpt-4o   35–85    gen_ai attributes with prompt and response
/// ```
///
/// Variant B is slower (charge 30–140), has no audit log and a new `fraud check` under charge.
fn checkout(tid: &[u8], other: &[u8], t0: u64, b: bool) -> Checkout {
    let ms = |x: u64| t0 + x * 1_000_000;
    let mk = |id: u8, parent: Option<u8>, name: &str, kind: span::SpanKind, a: u64, z: u64| Span {
        trace_id: tid.to_vec(),
        span_id: sid(id),
        parent_span_id: parent.map(sid).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: ms(a),
        end_time_unix_nano: ms(z),
        ..Default::default()
    };
    use span::SpanKind::{Client, Internal, Server as Srv};
    let mut root = mk(1, None, "GET /checkout", Srv, 0, if b { 150 } else { 100 });
    root.attributes = vec![
        kv("http.route", sv("/checkout")),
        kv("http.response.status_code", int(200)),
    ];
    let post = mk(
        2,
        Some(1),
        "POST /checkout",
        Srv,
        5,
        if b { 145 } else { 95 },
    );
    let mut select = mk(4, Some(2), "SELECT stock", Client, 10, 28);
    select.attributes = vec![kv("db.system", sv("postgresql"))];
    let mut charge = mk(5, Some(2), "charge", Srv, 30, if b { 140 } else { 90 });
    charge.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "card declined".into(),
    });
    charge.events = vec![span::Event {
        time_unix_nano: ms(60),
        name: "exception".into(),
        attributes: vec![kv("exception.message", sv("card declined"))],
        dropped_attributes_count: 0,
    }];
    charge.links = vec![span::Link {
        trace_id: other.to_vec(),
        span_id: sid(5),
        attributes: vec![kv("link.kind", sv("retry-of"))],
        ..Default::default()
    }];
    let (c0, c1) = if b { (55, 135) } else { (35, 85) };
    let mut chat = mk(6, Some(5), "chat gpt-4o", Client, c0, c1);
    let messages_in = json!([
        {"role": "system", "parts": [{"type": "text", "content": "You are a payment risk assistant."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Is order 42 risky?"}]}
    ]);
    let messages_out = json!([
        {"role": "assistant", "parts": [{"type": "text", "content": "No: the card and address match."}], "finish_reason": "stop"}
    ]);
    // the attribute names weft's own GenAI helpers write (crates/weft/src/genai.rs)
    chat.attributes = vec![
        kv("gen_ai.operation.name", sv("chat")),
        kv("gen_ai.provider.name", sv("openai")),
        kv("gen_ai.request.model", sv("gpt-4o")),
        kv("gen_ai.response.model", sv("gpt-4o-2024-08-06")),
        kv("gen_ai.usage.input_tokens", int(1200)),
        kv("gen_ai.usage.output_tokens", int(350)),
        kv("weft.gen_ai.cost_usd", double(0.0065)),
        kv("gen_ai.input.messages", sv(&messages_in.to_string())),
        kv("gen_ai.output.messages", sv(&messages_out.to_string())),
    ];
    let mut groups: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    groups.entry("frontend").or_default().push(root);
    groups.entry("checkout").or_default().push(post);
    groups.entry("inventory").or_default().push(select);
    groups.entry("payment").or_default().push(charge);
    groups.entry("llm-worker").or_default().push(chat);
    if b {
        groups
            .entry("payment")
            .or_default()
            .push(mk(7, Some(5), "fraud check", Internal, 32, 50));
    } else {
        groups
            .entry("checkout")
            .or_default()
            .push(mk(3, Some(2), "audit log", Internal, 12, 18));
    }
    Checkout {
        req: request(groups),
    }
}

const BIG_SPANS: usize = 100_000;
const BIG_CHUNK: usize = 10_000;

/// A 100,000-span trace: a tree of fan-out 10 and depth 5 cut at 100,000 spans, generated in
/// preorder with start times in creation order, so the waterfall's row k is span `op-k` and the
/// last row is `op-99999`. Posted in chunks of 10,000 spans.
fn big_trace(tid: &[u8], t0: u64) -> Vec<ExportTraceServiceRequest> {
    struct S {
        parent: Option<usize>,
        depth: usize,
        start: u64,
        end: u64,
    }
    let mut spans: Vec<S> = Vec::with_capacity(BIG_SPANS);
    fn gen(spans: &mut Vec<S>, parent: Option<usize>, depth: usize) -> usize {
        let idx = spans.len();
        spans.push(S {
            parent,
            depth,
            start: idx as u64 * 1_000,
            end: 0,
        });
        let mut end = idx as u64 * 1_000 + 5_000;
        if depth < 5 {
            for _ in 0..10 {
                if spans.len() >= BIG_SPANS {
                    break;
                }
                let c = gen(spans, Some(idx), depth + 1);
                end = end.max(spans[c].end);
            }
        }
        spans[idx].end = end + 1_000;
        idx
    }
    gen(&mut spans, None, 0);
    assert_eq!(spans.len(), BIG_SPANS);
    let id = |i: usize| (i as u64 + 1).to_be_bytes().to_vec();
    spans
        .chunks(BIG_CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let mut groups: BTreeMap<String, Vec<Span>> = BTreeMap::new();
            for (k, s) in chunk.iter().enumerate() {
                let i = c * BIG_CHUNK + k;
                groups
                    .entry(format!("svc-{}", s.depth))
                    .or_default()
                    .push(Span {
                        trace_id: tid.to_vec(),
                        span_id: id(i),
                        parent_span_id: s.parent.map(id).unwrap_or_default(),
                        name: format!("op-{i}"),
                        kind: span::SpanKind::Internal as i32,
                        start_time_unix_nano: t0 + s.start,
                        end_time_unix_nano: t0 + s.end,
                        attributes: vec![kv("i", int(i as i64))],
                        ..Default::default()
                    });
            }
            request(
                groups
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// Routing of the UI next to the API: pages get index.html, assets their type and an ETag,
/// unknown API paths keep the JSON 404.
async fn check_routes(client: &reqwest::Client, server: &Server) {
    for page in ["/", "/search?service=x", "/trace/0123", "/compare", "/map"] {
        let r = client.get(server.api(page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{page}"
        );
        assert!(r.text().await.unwrap().contains("/ui/app.js"), "{page}");
    }
    let r = client.get(server.api("/ui/app.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = r.headers()["etag"].clone();
    let r = client
        .get(server.api("/ui/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    for path in ["/api/v1/nope", "/api/nothing/here"] {
        let r = client.get(server.api(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.expect("JSON 404");
        assert!(
            body["error"].as_str().unwrap().contains("no such endpoint"),
            "{body}"
        );
    }
    let r = client.get(server.api("/ui/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_headless_chromium() {
    let chromium = chromium();
    let ui_dir = ui_test_dir();
    assert!(
        ui_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed in {}: run scripts/test.sh (it runs npm ci there)",
        ui_dir.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    check_routes(&client, &server).await;

    let now = now_nanos();
    let (a, b) = (random_trace_id(), random_trace_id());
    post_protobuf(
        &client,
        &server,
        &checkout(&a, &b, now - 120_000_000_000, false).req,
    )
    .await;
    post_protobuf(
        &client,
        &server,
        &checkout(&b, &a, now - 60_000_000_000, true).req,
    )
    .await;
    let typed = random_trace_id();
    let typed_req = sample_trace("typed-svc", &typed);
    post_protobuf(&client, &server, &typed_req).await;
    let typed_spans = &typed_req.resource_spans[0].scope_spans[0].spans;
    let big = random_trace_id();
    let t = Instant::now();
    for chunk in big_trace(&big, now - 30_000_000_000) {
        post_protobuf(&client, &server, &chunk).await;
    }
    eprintln!("posted the {BIG_SPANS}-span trace in {:?}", t.elapsed());
    let found = get_json(&client, &server, "/api/v1/search?service=svc-0").await;
    assert_eq!(found["traces"][0]["spanCount"], BIG_SPANS, "{found}");

    let shots = repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let fixture = json!({
        "url": format!("http://{}", server.http),
        "optimizedServer": !cfg!(debug_assertions),
        "checkoutA": hex(&a),
        "checkoutB": hex(&b),
        "typed": hex(&typed),
        "typedRoot": hex(&typed_spans[0].span_id),
        "typedChild": hex(&typed_spans[1].span_id),
        "typedLink": {
            "traceId": hex(&typed_spans[1].links[0].trace_id),
            "spanId": hex(&typed_spans[1].links[0].span_id),
        },
        "chatSpan": hex(&sid(6)),
        "chargeSpan": hex(&sid(5)),
        "waterfallA": [
            ["frontend", "GET /checkout", 0], ["checkout", "POST /checkout", 1],
            ["inventory", "SELECT stock", 2], ["checkout", "audit log", 2],
            ["payment", "charge", 2], ["llm-worker", "chat gpt-4o", 3]
        ],
        "criticalA": ["GET /checkout", "POST /checkout", "SELECT stock", "charge", "chat gpt-4o"],
        "edges": [["frontend", "checkout"], ["checkout", "inventory"], ["checkout", "payment"], ["payment", "llm-worker"]],
        "added": "payment:fraud check",
        "missing": "checkout:audit log",
        "big": hex(&big),
        "bigSpans": BIG_SPANS,
        "bigLast": format!("op-{}", BIG_SPANS - 1),
        "budgetMs": 2000,
        "screenshots": shots,
    });
    let fixture_path = dir.path().join("ui-fixture.json");
    std::fs::write(&fixture_path, serde_json::to_vec_pretty(&fixture).unwrap()).unwrap();

    let mut cmd = Command::new("node");
    cmd.current_dir(&ui_dir)
        .args([
            "--test",
            "--test-reporter=spec",
            "--test-concurrency=1",
            "model.test.mjs",
            "ui.test.mjs",
        ])
        .env("WEFT_UI_FIXTURE", &fixture_path)
        .env("WEFT_CHROMIUM", &chromium);
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run scripts/test.sh"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    eprintln!(
        "browser tests took {:?}; screenshots in {}",
        t.elapsed(),
        shots.display()
    );
    assert!(
        out.status.success(),
        "browser tests failed (see the output above; screenshots in {})",
        shots.display()
    );
    assert!(
        stdout.contains("100k-span trace: first rows"),
        "the 100k-span timing was not reported"
    );
}
