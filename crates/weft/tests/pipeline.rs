//! The export pipeline: shutdown flushing, a down collector, redaction, limits, sampling.

mod common;
use common::*;

use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use weft::SamplerConfig;

#[test]
fn spans_ended_just_before_drop_are_all_exported() {
    let mem = Memory::default();
    // the queue holds the whole burst: what is tested is the final flush, not queue capacity
    let guard = builder(
        &mem,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ],
    )
    .init()
    .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    for i in 0..3000 {
        let mut s = tracer.start(format!("s{i}"));
        s.end();
    }
    let stats = guard.stats_handle();
    drop(guard);
    assert_eq!(mem.spans().len(), 3000);
    let st = stats.snapshot();
    assert_eq!((st.exported, st.dropped, st.failed), (3000, 0, 0));
}

#[test]
fn every_span_is_either_exported_or_counted_as_dropped() {
    let mem = Memory::default();
    let guard = builder(&mem, &[("OTEL_BSP_MAX_QUEUE_SIZE", "64")])
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    for _ in 0..5000 {
        tracer.start("s").end();
    }
    let stats = guard.stats_handle();
    drop(guard);
    let st = stats.snapshot();
    assert_eq!(st.exported + st.dropped, 5000, "{st:?}");
    assert_eq!(st.exported as usize, mem.spans().len());
}

/// The worker takes the queue whole and exports it in batches of at most
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, in the order the spans ended, with nothing lost or
/// exported twice: full batches while spans keep coming, the rest at shutdown.
#[test]
fn batches_keep_their_size_limit_and_the_spans_their_order() {
    #[derive(Clone, Debug, Default)]
    struct Batches(std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>);
    impl opentelemetry_sdk::trace::SpanExporter for Batches {
        async fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            let names = batch.iter().map(|s| s.name.to_string()).collect();
            self.0.lock().unwrap().push(names);
            Ok(())
        }
    }
    let batches = Batches::default();
    let guard = weft::builder()
        .env(env(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            // only full batches (and the final flush) export
            ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10000"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100"),
        ]))
        .install_subscriber(false)
        .with_exporter(batches.clone())
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let n = 2550;
    for i in 0..n {
        tracer.start(format!("s{i}")).end();
        if i % 500 == 0 {
            // let the worker take a queue of several batches at once, too
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let stats = guard.stats_handle();
    drop(guard);
    let got = batches.0.lock().unwrap().clone();
    assert!(
        got.iter().all(|b| !b.is_empty() && b.len() <= 100),
        "{:?}",
        got.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let names: Vec<String> = got.into_iter().flatten().collect();
    let want: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    assert_eq!(names, want);
    let st = stats.snapshot();
    assert_eq!((st.exported, st.dropped, st.failed), (n as u64, 0, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_guard_inside_a_current_thread_runtime_does_not_hang() {
    let mem = Memory::default();
    let guard = builder(&mem, &[("OTEL_BSP_SCHEDULE_DELAY", "3600000")])
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    tracer.start("inside").end();
    tokio::task::yield_now().await;
    let t = Instant::now();
    drop(guard);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(mem.names(), vec!["inside"]);
}

#[test]
fn a_down_collector_never_blocks_and_drops_are_counted() {
    // accepts connections (kernel backlog) but never answers: the worst kind of down
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hole.local_addr().unwrap();
    let guard = weft::builder()
        .env(env(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}")),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "50"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "300"),
        ]))
        .install_subscriber(false)
        .set_global(false)
        .shutdown_timeout(Duration::from_millis(500))
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let t = Instant::now();
    for _ in 0..5000 {
        tracer.start("s").end();
    }
    let per_span = t.elapsed() / 5000;
    assert!(
        per_span < Duration::from_micros(200),
        "{per_span:?} per span"
    );
    let stats = guard.stats_handle();
    let t = Instant::now();
    drop(guard);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    let st = stats.snapshot();
    assert!(st.dropped > 4000, "{st:?}");
    assert_eq!(st.exported, 0, "{st:?}");
    drop(hole);
}

#[test]
fn no_secret_reaches_any_exporter() {
    let a = Memory::default();
    let b = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spans.jsonl");
    let guard = builder(&a, &[("OTEL_TRACES_EXPORTER", "file")])
        .with_exporter(b.clone())
        .file_path(&file)
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let mut s = tracer.start("login");
    s.set_attribute(KeyValue::new("user.password", "hunter2-secret-pw"));
    s.set_attribute(KeyValue::new(
        "http.request.header.authorization",
        "Basic dXNlcjpwYXNz",
    ));
    s.set_attribute(KeyValue::new("note", "contact alice@example.com"));
    s.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 12));
    s.add_event("retry", vec![KeyValue::new("api_key", "k-123456")]);
    s.end();
    drop(guard);
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [
        "hunter2-secret-pw",
        "dXNlcjpwYXNz",
        "alice@example.com",
        "k-123456",
    ] {
        assert!(!text.contains(secret), "{secret} reached the file exporter");
        for m in [&a, &b] {
            let dump = format!("{:?}", m.spans());
            assert!(!dump.contains(secret), "{secret} reached a memory exporter");
        }
    }
    let s = &a.spans()[0];
    assert_eq!(attr(s, "user.password").unwrap().as_str(), "[REDACTED]");
    assert_eq!(
        attr(s, "gen_ai.usage.input_tokens").unwrap(),
        &opentelemetry::Value::I64(12)
    );
    assert!(text.contains("[REDACTED]"));
}

#[test]
fn attribute_value_length_limit_truncates() {
    let mem = Memory::default();
    let guard = builder(&mem, &[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")])
        .no_redaction()
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let mut s = tracer.start("x");
    s.set_attribute(KeyValue::new("a", "abcdefgh"));
    s.set_attribute(KeyValue::new("b", "ééé")); // 6 bytes; cut on a char boundary
    s.end();
    drop(guard);
    let s = &mem.spans()[0];
    assert_eq!(attr(s, "a").unwrap().as_str(), "abcd");
    assert_eq!(attr(s, "b").unwrap().as_str(), "éé");
}

#[test]
fn sdk_disabled_exports_nothing() {
    let mem = Memory::default();
    let guard = builder(&mem, &[("OTEL_SDK_DISABLED", "true")])
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let s = tracer.start("x");
    assert!(!s.span_context().is_sampled());
    drop(s);
    drop(guard);
    assert!(mem.spans().is_empty());
}

/// Only a build without the (default) `tls` feature:
/// `cargo test -p weft --no-default-features --test pipeline https_grpc_without_tls`.
/// With TLS compiled in, `tests/tls.rs` checks that such endpoints speak TLS on the wire.
#[cfg(not(feature = "tls"))]
#[test]
fn https_grpc_without_tls_is_an_error_not_plaintext() {
    let r = weft::builder()
        .env(env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example:4317",
            ),
        ]))
        .install_subscriber(false)
        .set_global(false)
        .init();
    let Err(e) = r else {
        panic!("an https gRPC endpoint without TLS must fail")
    };
    let msg = e.to_string();
    assert!(
        msg.contains("TLS") && msg.contains("https://collector.example:4317"),
        "{msg}"
    );
}

#[test]
fn ratio_sampling_is_within_tolerance() {
    let mem = Memory::default();
    let guard = builder(&mem, &[])
        .sampler(SamplerConfig::TraceIdRatio(0.25))
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let n = 40_000;
    let sampled = (0..n)
        .filter(|_| tracer.start("x").span_context().is_sampled())
        .count();
    let ratio = sampled as f64 / n as f64;
    // 6 sigma of a binomial(40000, 0.25) ≈ 0.013
    assert!((ratio - 0.25).abs() < 0.013, "ratio {ratio}");
}

#[test]
fn parent_based_follows_the_remote_parent() {
    let mem = Memory::default();
    let guard = builder(&mem, &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")])
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let parent = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from(7u128),
        opentelemetry::trace::SpanId::from(9u64),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(parent);
    assert!(tracer
        .start_with_context("child", &cx)
        .span_context()
        .is_sampled());
    assert!(!tracer.start("root").span_context().is_sampled());
}

#[test]
fn errors_and_slow_requests_are_kept_when_head_sampling_said_no() {
    let mem = Memory::default();
    let guard = builder(&mem, &[])
        .sampler(SamplerConfig::AlwaysOff)
        .keep_errors(true)
        .keep_slow(Duration::from_secs(10))
        .init()
        .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let start = SystemTime::now();

    // 1. a trace whose child fails: root + child exported
    let root = tracer.start("failing-root");
    let cx = opentelemetry::Context::new().with_span(root);
    let mut child = tracer.start_with_context("failing-child", &cx);
    child.set_status(Status::error("boom"));
    child.end();
    cx.span().end();

    // 2. a fast, healthy trace: nothing
    let root = tracer.start("ok-root");
    let cx = opentelemetry::Context::new().with_span(root);
    tracer.start_with_context("ok-child", &cx).end();
    cx.span().end();

    // 3. a slow, healthy trace: kept
    let mut slow = tracer
        .span_builder("slow-root")
        .with_start_time(start - Duration::from_secs(11))
        .start(&tracer);
    slow.end_with_timestamp(start);

    let stats = guard.stats_handle();
    drop(guard);
    let mut names = mem.names();
    names.sort();
    assert_eq!(names, vec!["failing-child", "failing-root", "slow-root"]);
    for s in mem.spans() {
        assert!(s.span_context.is_sampled());
        let why = attr(&s, "weft.sampling.kept").unwrap().as_str().to_string();
        assert_eq!(
            why,
            if s.name == "slow-root" {
                "slow"
            } else {
                "error"
            }
        );
    }
    assert_eq!(stats.snapshot().kept, 3);
}

#[test]
fn file_exporter_writes_otlp_json_and_rotates() {
    let mem = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    let guard = builder(
        &mem,
        &[
            ("OTEL_TRACES_EXPORTER", "file"),
            ("WEFT_FILE_MAX_BYTES", "600"),
            ("WEFT_FILE_MAX_FILES", "2"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1"),
            ("OTEL_SERVICE_NAME", "filesvc"),
        ],
    )
    .file_path(&file)
    .init()
    .unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    for i in 0..20 {
        tracer.start(format!("span-{i}")).end();
    }
    drop(guard);
    let mut lines = Vec::new();
    for p in [
        dir.path().join("t.jsonl.2"),
        dir.path().join("t.jsonl.1"),
        file.clone(),
    ] {
        let text = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{p:?} missing"));
        lines.extend(text.lines().map(str::to_string));
    }
    assert!(!dir.path().join("t.jsonl.3").exists());
    assert!(lines.len() < 20, "older files should have been deleted");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let rs = &v["resourceSpans"][0];
        let svc = rs["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "service.name")
            .unwrap();
        assert_eq!(svc["value"]["stringValue"], "filesvc");
        let span = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
    }
    assert!(lines.last().unwrap().contains("span-19"));
}

#[test]
fn console_tree_nests_children() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let tracer = guard.tracer_provider().tracer("t");
    let root = tracer.start("root");
    let cx = opentelemetry::Context::new().with_span(root);
    tracer.start_with_context("child", &cx).end();
    cx.span().end();
    drop(guard);
    let text = weft::render_tree("svc", &mem.spans());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("trace ") && lines[0].ends_with("(svc)"),
        "{text}"
    );
    assert!(lines[1].starts_with("└─ root"), "{text}");
    assert!(lines[2].starts_with("   └─ child"), "{text}");
}
