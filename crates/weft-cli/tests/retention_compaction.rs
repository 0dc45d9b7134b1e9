//! Compaction changes no query result; retention removes old data by age and by disk size.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use weft_testkit::{
    admin, eventually, fetch_trace, get_json, hex, metric, normalized, post_protobuf,
    random_trace_id, sample_trace, Server,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

#[tokio::test]
async fn compaction_keeps_query_results_identical() {
    let dir = tempfile::tempdir().unwrap();
    // background maintenance effectively off: the test drives flush and compaction itself
    let server = Server::start(
        bin(),
        dir.path(),
        &["--maintenance-interval", "1h", "--compaction-fan-in", "4"],
    );
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..8 {
        let tid = random_trace_id();
        let svc = if i % 2 == 0 { "even" } else { "odd" };
        let mut req = sample_trace(svc, &tid);
        if i == 3 {
            // a trace whose spans arrive in two blocks
            let late = req.resource_spans[0].scope_spans[0].spans.pop().unwrap();
            let mut second = sample_trace(svc, &tid);
            second.resource_spans[0].scope_spans[0].spans = vec![late];
            post_protobuf(&client, &server, &req).await;
            admin(&client, &server, "flush").await;
            req = second;
        }
        post_protobuf(&client, &server, &req).await;
        admin(&client, &server, "flush").await;
        ids.push(hex(&tid));
    }
    assert_eq!(metric(&client, &server, "weft_store_blocks").await, 9.0);
    let queries = [
        "service=even",
        "service=odd&status=error",
        "attr=http.route=/orders/{id}&limit=3",
        "minDuration=10ms&limit=100",
        "name=lock%20wait",
    ];
    let snapshot = || async {
        let mut out = Vec::new();
        for q in queries {
            let v: Value = get_json(&client, &server, &format!("/api/v1/search?{q}")).await;
            out.push(v);
        }
        let mut traces = Vec::new();
        for id in &ids {
            traces.push(normalized(
                &fetch_trace(&client, &server, id).await.unwrap(),
            ));
        }
        (out, traces)
    };
    let before = snapshot().await;
    let v: Value = admin(&client, &server, "compact").await;
    assert_eq!(v["compacted"], true);
    let v: Value = admin(&client, &server, "compact").await;
    assert_eq!(v["compacted"], true);
    assert_eq!(metric(&client, &server, "weft_store_blocks").await, 3.0); // 4+4 -> 2 level-1 blocks, 1 left
    assert_eq!(
        metric(&client, &server, "weft_store_compactions_total").await,
        2.0
    );
    let after = snapshot().await;
    assert_eq!(before.0, after.0, "search results changed by compaction");
    assert_eq!(before.1, after.1, "traces changed by compaction");
    // the split trace is whole, with a summary merged across blocks
    let t = fetch_trace(&client, &server, &ids[3]).await.unwrap();
    assert_eq!(t.span_count(), 3);
}

#[tokio::test]
async fn retention_deletes_blocks_by_ingestion_age_and_disk_limit_deletes_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        bin(),
        dir.path(),
        &["--retention", "2s", "--maintenance-interval", "200ms"],
    );
    let client = reqwest::Client::new();
    // spans stamped three years ago are kept like any others: retention counts from ingestion
    let old_stamped = random_trace_id();
    let mut req = sample_trace("svc", &old_stamped);
    let three_years = 3 * 365 * 24 * 3600 * 1_000_000_000u64;
    for s in &mut req.resource_spans[0].scope_spans[0].spans {
        s.start_time_unix_nano -= three_years;
        s.end_time_unix_nano -= three_years;
    }
    post_protobuf(&client, &server, &req).await;
    admin(&client, &server, "flush").await;
    let first = hex(&old_stamped);
    assert!(
        fetch_trace(&client, &server, &first).await.is_some(),
        "acknowledged data must not vanish at the cut"
    );
    let started = std::time::Instant::now();
    eventually(
        "the block to pass its retention",
        Duration::from_secs(20),
        async || fetch_trace(&client, &server, &first).await.is_none(),
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "deleted before its retention: {:?}",
        started.elapsed()
    );
    let newer = random_trace_id();
    post_protobuf(&client, &server, &sample_trace("svc", &newer)).await;
    admin(&client, &server, "flush").await;
    assert!(
        fetch_trace(&client, &server, &hex(&newer)).await.is_some(),
        "recent data must be kept"
    );
    assert!(
        metric(
            &client,
            &server,
            "weft_store_retention_deleted_blocks_total"
        )
        .await
            >= 1.0
    );
    drop(server);

    // a disk limit smaller than one block: blocks go, oldest first, until under the limit
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        bin(),
        dir.path(),
        &["--max-disk", "1B", "--maintenance-interval", "200ms"],
    );
    let tid = random_trace_id();
    post_protobuf(&client, &server, &sample_trace("svc", &tid)).await;
    admin(&client, &server, "flush").await;
    let h = hex(&tid);
    eventually(
        "the block over the disk limit to be deleted",
        Duration::from_secs(20),
        async || fetch_trace(&client, &server, &h).await.is_none(),
    )
    .await;
}

#[tokio::test]
async fn many_blocks_under_a_low_open_file_limit() {
    // a soft limit of 64 descriptors, 80 blocks: weft raises its soft limit to the hard one
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(["--nofile=64:", "--"]).arg(bin()); // soft 64, hard unchanged
    let server = Server::start_command(cmd, dir.path(), &["--maintenance-interval", "1h"], &[]);
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..80 {
        let tid = random_trace_id();
        post_protobuf(&client, &server, &sample_trace("svc", &tid)).await;
        assert_eq!(admin(&client, &server, "flush").await["flushed"], true);
        ids.push(hex(&tid));
    }
    assert_eq!(metric(&client, &server, "weft_store_blocks").await, 80.0);
    for id in &ids {
        assert!(
            fetch_trace(&client, &server, id).await.is_some(),
            "trace {id}"
        );
    }
    let v: Value = get_json(&client, &server, "/api/v1/search?service=svc&limit=100").await;
    assert_eq!(v["traces"].as_array().unwrap().len(), 80);
}

/// `--pregenerate` encodes a known number of spans up front, so it needs `--spans`.
#[test]
fn bench_pregenerate_needs_a_span_count() {
    let out = std::process::Command::new(bin())
        .args(["bench", "--pregenerate", "--endpoint", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--spans"), "{err}");
}

/// Runs `weft <args>`, which must succeed; its standard output.
fn weft_ok(args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "weft {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What follows `prefix` on the line of `stdout` that starts with it, trimmed.
fn field(stdout: &str, prefix: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"))
        .trim()
        .to_string()
}

/// A server short of memory refuses requests as overloaded until its cutter catches up;
/// `weft bench` counts those apart from failures, sends each again, and every span ends up
/// stored exactly once.
#[test]
fn bench_counts_refusals_apart_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // one request's spans are over the limit: the next request is refused until the head
    // holding them is cut into a block
    let server = Server::start(bin(), dir.path(), &["--max-memory", "1KiB"]);
    let server_api = format!("http://{}", server.http);
    let mut accepted = 0;
    for protocol in ["grpc", "http"] {
        let endpoint = match protocol {
            "grpc" => format!("http://{}", server.otlp_grpc),
            _ => format!("http://{}", server.otlp_http),
        };
        let stdout = weft_ok(&[
            "bench",
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--server",
            &server_api,
            "--spans",
            "1000",
            "--batch-spans",
            "100",
            "--concurrency",
            "4",
        ]);
        let count = |prefix: &str| -> u64 {
            let f = field(&stdout, prefix);
            f.split_whitespace().next().unwrap().parse().unwrap()
        };
        assert!(count("refused requests:") > 0, "{protocol}: {stdout}");
        assert_eq!(count("failed requests:"), 0, "{protocol}: {stdout}");
        // `--spans` is exact: the requests in flight do not overshoot it
        assert_eq!(count("accepted spans:"), 1000, "{protocol}: {stdout}");
        accepted += count("accepted spans:");
    }
    // every accepted span is kept, once (the stored count settles while a cut moves spans
    // from memory into a block)
    let stored = || {
        metric_blocking(&server, "weft_store_block_spans")
            + metric_blocking(&server, "weft_store_head_spans")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stored() != accepted as f64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stored(), accepted as f64);
}

/// `weft bench` against the real server: every span it sends is acknowledged and stored, the
/// traces it samples are all found, and with `--compact` it merges blocks and reports bytes
/// per span again.
#[test]
fn bench_sends_stores_compacts_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        bin(),
        dir.path(),
        &["--maintenance-interval", "1h", "--compaction-fan-in", "2"],
    );
    let (endpoint, server_api) = (
        format!("http://{}", server.otlp_grpc),
        format!("http://{}", server.http),
    );
    let bench = |extra: &[&str]| -> String {
        let mut args = vec![
            "bench",
            "--endpoint",
            &endpoint,
            "--server",
            &server_api,
            "--spans",
            "4000",
            "--batch-spans",
            "200",
            "--report-disk",
            "--query-samples",
            "20",
        ];
        args.extend_from_slice(extra);
        weft_ok(&args)
    };
    let stored = |stdout: &str| -> u64 {
        field(stdout, "stored spans:")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // the first run's data is flushed into one block, the second's into another; the first
    // encodes its requests before sending them, the second while sending
    let first = bench(&["--pregenerate"]);
    let accepted1: u64 = field(&first, "accepted spans:").parse().unwrap();
    assert_eq!(accepted1, 4000, "{first}");
    assert!(
        field(&first, "client CPU:").ends_with("(while sending, pregenerated)"),
        "{first}"
    );
    assert_eq!(stored(&first), accepted1, "{first}");
    let second = bench(&["--compact", "--search-samples", "3"]);
    let accepted2: u64 = field(&second, "accepted spans:").parse().unwrap();
    assert_eq!(accepted2, 4000, "{second}");
    assert!(
        field(&second, "client CPU:").ends_with("(while sending, generating)"),
        "{second}"
    );
    assert_eq!(stored(&second), accepted1 + accepted2, "{second}");
    let per_span: f64 = field(&second, "bytes on disk/span:").parse().unwrap();
    assert!(per_span > 0.0 && per_span < 1000.0, "{second}");
    let after = field(&second, "after compaction:");
    let merges: u64 = after
        .split('(')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{after}"));
    assert_eq!(merges, 1, "{second}");
    assert_eq!(metric_blocking(&server, "weft_store_blocks"), 1.0);
    assert_eq!(
        metric_blocking(&server, "weft_store_block_spans"),
        (accepted1 + accepted2) as f64
    );
    for out in [&first, &second] {
        assert!(
            field(out, "trace by id:").contains("(20 samples, 0 not found)"),
            "{out}"
        );
    }
    // the server's CPU time, from its process_cpu_seconds_total: while sending, and until
    // every span sent is in a block (more); per span is seconds over accepted spans
    let cpu = |stdout: &str, prefix: &str| -> (f64, f64) {
        let f = field(stdout, prefix);
        let mut numbers = f.split([' ', ',']).filter_map(|w| w.parse::<f64>().ok());
        let secs = numbers.next().unwrap_or_else(|| panic!("{f}"));
        let per_span = numbers.next().unwrap_or_else(|| panic!("{f}"));
        assert!(f.contains("µs per span"), "{f}");
        (secs, per_span)
    };
    let mut total = 0.0;
    for (out, accepted) in [(&first, accepted1), (&second, accepted2)] {
        let (sending, per_span) = cpu(out, "server CPU:");
        let (to_blocks, _) = cpu(out, "server CPU (blocks):");
        // CPU time counts in 10 ms ticks: one small run may show none
        assert!(sending >= 0.0 && to_blocks >= sending, "{out}");
        // both printed rounded: seconds to 1 ms, microseconds to 0.01
        let want = sending * 1e6 / accepted as f64;
        let rounding = 0.0005 * 1e6 / accepted as f64 + 0.005;
        assert!((per_span - want).abs() <= rounding * 1.01, "{out}");
        total += to_blocks;
    }
    assert!(total > 0.0);
    assert!(total <= metric_blocking(&server, "process_cpu_seconds_total"));
}

fn metric_blocking(server: &Server, name: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(metric(&reqwest::Client::new(), server, name))
}
