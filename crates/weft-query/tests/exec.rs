//! The executor against the real embedded store (WAL, head and Parquet blocks in a temporary
//! directory): order, limits, truncation, the inspection budget, time windows, paging.

mod common;

use std::sync::Arc;

use weft_model::{
    AnyValue, Batch, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, TraceId,
};
use weft_query::{execute, parse, QueryOptions, QueryResult};
use weft_store::{EmbeddedStore, FsyncPolicy, StoreOptions, TraceWriter, WriteRequest};

fn open(dir: &std::path::Path) -> EmbeddedStore {
    let mut o = StoreOptions::new(dir);
    o.fsync = FsyncPolicy::Never;
    EmbeddedStore::open(o).expect("open store").0
}

async fn write(store: &EmbeddedStore, batch: Batch) {
    store
        .write(WriteRequest {
            batch,
            otlp_protobuf: None,
        })
        .await
        .expect("write");
}

async fn run(store: &EmbeddedStore, q: &str, opts: QueryOptions) -> QueryResult {
    execute(store, &parse(q).expect("query parses"), &opts)
        .await
        .expect("query runs")
}

fn labels(r: &QueryResult, fx: &common::Fixtures) -> Vec<String> {
    r.traces
        .iter()
        .map(|t| {
            fx.traces
                .iter()
                .find(|f| {
                    f.batch.resource_spans[0].scope_spans[0].spans[0].trace_id == t.summary.trace_id
                })
                .map(|f| f.label.clone())
                .unwrap_or_else(|| t.summary.trace_id.to_hex())
        })
        .collect()
}

fn opts(limit: usize) -> QueryOptions {
    QueryOptions {
        limit,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_in_head_and_in_blocks() {
    let fx = common::load();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for t in &fx.traces {
        write(&store, t.batch.clone()).await;
    }
    for phase in ["head", "blocks"] {
        // newest first; the store narrows the candidates to traces with an error span
        let r = run(&store, "{ status = error }", opts(20)).await;
        assert_eq!(labels(&r, &fx), ["errors", "jobs", "shop"], "{phase}");
        assert!(!r.truncated, "{phase}");
        assert_eq!(r.inspected, 3, "{phase}: only candidates are fetched");
        assert_eq!(r.traces[0].summary.span_count, 5);
        assert_eq!(r.traces[0].spansets[0].matched, 4);
        assert_eq!(r.traces[0].spansets[0].spans.len(), 3, "spss defaults to 3");

        // a limit below the number of matches: the newest ones, flagged truncated
        let r = run(&store, "{ }", opts(2)).await;
        assert_eq!(labels(&r, &fx), ["clash", "tiny"], "{phase}");
        assert!(r.truncated, "{phase}");

        // pushed-down attribute: one candidate
        let r = run(&store, "{ .region = \"resource-region\" }", opts(20)).await;
        assert_eq!(labels(&r, &fx), ["clash"], "{phase}");
        assert_eq!(r.inspected, 1, "{phase}");

        // structural and pipeline queries (nothing or one side pushed down)
        let r = run(
            &store,
            "{ status = error } | by(resource.service.name) | count() > 1",
            opts(20),
        )
        .await;
        assert_eq!(labels(&r, &fx), ["errors", "shop"], "{phase}");
        let r = run(
            &store,
            "{ } !< { resource.service.name = \"cart\" }",
            opts(20),
        )
        .await;
        assert_eq!(labels(&r, &fx), ["errors", "shop"], "{phase}");

        // a time window covering only the jobs trace (spans starting in it take part)
        let t0 = 1_700_000_060_000_000_000u64;
        let r = run(
            &store,
            "{ }",
            QueryOptions {
                start: Some(t0),
                end: Some(t0 + 5_000_000_000),
                ..opts(20)
            },
        )
        .await;
        assert_eq!(labels(&r, &fx), ["jobs"], "{phase}");
        // the window bounds the spans: the step that starts 1.34 s in is outside [t0, t0+1s]
        let r = run(
            &store,
            "{ name = \"analyze.step\" }",
            QueryOptions {
                start: Some(t0),
                end: Some(t0 + 1_000_000_000),
                spans_per_spanset: 10,
                ..opts(20)
            },
        )
        .await;
        assert_eq!(r.traces[0].spansets[0].matched, 1, "{phase}");

        // the inspection budget: nothing can be pushed down, three traces may be looked at
        let r = run(
            &store,
            "{ kind = unspecified && status = unset }",
            QueryOptions {
                max_inspected_traces: 3,
                ..opts(20)
            },
        )
        .await;
        assert_eq!(labels(&r, &fx), ["tiny"], "{phase}");
        assert_eq!(r.inspected, 3, "{phase}");
        assert!(r.truncated, "{phase}: older traces were not inspected");

        store.flush().expect("cut the head into a block");
    }
    store.close();
}

/// `count` traces of one span each, the i-th starting i seconds after a base time, with
/// attribute `n = i`.
fn numbered(i: u64) -> Batch {
    let mut tid = [0u8; 16];
    tid[8..].copy_from_slice(&(i + 1).to_be_bytes());
    let start = 1_700_000_000_000_000_000 + i * 1_000_000_000;
    Batch {
        resource_spans: vec![ResourceSpans {
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String("gen".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Arc::new(Scope::default()),
                spans: vec![Span {
                    trace_id: TraceId(tid),
                    span_id: SpanId((i + 1).to_be_bytes()),
                    name: "op".into(),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000,
                    attributes: vec![KeyValue::new("n", AnyValue::Int(i as i64))],
                    ..Default::default()
                }],
            }],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_through_candidates_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..300 {
        write(&store, numbered(i)).await;
        if i == 150 {
            store.flush().unwrap();
        }
    }
    // not pushable: every trace is a candidate; matches are n = 290, 240, 190, 140, 90
    let q = "{ span.n % 50 = 40 }";
    let r = run(&store, q, opts(5)).await;
    let ns: Vec<i64> = r
        .traces
        .iter()
        .map(|t| match t.spansets[0].spans[0].attributes[0].1 {
            weft_query::Value::Int(n) => n,
            ref v => panic!("n is {v}"),
        })
        .collect();
    assert_eq!(ns, [290, 240, 190, 140, 90]);
    // stopped at the fifth match: traces 299 down to 90 were inspected
    assert_eq!(r.inspected, 210);
    assert!(r.truncated);
    // all of them: no truncation, every trace inspected once
    let r = run(&store, q, opts(100)).await;
    assert_eq!(r.traces.len(), 6);
    assert_eq!(r.inspected, 300);
    assert!(!r.truncated);
    // a pushed-down equality needs one fetch
    let r = run(&store, "{ span.n = 123 }", opts(5)).await;
    assert_eq!(r.traces.len(), 1);
    assert_eq!(r.inspected, 1);
    store.close();
}
