//! The file archive (`--archive-dir`) and `weft export`, against the real binary: a trace is
//! written once idle to `<dir>/YYYY/MM/DD/<id>.json`, rewritten when late spans arrive, written
//! early when the pending map is full and on shutdown; retention deletes old files and their
//! empty directories; `weft export` prints exactly what the API returns.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};
use weft_testkit::{
    eventually, get_json, hex, post_protobuf, random_span_id, random_trace_id, sample_trace, Server,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

/// Where the archive keeps a trace: the UTC day of its earliest span start.
fn archive_path(root: &Path, req: &ExportTraceServiceRequest, trace_id: &[u8]) -> PathBuf {
    let start = req.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.start_time_unix_nano)
        .min()
        .unwrap();
    let (y, m, d) = weft_server::archive::civil_from_days((start / 86_400_000_000_000) as i64);
    root.join(format!("{y:04}/{m:02}/{d:02}/{}.json", hex(trace_id)))
}

fn read_json(p: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(p).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", p.display())))
}

fn span_count(otlp: &Value) -> usize {
    otlp["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"].as_array().unwrap())
        .map(|s| s["spans"].as_array().unwrap().len())
        .sum()
}

fn backdate(p: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

#[tokio::test]
async fn archive_writes_idle_traces_rewrites_late_ones_and_applies_retention() {
    let data = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let root = archive.path();
    // an archive file written three days ago, and one of an old day written just now
    let old = root.join("2020/01/01/00000000000000000000000000000001.json");
    let fresh_in_old_day = root.join("2020/01/02/00000000000000000000000000000002.json");
    for p in [&old, &fresh_in_old_day] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "{}").unwrap();
    }
    backdate(&old, Duration::from_secs(3 * 86_400));

    let server = Server::start(
        bin(),
        data.path(),
        &[
            "--archive-dir",
            root.to_str().unwrap(),
            "--archive-idle",
            "1s",
            "--archive-retention",
            "1d",
        ],
    );
    let client = reqwest::Client::new();

    eventually(
        "retention removes the old file and its empty day directory",
        Duration::from_secs(10),
        async || !old.exists() && !root.join("2020/01/01").exists(),
    )
    .await;
    assert!(
        fresh_in_old_day.exists(),
        "retention counts from when a file was written, not from its day"
    );
    assert!(
        root.join("2020/01").exists(),
        "the month still holds a file"
    );

    let tid = random_trace_id();
    let req = sample_trace("archived", &tid);
    post_protobuf(&client, &server, &req).await;
    let path = archive_path(root, &req, &tid);
    assert!(
        !path.exists(),
        "a trace is archived only once it has been idle"
    );
    eventually(
        "the idle trace is archived",
        Duration::from_secs(15),
        async || path.exists(),
    )
    .await;
    let api = get_json(&client, &server, &format!("/api/v1/traces/{}", hex(&tid))).await;
    assert_eq!(
        read_json(&path).unwrap(),
        api,
        "the archive file is the whole trace as OTLP/JSON"
    );
    assert_eq!(span_count(&api), 3);

    // a late span: the trace is archived again, whole
    let mut late = req.clone();
    let spans = &mut late.resource_spans[0].scope_spans[0].spans;
    let root_span = spans[0].clone();
    *spans = vec![Span {
        span_id: random_span_id(),
        parent_span_id: root_span.span_id.clone(),
        name: "late retry".into(),
        start_time_unix_nano: root_span.start_time_unix_nano + 40_000_000,
        end_time_unix_nano: root_span.start_time_unix_nano + 45_000_000,
        ..root_span
    }];
    post_protobuf(&client, &server, &late).await;
    eventually(
        "the late span is in the archive file",
        Duration::from_secs(15),
        async || read_json(&path).is_some_and(|v| span_count(&v) == 4),
    )
    .await;
    let api = get_json(&client, &server, &format!("/api/v1/traces/{}", hex(&tid))).await;
    assert_eq!(read_json(&path).unwrap(), api);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers,
        vec![format!("{}.json", hex(&tid))],
        "no temporary files left"
    );
}

#[tokio::test]
async fn archive_writes_early_when_full_on_request_and_on_shutdown() {
    let data = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let root = archive.path();
    let mut server = Server::start(
        bin(),
        data.path(),
        &[
            "--archive-dir",
            root.to_str().unwrap(),
            "--archive-idle",
            "1h",
            "--archive-max-pending",
            "1",
        ],
    );
    let client = reqwest::Client::new();
    let (a, b, c) = (random_trace_id(), random_trace_id(), random_trace_id());
    let (ra, rb, rc) = (
        sample_trace("s", &a),
        sample_trace("s", &b),
        sample_trace("s", &c),
    );
    post_protobuf(&client, &server, &ra).await;
    post_protobuf(&client, &server, &rb).await;
    let (pa, pb, pc) = (
        archive_path(root, &ra, &a),
        archive_path(root, &rb, &b),
        archive_path(root, &rc, &c),
    );
    eventually(
        "the map holds one trace: the first is written early",
        Duration::from_secs(10),
        async || pa.exists(),
    )
    .await;
    assert!(!pb.exists(), "the second trace waits (idle time 1h)");

    // Jaeger's archive button: POST /api/archive/{id} writes the trace now
    post_protobuf(&client, &server, &rc).await;
    let r = client
        .post(server.api(&format!("/api/archive/{}", hex(&c))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"data": [], "total": 0, "limit": 0, "offset": 0, "errors": []})
    );
    assert!(pc.exists());
    let r = client
        .post(server.api(&format!("/api/archive/{}", hex(&random_trace_id()))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let vb = read_json(&pb).expect("pending traces are archived on shutdown");
    assert_eq!(span_count(&vb), 3);
}

fn export(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("export")
        .args(args)
        .output()
        .expect("run weft export")
}

#[tokio::test]
async fn export_prints_what_the_api_returns() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), data.path(), &[]);
    let client = reqwest::Client::new();
    let tid = random_trace_id();
    post_protobuf(&client, &server, &sample_trace("exported", &tid)).await;
    let id = hex(&tid);
    let base = format!("http://{}", server.http);

    let out = export(&[&id, "--format", "jaeger", "--server", &base]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let jaeger_api = get_json(&client, &server, &format!("/api/traces/{id}")).await;
    assert_eq!(
        printed, jaeger_api,
        "weft export --format jaeger = /api/traces/{{id}}"
    );
    assert_eq!(printed["data"][0]["traceID"], json!(id));

    let file = data.path().join("trace.json");
    let out = export(&[&id, "-o", file.to_str().unwrap(), "--server", &base]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "with -o nothing goes to stdout");
    let written = std::fs::read(&file).unwrap();
    let api = client
        .get(server.api(&format!("/api/v1/traces/{id}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        written,
        api.to_vec(),
        "weft export (otlp) writes the API's bytes"
    );
    assert_eq!(span_count(&serde_json::from_slice(&written).unwrap()), 3);

    let out = export(&[&hex(&random_trace_id()), "--server", &base]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("404") && err.contains("not found"), "{err}");
    let out = export(&["xyz", "--server", &base]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid trace id"));
    let out = export(&[&id, "--format", "zipkin", "--server", &base]);
    assert!(!out.status.success(), "unknown formats are refused");
}
