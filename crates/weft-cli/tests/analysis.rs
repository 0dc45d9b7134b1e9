//! Trace analysis through the real `weft serve` binary: `/api/v1/traces/{id}/analysis`,
//! `/api/v1/dependencies` (JSON, Mermaid, DOT), Jaeger's `/api/dependencies`,
//! `/api/v1/compare`, their errors, and the `weft analyze`/`deps`/`compare` commands.
//!
//! The traces are built by hand with known answers (see the comments at each trace).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use weft_testkit::{get_json, hex, kv, post_protobuf, random_trace_id, sv, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

const MS: u64 = 1_000_000;

/// One span of a hand-built trace; times in ms from the trace's base time.
struct S {
    id: u8,
    parent: Option<u8>,
    service: &'static str,
    name: &'static str,
    start: u64,
    end: u64,
    kind: span::SpanKind,
    /// status error with this message
    error: Option<&'static str>,
    /// an `exception` event with this `exception.message`
    exception: Option<&'static str>,
}

fn s(
    id: u8,
    parent: Option<u8>,
    service: &'static str,
    name: &'static str,
    start: u64,
    end: u64,
) -> S {
    S {
        id,
        parent,
        service,
        name,
        start,
        end,
        kind: span::SpanKind::Internal,
        error: None,
        exception: None,
    }
}

fn span_id(id: u8) -> Vec<u8> {
    vec![0x5e, 0, 0, 0, 0, 0, 0, id]
}

fn sid(id: u8) -> String {
    hex(&span_id(id))
}

fn request(trace_id: &[u8], base: u64, spans: Vec<S>) -> ExportTraceServiceRequest {
    let mut groups: Vec<(&str, Vec<Span>)> = Vec::new();
    for x in spans {
        let mut sp = Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id(x.id),
            parent_span_id: x.parent.map(span_id).unwrap_or_default(),
            name: x.name.into(),
            kind: x.kind as i32,
            start_time_unix_nano: base + x.start * MS,
            end_time_unix_nano: base + x.end * MS,
            ..Default::default()
        };
        if let Some(m) = x.error {
            sp.status = Some(Status {
                code: status::StatusCode::Error as i32,
                message: m.into(),
            });
        }
        if let Some(m) = x.exception {
            sp.events.push(span::Event {
                time_unix_nano: sp.start_time_unix_nano,
                name: "exception".into(),
                attributes: vec![kv("exception.message", sv(m))],
                dropped_attributes_count: 0,
            });
        }
        match groups.iter_mut().find(|(g, _)| *g == x.service) {
            Some((_, v)) => v.push(sp),
            None => groups.push((x.service, vec![sp])),
        }
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", sv(service))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "analysis-test".into(),
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

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Trace A: a checkout. Critical path root 14 ms, call pay 2, charge 4, call orders 4,
/// POST /orders 26, SELECT 50 (sum 100). Bottlenecks: SELECT (50 of 76 ms), charge (4 of 6).
fn trace_a() -> Vec<S> {
    let mut charge = s(6, Some(5), "pay", "charge", 3, 7);
    charge.error = Some("");
    charge.exception = Some("card declined");
    let mut select = s(4, Some(3), "orders", "SELECT", 20, 70);
    select.error = Some("deadlock");
    vec![
        s(1, None, "gw", "GET /checkout", 0, 100),
        s(2, Some(1), "gw", "call orders", 10, 90),
        s(3, Some(2), "orders", "POST /orders", 12, 88),
        select,
        s(5, Some(1), "gw", "call pay", 2, 8),
        charge,
    ]
}

/// Trace B: the same request, slower, without the payment and with a second SELECT.
fn trace_b() -> Vec<S> {
    vec![
        s(1, None, "gw", "GET /checkout", 0, 150),
        s(2, Some(1), "gw", "call orders", 10, 140),
        s(3, Some(2), "orders", "POST /orders", 12, 138),
        s(4, Some(3), "orders", "SELECT", 20, 70),
        s(7, Some(3), "orders", "SELECT", 70, 130),
    ]
}

/// Trace C: the orders clock is 15 ms slow; POST /orders seems to start before its caller.
fn trace_c() -> Vec<S> {
    vec![
        s(1, None, "gw", "GET /x", 0, 100),
        s(2, Some(1), "gw", "call", 10, 90),
        s(3, Some(2), "orders", "handle", 5, 65),
        s(4, Some(3), "orders", "db", 10, 50),
    ]
}

/// Trace D: a batch job calling a worker, and a worker span whose parent never arrived.
fn trace_d() -> Vec<S> {
    vec![
        s(1, None, "batch", "job", 0, 50),
        s(2, Some(1), "worker", "step", 10, 40),
        s(9, Some(200), "worker", "late step", 60, 70),
    ]
}

struct Setup {
    server: Server,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    a: String,
    b: String,
    c: String,
    d: String,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let base = now() - 60_000 * MS;
    let mut ids = Vec::new();
    for (k, spans) in [trace_a(), trace_b(), trace_c(), trace_d()]
        .into_iter()
        .enumerate()
    {
        let tid = random_trace_id();
        // traces a second apart, oldest first
        post_protobuf(
            &client,
            &server,
            &request(&tid, base + k as u64 * 1_000 * MS, spans),
        )
        .await;
        ids.push(hex(&tid));
    }
    Setup {
        server,
        client,
        _dir: dir,
        a: ids[0].clone(),
        b: ids[1].clone(),
        c: ids[2].clone(),
        d: ids[3].clone(),
    }
}

/// Compares only the fields `want` names (arrays element by element, same length).
fn check(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, v) in w {
                let g = g
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in {got}"));
                check(g, v, &format!("{at}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "length of {at}: {got}");
            for (k, (g, w)) in g.iter().zip(w).enumerate() {
                check(g, w, &format!("{at}[{k}]"));
            }
        }
        _ => assert_eq!(got, want, "at {at}"),
    }
}

fn ms(n: u64) -> String {
    (n * MS).to_string()
}

async fn get(t: &Setup, path: &str) -> (u16, String, String) {
    let r = t.client.get(t.server.api(path)).send().await.expect("GET");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, r.text().await.expect("body"))
}

fn cli(t: &Setup, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--server", &format!("http://{}", t.server.http)])
        .output()
        .expect("run weft");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn trace_analysis_over_the_api_and_the_cli() {
    let t = setup().await;
    let got = get_json(
        &t.client,
        &t.server,
        &format!("/api/v1/traces/{}/analysis?slowest=3", t.a),
    )
    .await;
    check(
        &got,
        &json!({
            "traceId": t.a,
            "durationNanos": ms(100),
            "spanCount": 6,
            "errorCount": 2,
            "criticalPathNanos": ms(100),
            "spans": {
                sid(1): {"selfTimeNanos": ms(14), "depth": 0, "onCriticalPath": true},
                sid(3): {"selfTimeNanos": ms(26), "depth": 2, "onCriticalPath": true},
                sid(4): {"selfTimeNanos": ms(50), "depth": 3, "onCriticalPath": true},
                sid(6): {"selfTimeNanos": ms(4), "depth": 2, "onCriticalPath": true},
            },
            "criticalPath": [
                {"spanId": sid(1), "service": "gw", "name": "GET /checkout", "durationNanos": ms(100), "contributionNanos": ms(14)},
                {"spanId": sid(5), "service": "gw", "name": "call pay", "durationNanos": ms(6), "contributionNanos": ms(2)},
                {"spanId": sid(6), "service": "pay", "name": "charge", "durationNanos": ms(4), "contributionNanos": ms(4)},
                {"spanId": sid(2), "service": "gw", "name": "call orders", "durationNanos": ms(80), "contributionNanos": ms(4)},
                {"spanId": sid(3), "service": "orders", "name": "POST /orders", "durationNanos": ms(76), "contributionNanos": ms(26)},
                {"spanId": sid(4), "service": "orders", "name": "SELECT", "durationNanos": ms(50), "contributionNanos": ms(50)},
            ],
            "bottlenecks": [
                {"spanId": sid(4), "service": "orders", "name": "SELECT", "selfTimeNanos": ms(50), "shareOfParent": 50.0 / 76.0},
                {"spanId": sid(6), "service": "pay", "name": "charge", "selfTimeNanos": ms(4), "shareOfParent": 4.0 / 6.0},
            ],
            "slowest": [
                {"spanId": sid(1), "service": "gw", "name": "GET /checkout", "durationNanos": ms(100)},
                {"spanId": sid(2), "service": "gw", "name": "call orders", "durationNanos": ms(80)},
                {"spanId": sid(3), "service": "orders", "name": "POST /orders", "durationNanos": ms(76)},
            ],
            "errors": [
                {"spanId": sid(6), "service": "pay", "name": "charge", "message": "card declined"},
                {"spanId": sid(4), "service": "orders", "name": "SELECT", "message": "deadlock"},
            ],
            "services": [
                {"service": "orders", "spanCount": 2, "totalNanos": ms(126), "selfNanos": ms(76), "errorCount": 1},
                {"service": "gw", "spanCount": 3, "totalNanos": ms(186), "selfNanos": ms(20), "errorCount": 0},
                {"service": "pay", "spanCount": 1, "totalNanos": ms(4), "selfNanos": ms(4), "errorCount": 1},
            ],
            "graph": {
                "nodes": [
                    {"service": "gw", "spanCount": 3, "errorCount": 0},
                    {"service": "orders", "spanCount": 2, "errorCount": 1},
                    {"service": "pay", "spanCount": 1, "errorCount": 1},
                ],
                "edges": [
                    {"parent": "gw", "child": "orders", "calls": 1, "errors": 0, "p50Nanos": ms(76), "p99Nanos": ms(76)},
                    {"parent": "gw", "child": "pay", "calls": 1, "errors": 1, "p50Nanos": ms(4), "p99Nanos": ms(4)},
                ],
            },
            "orphans": [],
            "clockSkew": {"applied": false, "adjustments": [], "skipped": []},
        }),
        "$",
    );
    assert_eq!(got["spans"].as_object().unwrap().len(), 6);
    assert_eq!(got["operations"].as_array().unwrap().len(), 6);

    // the CLI prints the same analysis for a terminal
    let (ok, out, err) = cli(&t, &["analyze", &t.a]);
    assert!(ok, "weft analyze failed: {err}");
    for want in [
        &format!("trace {}", t.a),
        "100ms end to end, 6 spans in 3 services, 2 errors",
        "Critical path (100ms",
        "  gw: GET /checkout",
        "      orders: POST /orders",
        "        orders: SELECT",
        "  50.0%      50ms  (span 50ms)",
        "orders: SELECT",
        "pay: charge: card declined",
        "orders: SELECT: deadlock",
        &format!(
            "  {:<30} {:>6} {:>10} {:>10} {:>6}",
            "orders", 2, "126ms", "76ms", 1
        ),
        &format!(
            "  {:<30} {:>6} {:>10} {:>10} {:>6}",
            "pay", 1, "4ms", "4ms", 1
        ),
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let (ok, out, err) = cli(&t, &["analyze", &t.a, "--json", "--slowest", "3"]);
    assert!(ok, "{err}");
    let printed: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(printed, got);
    // an unknown trace fails with the server's message
    let unknown = hex(&random_trace_id());
    let (ok, _, err) = cli(&t, &["analyze", &unknown]);
    assert!(!ok);
    assert!(err.contains("404") && err.contains("not found"), "{err}");
}

#[tokio::test]
async fn clock_skew_is_reported_and_adjusted_on_request() {
    let t = setup().await;
    let path = |q: &str| format!("/api/v1/traces/{}/analysis{q}", t.c);
    let plain = get_json(&t.client, &t.server, &path("")).await;
    check(
        &plain,
        &json!({
            "clockSkew": {"applied": false, "requested": false, "adjustments": [],
                          "skipped": [{"spanId": sid(3), "shiftNanos": ms(15), "reason": "not requested"}]},
            "criticalPath": [{"spanId": sid(1)}, {"spanId": sid(2)}, {"spanId": sid(3), "startTimeUnixNano": (t_start(&plain) + 5 * MS).to_string()}, {"spanId": sid(4)}],
        }),
        "$",
    );
    let adjusted = get_json(&t.client, &t.server, &path("?skew=adjust")).await;
    let t0 = t_start(&adjusted);
    check(
        &adjusted,
        &json!({
            "clockSkew": {"applied": true, "requested": true, "skipped": [],
                          "adjustments": [{"spanId": sid(3), "shiftNanos": ms(15)},
                                          {"spanId": sid(4), "shiftNanos": ms(15)}]},
            // handle now sits inside its caller: 20..80 in call's 10..90
            "criticalPath": [
                {"spanId": sid(1), "contributionNanos": ms(20)},
                {"spanId": sid(2), "contributionNanos": ms(20)},
                {"spanId": sid(3), "startTimeUnixNano": (t0 + 20 * MS).to_string(), "contributionNanos": ms(20)},
                {"spanId": sid(4), "startTimeUnixNano": (t0 + 25 * MS).to_string(), "contributionNanos": ms(40)},
            ],
        }),
        "$",
    );
    // beyond the bound: reported, not applied
    let bounded = get_json(&t.client, &t.server, &path("?skew=adjust&maxSkew=10ms")).await;
    check(
        &bounded,
        &json!({"clockSkew": {"applied": false, "requested": true, "adjustments": [],
                "maxShiftNanos": ms(10),
                "skipped": [{"spanId": sid(3), "shiftNanos": ms(15), "reason": "exceeds the bound"}]}}),
        "$",
    );
    let (ok, out, err) = cli(&t, &["analyze", &t.c, "--skew", "adjust"]);
    assert!(ok, "{err}");
    assert!(out.contains("Clock skew: 2 spans shifted"), "{out}");
    let (ok, out, _) = cli(&t, &["analyze", &t.c]);
    assert!(ok);
    assert!(
        out.contains("(rerun with --skew adjust)")
            && out.contains(&format!("span {} +15ms", sid(3))),
        "{out}"
    );

    // orphans are listed and stay off the path
    let d = get_json(
        &t.client,
        &t.server,
        &format!("/api/v1/traces/{}/analysis", t.d),
    )
    .await;
    check(
        &d,
        &json!({"orphans": [sid(9)], "spans": {sid(9): {"onCriticalPath": false, "depth": 0}},
                "criticalPath": [{"spanId": sid(1)}, {"spanId": sid(2)}]}),
        "$",
    );
}

fn t_start(analysis: &Value) -> u64 {
    analysis["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

const MERMAID: &str = "graph LR
  s0[\"batch\"]
  s1[\"gw\"]
  s2[\"orders\"]
  s3[\"pay\"]
  s4[\"worker\"]
  s0 -->|\"1 call, p50 30ms p99 30ms\"| s4
  s1 -->|\"3 calls, p50 76ms p99 126ms\"| s2
  s1 -->|\"1 call, 1 error, p50 4ms p99 4ms\"| s3
  linkStyle 2 stroke:#d62728
";

const DOT: &str = r#"digraph services {
  rankdir=LR;
  node [shape=box];
  "batch" [label="batch\n1 span"];
  "gw" [label="gw\n7 spans"];
  "orders" [label="orders\n7 spans, 1 error"];
  "pay" [label="pay\n1 span, 1 error"];
  "worker" [label="worker\n2 spans"];
  "batch" -> "worker" [label="1 call\np50 30ms p99 30ms"];
  "gw" -> "orders" [label="3 calls\np50 76ms p99 126ms"];
  "gw" -> "pay" [label="1 call, 1 error\np50 4ms p99 4ms", color="red"];
}
"#;

#[tokio::test]
async fn dependency_graphs_native_and_jaeger() {
    let t = setup().await;
    let deps = get_json(&t.client, &t.server, "/api/v1/dependencies").await;
    check(
        &deps,
        &json!({
            "nodes": [
                {"service": "batch", "spanCount": 1, "errorCount": 0},
                {"service": "gw", "spanCount": 7, "errorCount": 0},
                {"service": "orders", "spanCount": 7, "errorCount": 1},
                {"service": "pay", "spanCount": 1, "errorCount": 1},
                {"service": "worker", "spanCount": 2, "errorCount": 0},
            ],
            // gw -> orders: POST /orders lasted 76 ms (A), 126 ms (B), handle 60 ms (C)
            "edges": [
                {"parent": "batch", "child": "worker", "calls": 1, "errors": 0, "p50Nanos": ms(30), "p99Nanos": ms(30)},
                {"parent": "gw", "child": "orders", "calls": 3, "errors": 0, "p50Nanos": ms(76), "p99Nanos": ms(126)},
                {"parent": "gw", "child": "pay", "calls": 1, "errors": 1, "p50Nanos": ms(4), "p99Nanos": ms(4)},
            ],
            "tracesAnalyzed": 4,
            "truncated": false,
        }),
        "$",
    );
    // newest first, bounded: the two newest traces are C and D
    let few = get_json(&t.client, &t.server, "/api/v1/dependencies?maxTraces=2").await;
    check(
        &few,
        &json!({"tracesAnalyzed": 2, "truncated": true,
                "edges": [{"parent": "batch", "child": "worker"}, {"parent": "gw", "child": "orders", "calls": 1, "p50Nanos": ms(60)}]}),
        "$",
    );
    let pay = get_json(&t.client, &t.server, "/api/v1/dependencies?service=pay").await;
    check(
        &pay,
        &json!({"nodes": [{"service": "gw"}, {"service": "pay"}], "edges": [{"parent": "gw", "child": "pay"}], "tracesAnalyzed": 1}),
        "$",
    );
    let old = get_json(
        &t.client,
        &t.server,
        "/api/v1/dependencies?start=1600000000&end=1600003600",
    )
    .await;
    check(
        &old,
        &json!({"nodes": [], "edges": [], "tracesAnalyzed": 0, "truncated": false}),
        "$",
    );

    let (status, ctype, body) = get(&t, "/api/v1/dependencies?format=mermaid").await;
    assert_eq!((status, ctype.as_str()), (200, "text/plain; charset=utf-8"));
    assert_eq!(body, MERMAID);
    let (status, _, body) = get(&t, "/api/v1/dependencies?format=dot").await;
    assert_eq!(status, 200);
    assert_eq!(body, DOT);

    // Jaeger's shape, exactly; like Jaeger v2's stores, a call inside one service is a link
    // from the service to itself (the native graph above leaves those out)
    let end_ms = now() / MS;
    let jaeger = get_json(
        &t.client,
        &t.server,
        &format!("/api/dependencies?endTs={end_ms}&lookback=3600000"),
    )
    .await;
    assert_eq!(
        jaeger,
        json!({
            "data": [
                {"parent": "batch", "child": "worker", "callCount": 1},
                {"parent": "gw", "child": "gw", "callCount": 4},
                {"parent": "gw", "child": "orders", "callCount": 3},
                {"parent": "gw", "child": "pay", "callCount": 1},
                {"parent": "orders", "child": "orders", "callCount": 4},
            ],
            "total": 0, "limit": 0, "offset": 0, "errors": null,
        })
    );
    let filtered = get_json(&t.client, &t.server, "/api/dependencies?service=worker").await;
    assert_eq!(
        filtered["data"],
        json!([{"parent": "batch", "child": "worker", "callCount": 1}])
    );
    // a window before the traces is empty
    let empty = get_json(
        &t.client,
        &t.server,
        "/api/dependencies?endTs=1600000000000&lookback=60000",
    )
    .await;
    assert_eq!(
        empty,
        json!({"data": [], "total": 0, "limit": 0, "offset": 0, "errors": null})
    );

    // the CLI
    let (ok, out, err) = cli(&t, &["deps", "--format", "mermaid"]);
    assert!(ok, "{err}");
    assert_eq!(out, MERMAID);
    let (ok, out, err) = cli(&t, &["deps", "--format", "dot"]);
    assert!(ok, "{err}");
    assert_eq!(out, DOT);
    let (ok, out, err) = cli(&t, &["deps", "--format", "json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["edges"], deps["edges"]);
    let (ok, out, err) = cli(&t, &["deps"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("gw → orders") && out.contains("4 traces analyzed"),
        "{out}"
    );
    let (ok, out, err) = cli(&t, &["deps", "--max-traces", "1", "--format", "table"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("1 trace analyzed; the window holds more"),
        "{out}"
    );
}

#[tokio::test]
async fn trace_comparison() {
    let t = setup().await;
    let got = get_json(
        &t.client,
        &t.server,
        &format!("/api/v1/compare?a={}&b={}", t.a, t.b),
    )
    .await;
    let row = |status: &str, path: &str, a: Option<(u8, u64)>, b: Option<(u8, u64)>, delta: i64| {
        json!({
            "status": status, "path": path,
            "aSpanId": a.map(|x| sid(x.0)), "bSpanId": b.map(|x| sid(x.0)),
            "aDurationNanos": a.map(|x| ms(x.1)), "bDurationNanos": b.map(|x| ms(x.1)),
            "deltaNanos": (delta * MS as i64).to_string(),
        })
    };
    check(
        &got,
        &json!({
            "a": t.a, "b": t.b,
            "rows": [
                row("slower", "gw:GET /checkout", Some((1, 100)), Some((1, 150)), 50),
                row("missing", "gw:GET /checkout/gw:call pay", Some((5, 6)), None, -6),
                row("missing", "gw:GET /checkout/gw:call pay/pay:charge", Some((6, 4)), None, -4),
                row("slower", "gw:GET /checkout/gw:call orders", Some((2, 80)), Some((2, 130)), 50),
                row("slower", "gw:GET /checkout/gw:call orders/orders:POST /orders", Some((3, 76)), Some((3, 126)), 50),
                row("same", "gw:GET /checkout/gw:call orders/orders:POST /orders/orders:SELECT", Some((4, 50)), Some((4, 50)), 0),
                row("added", "gw:GET /checkout/gw:call orders/orders:POST /orders/orders:SELECT", None, Some((7, 60)), 60),
            ],
            "summary": {"added": 1, "missing": 2, "slower": 3, "faster": 0, "same": 1},
        }),
        "$",
    );
    let (ok, out, err) = cli(&t, &["compare", &t.a, &t.b]);
    assert!(ok, "{err}");
    for want in [
        "slower       100ms     150ms      +50ms  gw:GET /checkout",
        "missing        6ms         -       -6ms  gw:GET /checkout/gw:call pay",
        "added            -      60ms      +60ms  gw:GET /checkout/gw:call orders/orders:POST /orders/orders:SELECT",
        "3 slower, 0 faster, 1 added, 2 missing, 1 same",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(
        !out.contains("same "),
        "unchanged spans only with --all:\n{out}"
    );
}

#[tokio::test]
async fn bad_parameters_and_unknown_traces() {
    let t = setup().await;
    let unknown = hex(&random_trace_id());
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("/api/v1/traces/{unknown}/analysis"),
            404,
            "not found",
        ),
        (
            "/api/v1/traces/xyz/analysis".into(),
            400,
            "invalid trace id",
        ),
        (
            format!("/api/v1/traces/{}/analysis?skew=maybe", t.a),
            400,
            "skew=adjust",
        ),
        (
            format!("/api/v1/traces/{}/analysis?maxSkew=10", t.a),
            400,
            "missing unit",
        ),
        (
            format!("/api/v1/traces/{}/analysis?bottleneckShare=2", t.a),
            400,
            "between 0 and 1",
        ),
        (
            format!("/api/v1/traces/{}/analysis?slowest=x", t.a),
            400,
            "slowest",
        ),
        (
            format!("/api/v1/traces/{}/analysis?depth=1", t.a),
            400,
            "unknown parameter \"depth\"",
        ),
        (
            "/api/v1/dependencies?format=svg".into(),
            400,
            "use json, mermaid or dot",
        ),
        ("/api/v1/dependencies?maxTraces=0".into(), 400, "maxTraces"),
        (
            "/api/v1/dependencies?start=1700003600&end=1700000000".into(),
            400,
            "start is after end",
        ),
        (
            "/api/v1/dependencies?start=yesterday".into(),
            400,
            "start: invalid time",
        ),
        (
            "/api/v1/dependencies?lookback=1h".into(),
            400,
            "unknown parameter",
        ),
        (format!("/api/v1/compare?a={}", t.a), 400, "two trace ids"),
        (
            format!("/api/v1/compare?a={}&b=nope", t.a),
            400,
            "invalid trace id",
        ),
        (
            format!("/api/v1/compare?a={}&b={unknown}", t.a),
            404,
            "trace b",
        ),
        (
            format!("/api/v1/compare?a={unknown}&b={}", t.a),
            404,
            "trace a",
        ),
    ];
    for (path, status, msg) in cases {
        let (got, ctype, body) = get(&t, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(ctype.starts_with("application/json"), "{path}: {ctype}");
        let v: Value = serde_json::from_str(&body).expect("JSON error");
        let e = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no error in {body}"));
        assert!(e.contains(msg), "{path}: {e:?} should say {msg:?}");
    }
    // Jaeger's endpoint answers errors in Jaeger's envelope
    for (q, msg) in [
        ("endTs=abc", "unable to parse param 'endTs'"),
        ("lookback=-5", "unable to parse param 'lookback'"),
        ("endTs=99999999999999999", "unable to parse param 'endTs'"),
    ] {
        let (status, _, body) = get(&t, &format!("/api/dependencies?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"], Value::Null);
        assert_eq!(v["errors"][0]["code"], 400);
        assert!(
            v["errors"][0]["msg"].as_str().unwrap().contains(msg),
            "{q}: {body}"
        );
    }
    let (ok, _, err) = cli(&t, &["compare", &t.a, &unknown]);
    assert!(!ok);
    assert!(err.contains("trace b"), "{err}");
    let (ok, _, err) = cli(&t, &["deps", "--start", "tomorrow"]);
    assert!(!ok);
    assert!(err.contains("400"), "{err}");
}
