//! TraceQL through the real `weft serve` binary: `GET /api/v1/query` (filters, structural
//! operators, pipelines, short forms, typed attributes, limits and truncation, time windows,
//! 400 with the position of a parse error), Tempo's `GET /api/search`, and the `weft query`
//! command as a process.
//!
//! The traces are weft-query's fixtures (crates/weft-query/tests/fixtures.txt), posted as
//! OTLP/HTTP protobuf.

#[path = "../../weft-query/tests/common/mod.rs"]
mod fixtures;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use weft_testkit::{admin, eventually, post_protobuf, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

async fn query(client: &reqwest::Client, server: &Server, params: &[(&str, &str)]) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&server.api("/api/v1/query"), params).unwrap();
    let r = client.get(url).send().await.expect("GET /api/v1/query");
    let status = r.status().as_u16();
    (status, r.json().await.expect("the API answers JSON"))
}

async fn ok(client: &reqwest::Client, server: &Server, q: &str) -> Value {
    let (status, body) = query(client, server, &[("q", q)]).await;
    assert_eq!(status, 200, "{q}: {body}");
    body
}

/// Trace ids of the answer, as fixture labels.
fn labels(body: &Value, fx: &fixtures::Fixtures) -> Vec<String> {
    body["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| {
            let id = t["traceId"].as_str().unwrap();
            fx.traces
                .iter()
                .find(|f| f.batch.spans().next().unwrap().span.trace_id.to_hex() == id)
                .map(|f| f.label.clone())
                .unwrap_or_else(|| id.to_string())
        })
        .collect()
}

fn span_names(set: &Value) -> Vec<&str> {
    set["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceql_over_http_and_the_cli() {
    let fx = fixtures::load();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    for t in &fx.traces {
        post_protobuf(
            &client,
            &server,
            &weft_proto::otlp::batch_to_request(&t.batch),
        )
        .await;
    }
    eventually(
        "all fixture traces are searchable",
        Duration::from_secs(10),
        async || {
            let (_, b) = query(&client, &server, &[("q", "{ }"), ("limit", "100")]).await;
            b["traces"]
                .as_array()
                .is_some_and(|t| t.len() == fx.traces.len())
        },
    )
    .await;

    for phase in ["head", "block"] {
        // a filter: the summary of the trace and the matching span with the values it read
        let b = ok(
            &client,
            &server,
            "{ resource.service.name = \"checkout\" && duration > 1s }",
        )
        .await;
        assert_eq!(labels(&b, &fx), ["shop"], "{phase}");
        let t = &b["traces"][0];
        assert_eq!(t["traceId"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(t["rootServiceName"], "frontend");
        assert_eq!(t["rootSpanName"], "GET /checkout");
        assert_eq!(t["rootSpanPresent"], true);
        assert_eq!(t["spanCount"], 11);
        assert_eq!(t["errorCount"], 3);
        assert_eq!(t["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(t["durationNanos"], "1200000000");
        let set = &t["spanSets"][0];
        assert_eq!(set["matched"], 1);
        let span = &set["spans"][0];
        assert_eq!(span["name"], "POST /checkout");
        assert_eq!(span["service"], "checkout");
        assert_eq!(span["spanId"], "0000000100000007");
        assert_eq!(span["startTimeUnixNano"], "1700000000125000000");
        assert_eq!(span["durationNanos"], "1040000000");
        assert_eq!(span["attributes"]["resource.service.name"], "checkout");
        assert_eq!(b["truncated"], false);

        // typed attribute values come back typed
        let b = ok(
            &client,
            &server,
            "{ span.http.status_code = 402 } | select(span.amount, span.tags, status)",
        )
        .await;
        let attrs = &b["traces"][0]["spanSets"][0]["spans"][0]["attributes"];
        assert_eq!(attrs["http.status_code"], 402);
        assert_eq!(attrs["amount"], 129.99);
        assert_eq!(attrs["status"], "error");

        // structural: server spans whose parent is a frontend span, newest trace first
        let b = ok(
            &client,
            &server,
            "{ resource.service.name = \"frontend\" } > { kind = server }",
        )
        .await;
        assert_eq!(labels(&b, &fx), ["errors", "shop"], "{phase}");
        assert_eq!(b["traces"][0]["spanSets"][0]["matched"], 3);
        assert_eq!(
            span_names(&b["traces"][1]["spanSets"][0]),
            ["GET /cart", "POST /checkout"]
        );
        let b = ok(&client, &server, "{ status = error } !< { status = error }").await;
        assert_eq!(labels(&b, &fx), ["errors", "jobs", "shop"], "{phase}");
        assert_eq!(span_names(&b["traces"][2]["spanSets"][0]), ["POST /charge"]);

        // a pipeline: services with more than one error span
        let b = ok(
            &client,
            &server,
            "{ status = error } | by(resource.service.name) | count() > 1",
        )
        .await;
        assert_eq!(labels(&b, &fx), ["errors", "shop"], "{phase}");
        let set = &b["traces"][0]["spanSets"][0];
        assert_eq!(set["attributes"]["by(resource.service.name)"], "cart");
        assert_eq!(set["attributes"]["count()"], 3);
        assert_eq!(set["matched"], 3);
        let b = ok(
            &client,
            &server,
            "{ kind = server } | avg(duration) > 500ms",
        )
        .await;
        assert_eq!(
            b["traces"][0]["spanSets"][0]["attributes"]["avg(duration)"],
            "830ms"
        );

        // the short forms of the users' guides
        let b = ok(&client, &server, "duration > 2s").await;
        assert_eq!(labels(&b, &fx), ["jobs"], "{phase}");
        let b = ok(&client, &server, "status = error").await;
        assert_eq!(labels(&b, &fx), ["errors", "jobs", "shop"], "{phase}");
        let b = ok(&client, &server, "user.id = \"abc-123\"").await;
        assert_eq!(labels(&b, &fx), ["jobs", "shop"], "{phase}");
        let b = ok(&client, &server, "service.name = \"analysis-worker\"").await;
        assert_eq!(labels(&b, &fx), ["jobs"], "{phase}");
        assert_eq!(b["traces"][0]["spanSets"][0]["matched"], 5);
        assert_eq!(
            b["traces"][0]["spanSets"][0]["spans"]
                .as_array()
                .unwrap()
                .len(),
            3,
            "spss defaults to 3"
        );

        // limit and spss: the newest trace only, flagged truncated
        let (status, b) = query(
            &client,
            &server,
            &[("q", "{ }"), ("limit", "2"), ("spss", "1")],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(labels(&b, &fx), ["clash", "tiny"], "{phase}");
        assert_eq!(b["truncated"], true);
        assert_eq!(b["inspectedTraces"], 2);
        assert_eq!(b["traces"][0]["spanSets"][0]["matched"], 2);
        assert_eq!(
            b["traces"][0]["spanSets"][0]["spans"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // a time window (unix seconds) around the jobs trace
        let (status, b) = query(
            &client,
            &server,
            &[("q", "{ }"), ("start", "1700000059"), ("end", "1700000065")],
        )
        .await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(labels(&b, &fx), ["jobs"], "{phase}");

        // Tempo's search shape
        let url = reqwest::Url::parse_with_params(
            &server.api("/api/search"),
            &[
                ("q", "{ status = error }"),
                ("limit", "2"),
                ("spss", "1"),
                ("start", "1699999000"),
                ("end", "1700001000"),
            ],
        )
        .unwrap();
        let t: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let traces = t["traces"].as_array().expect("traces");
        assert_eq!(traces.len(), 2);
        assert_eq!(traces[0]["traceID"], "00000000000000000000000000000abc");
        assert_eq!(traces[0]["rootServiceName"], "frontend");
        assert_eq!(traces[0]["rootTraceName"], "GET /search");
        assert_eq!(traces[0]["startTimeUnixNano"], "1700000180000000000");
        assert_eq!(traces[0]["durationMs"], 400);
        let set = &traces[0]["spanSets"][0];
        assert_eq!(set["matched"], 4);
        assert_eq!(set["spans"][0]["spanID"], "0000000400000001");
        assert_eq!(set["spans"][0]["durationNanos"], "400000000");
        assert_eq!(
            set["spans"][0]["attributes"][0],
            serde_json::json!({"key": "status", "value": {"stringValue": "error"}})
        );
        assert_eq!(traces[0]["spanSet"], *set);
        assert!(t["metrics"]["inspectedTraces"].as_u64().is_some());
        let echo = client.get(server.api("/api/echo")).send().await.unwrap();
        assert_eq!(echo.text().await.unwrap(), "echo");

        admin(&client, &server, "flush").await;
    }

    // a query that does not parse: 400 with the message and its position
    let (status, b) = query(&client, &server, &[("q", "{ duration > 2s")]).await;
    assert_eq!(status, 400);
    assert_eq!(
        b["error"],
        "parse error at line 1, column 16: expected \"}\" after \"2s\", found end of query"
    );
    assert_eq!(b["line"], 1);
    assert_eq!(b["column"], 16);
    let (status, b) = query(
        &client,
        &server,
        &[("q", "{ name = \"a\"\n  && durtion > 1s }")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        (b["line"].as_u64(), b["column"].as_u64()),
        (Some(2), Some(6))
    );
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("did you mean \"duration\"?"),
        "{b}"
    );
    let (status, b) = query(&client, &server, &[("limit", "3")]).await;
    assert_eq!(status, 400);
    assert!(b["error"].as_str().unwrap().starts_with("missing q"), "{b}");
    let (status, _) = query(&client, &server, &[("q", "{ }"), ("limit", "0")]).await;
    assert_eq!(status, 400);

    // the CLI: readable output
    let base = format!("http://{}", server.http);
    let out = Command::new(bin())
        .args(["query", "status = error", "--server", &base, "--limit", "5"])
        .output()
        .expect("run weft query");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("TRACE ID"), "{stdout}");
    let errors_row = stdout
        .lines()
        .position(|l| l.starts_with("00000000000000000000000000000abc"))
        .unwrap_or_else(|| panic!("no row for the errors trace:\n{stdout}"));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[errors_row].ends_with("frontend: GET /search"),
        "{stdout}"
    );
    assert_eq!(
        lines[errors_row + 1].trim(),
        "spanset 1: 4 spans, 3 shown",
        "{stdout}"
    );
    assert!(
        lines[errors_row + 2].contains("0000000400000001")
            && lines[errors_row + 2].contains("frontend: GET /search  status=\"error\""),
        "{stdout}"
    );
    // --json is the API's answer
    let out = Command::new(bin())
        .args([
            "query",
            "{ .region = \"span-region\" }",
            "--server",
            &base,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(
        j["traces"][0]["spanSets"][0]["spans"][0]["name"],
        "GET /region"
    );

    // the CLI: a parse error shows the query with a caret under the column, exit non-zero
    let out = Command::new(bin())
        .args(["query", "{ duration > 2s", "--server", &base])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "error: parse error at line 1, column 16: expected \"}\" after \"2s\", found end of query\n  { duration > 2s\n                 ^\n"
    );
}
