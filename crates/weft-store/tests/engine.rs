//! The embedded engine end to end (in-process): writes are visible at once, survive a restart
//! through WAL replay, read the same from the head and from blocks, and searches agree.

use std::sync::Arc;
use weft_model::{
    AnyValue, Batch, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use weft_store::{
    EmbeddedStore, SearchQuery, StoreOptions, TraceReader, TraceWriter, WriteRequest,
};

fn tid(i: u64) -> TraceId {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&i.wrapping_mul(0x9E3779B97F4A7C15).to_be_bytes());
    t[8..].copy_from_slice(&(i + 1).to_be_bytes());
    TraceId(t)
}

fn batch(trace: u64, service: &str, spans: u64, error: bool) -> Batch {
    let resource = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", AnyValue::String(service.into())),
            KeyValue::new("region", AnyValue::String("eu".into())),
        ],
        ..Default::default()
    });
    let scope = Arc::new(Scope {
        name: "test".into(),
        version: "1".into(),
        ..Default::default()
    });
    let t0 = 1_700_000_000_000_000_000 + trace * 1_000_000_000;
    let spans = (0..spans)
        .map(|k| Span {
            trace_id: tid(trace),
            span_id: SpanId((trace * 100 + k + 1).to_be_bytes()),
            parent_span_id: (k > 0).then(|| SpanId((trace * 100 + 1).to_be_bytes())),
            name: if k == 0 {
                "root".into()
            } else {
                format!("child-{k}").into()
            },
            kind: if k == 0 {
                SpanKind::Server
            } else {
                SpanKind::Internal
            },
            start_time_unix_nano: t0 + k * 1000,
            end_time_unix_nano: t0 + k * 1000 + 5_000_000 * (k + 1),
            attributes: vec![
                KeyValue::new(
                    "user.id",
                    AnyValue::String(format!("u{}", trace % 3).into()),
                ),
                KeyValue::new(
                    "http.response.status_code",
                    AnyValue::Int(if error { 500 } else { 200 }),
                ),
                KeyValue::new(
                    "nested",
                    AnyValue::KvList(vec![KeyValue::new("a", AnyValue::Bytes(vec![1, 2]))]),
                ),
            ],
            status: Status {
                code: if error && k == spans - 1 {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                message: String::new(),
            },
            ..Default::default()
        })
        .collect();
    Batch {
        resource_spans: vec![ResourceSpans {
            resource,
            scope_spans: vec![ScopeSpans { scope, spans }],
        }],
    }
}

fn opts(dir: &std::path::Path) -> StoreOptions {
    let mut o = StoreOptions::new(dir);
    o.maintenance_interval = std::time::Duration::from_secs(3600); // tests drive cuts themselves
    o.block_max_age = std::time::Duration::from_secs(3600);
    o
}

async fn write(s: &EmbeddedStore, b: Batch) {
    s.write(WriteRequest {
        batch: b,
        otlp_protobuf: None,
    })
    .await
    .unwrap();
}

fn sorted(b: Batch) -> Vec<weft_model::FlatSpan> {
    let mut v = b.into_flat();
    v.sort_by_key(|s| s.span.span_id);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn write_read_replay_cut_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = EmbeddedStore::open(opts(dir.path())).unwrap();
    for t in 0..30 {
        write(
            &s,
            batch(t, if t % 2 == 0 { "even" } else { "odd" }, 4, t % 5 == 0),
        )
        .await;
    }
    // visible at once, from the head
    let got = s.trace(tid(7)).await.unwrap().unwrap();
    assert_eq!(sorted(got.clone()), sorted(batch(7, "odd", 4, false)));
    let queries = [
        SearchQuery {
            service: Some("even".into()),
            limit: 100,
            ..Default::default()
        },
        SearchQuery {
            errors_only: true,
            limit: 100,
            ..Default::default()
        },
        SearchQuery {
            attributes: vec![
                ("user.id".into(), "u1".into()),
                ("http.response.status_code".into(), "200".into()),
            ],
            limit: 100,
            ..Default::default()
        },
        SearchQuery {
            attributes: vec![("region".into(), "eu".into())],
            span_name: Some("child-3".into()),
            limit: 5,
            ..Default::default()
        },
        SearchQuery {
            min_duration_nanos: Some(20_000_000),
            limit: 100,
            ..Default::default()
        },
        SearchQuery {
            start_unix_nano: Some(1_700_000_010_000_000_000),
            end_unix_nano: Some(1_700_000_012_000_000_000),
            limit: 100,
            ..Default::default()
        },
    ];
    let mut from_head = Vec::new();
    for q in &queries {
        from_head.push(s.search(q).await.unwrap());
    }
    assert_eq!(from_head[0].traces.len(), 15);
    assert_eq!(from_head[1].traces.len(), 6);
    assert!(from_head[1].traces.iter().all(|t| t.error_count == 1));
    // user u1 is traces 1, 4, ..., 28 (10); of those, 10 and 25 answered 500
    assert_eq!(from_head[2].traces.len(), 8);
    assert_eq!(from_head[3].traces.len(), 5);
    assert!(from_head[3].truncated);
    assert_eq!(from_head[3].traces[0].trace_id, tid(29), "newest first");
    assert_eq!(from_head[4].traces.len(), 30);
    assert_eq!(from_head[5].traces.len(), 3);
    let summary = &from_head[0].traces[0];
    assert_eq!(
        (
            summary.root_name.as_str(),
            summary.span_count,
            summary.has_root
        ),
        ("root", 4, true)
    );

    // restart: the WAL replays everything
    s.close();
    let (s, report) = EmbeddedStore::open(opts(dir.path())).unwrap();
    assert_eq!(report.replayed_spans, 120);
    assert_eq!(
        sorted(s.trace(tid(7)).await.unwrap().unwrap()),
        sorted(got.clone())
    );

    // cut into a block: the same answers, the WAL segments it covers are gone
    s.flush().unwrap();
    let stats = s.stats();
    assert_eq!(
        (stats.head_spans, stats.block_count, stats.block_spans),
        (0, 1, 120)
    );
    assert_eq!(sorted(s.trace(tid(7)).await.unwrap().unwrap()), sorted(got));
    for (q, want) in queries.iter().zip(&from_head) {
        assert_eq!(&s.search(q).await.unwrap(), want, "{q:?}");
    }
    assert!(s.trace(tid(999)).await.unwrap().is_none());
    assert_eq!(
        s.services().await.unwrap(),
        vec!["even".to_string(), "odd".to_string()]
    );
    let ops = s.operations("odd").await.unwrap();
    assert_eq!(ops.len(), 4);

    // and after another restart nothing is replayed twice
    s.close();
    let (s, report) = EmbeddedStore::open(opts(dir.path())).unwrap();
    assert_eq!(report.replayed_spans, 0);
    assert_eq!(report.blocks, 1);
    assert_eq!(s.trace(tid(3)).await.unwrap().unwrap().span_count(), 4);
    s.close();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_split_over_head_and_blocks_reads_whole_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = EmbeddedStore::open(opts(dir.path())).unwrap();
    let whole = batch(1, "svc", 6, true);
    let mut first = whole.clone();
    let tail = first.resource_spans[0].scope_spans[0].spans.split_off(3);
    let mut second = whole.clone();
    second.resource_spans[0].scope_spans[0].spans = tail;
    write(&s, first.clone()).await;
    s.flush().unwrap();
    write(&s, second).await;
    write(&s, first).await; // an exporter's retry: the same spans again
    let got = s.trace(tid(1)).await.unwrap().unwrap();
    assert_eq!(sorted(got), sorted(whole));
    let r = s
        .search(&SearchQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.traces.len(), 1);
    assert_eq!(r.traces[0].error_count, 1);
    s.close();
}

/// Successive heads, each cut into a block, hold only their own spans: nothing of a head
/// already written shows in the heads and blocks that follow.
#[tokio::test(flavor = "multi_thread")]
async fn successive_heads_hold_only_their_own_spans() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = EmbeddedStore::open(opts(dir.path())).unwrap();
    let rounds: u64 = 4;
    // a different number of traces, and of spans per trace, each round: stale spans or a
    // stale trace index would then change what is read
    let traces = |round: u64| 5 + round * 3;
    let per_trace = |round: u64| 2 + round;
    for round in 0..rounds {
        for t in 0..traces(round) {
            write(&s, batch(round * 100 + t, "svc", per_trace(round), t == 0)).await;
        }
        let st = s.stats();
        assert_eq!(
            st.head_spans,
            traces(round) * per_trace(round),
            "round {round}: the head holds this round only"
        );
        for t in [1, 2, traces(round) - 1] {
            let got = s.trace(tid(round * 100 + t)).await.unwrap().unwrap();
            let want = batch(round * 100 + t, "svc", per_trace(round), false);
            assert_eq!(sorted(got), sorted(want), "round {round}, trace {t}");
        }
        if round > 0 {
            // the previous round is in a block now, read back whole, once
            let last = round - 1;
            let got = s.trace(tid(last * 100)).await.unwrap().unwrap();
            assert_eq!(
                sorted(got),
                sorted(batch(last * 100, "svc", per_trace(last), true))
            );
        }
        s.flush().unwrap();
        assert_eq!(s.stats().head_spans, 0);
        assert_eq!(s.stats().block_count, round + 1);
    }
    let total: u64 = (0..rounds).map(|r| traces(r) * per_trace(r)).sum();
    assert_eq!(s.stats().block_spans, total);
    let r = s
        .search(&SearchQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let all_traces: u64 = (0..rounds).map(traces).sum();
    assert_eq!(r.traces.len() as u64, all_traces);
    for t in &r.traces {
        let round = (0..rounds)
            .find(|&r| (0..traces(r)).any(|k| tid(r * 100 + k) == t.trace_id))
            .expect("a written trace");
        assert_eq!(t.span_count, per_trace(round), "{t:?}");
    }
    assert_eq!(
        r.traces.iter().filter(|t| t.error_count > 0).count() as u64,
        rounds
    );
    s.close();
}

/// A store in a new directory (kept while the first value lives) whose memory limit is
/// `max_memory_bytes`.
fn store_with_memory_limit(max_memory_bytes: usize) -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.max_memory_bytes = max_memory_bytes;
    let (s, _) = EmbeddedStore::open(o).unwrap();
    (dir, s)
}

/// Writes `b`: whether the store took it (`false`: refused as overloaded, the only error
/// allowed).
async fn admitted(s: &EmbeddedStore, b: Batch) -> bool {
    match s
        .write(WriteRequest {
            batch: b,
            otlp_protobuf: None,
        })
        .await
    {
        Ok(()) => true,
        Err(weft_store::StoreError::Overloaded(_)) => false,
        Err(e) => panic!("a write failed otherwise than overloaded: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_is_reported_not_buffered_without_bound() {
    let (_dir, s) = store_with_memory_limit(20_000);
    let mut refused = 0;
    for t in 0..200 {
        if !admitted(&s, batch(t, "svc", 4, false)).await {
            refused += 1;
        }
    }
    assert!(refused > 0, "the memory limit never refused a write");
    // a cut frees memory and writes are accepted again
    s.flush().unwrap();
    s.write(WriteRequest {
        batch: batch(500, "svc", 4, false),
        otlp_protobuf: None,
    })
    .await
    .unwrap();
    s.close();
}

/// One trace of one span whose `gen_ai.prompt` attribute is `prompt`.
fn llm_batch(trace: u64, prompt: &str) -> Batch {
    let mut b = batch(trace, "llm", 1, false);
    b.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(KeyValue::new(
            "gen_ai.prompt",
            AnyValue::String(prompt.into()),
        ));
    b
}

/// The memory limit counts attribute values: spans carrying large ones (an LLM span's prompt
/// and completion) are refused once they fill it, not held until memory runs out.
#[tokio::test(flavor = "multi_thread")]
async fn memory_limit_counts_large_attribute_values() {
    let (_dir, s) = store_with_memory_limit(1 << 20);
    // 300 kB each: four of them are over the limit, between two rounds of the cutter (200 ms)
    // even on a disk that takes 50 ms per fsync
    let prompt = "x".repeat(300_000);
    let mut refused = 0;
    for t in 0..30 {
        if !admitted(&s, llm_batch(t, &prompt)).await {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "9 MB of attribute values were taken under a 1 MiB limit"
    );
    s.close();
}

/// Compaction holds the blocks it merges in memory: blocks of spans with large attribute
/// values are not merged past a quarter of the memory limit (the most the head may hold),
/// however few spans they have; every span stays readable.
#[tokio::test(flavor = "multi_thread")]
async fn compaction_merges_no_more_bytes_than_a_quarter_of_the_memory_limit() {
    let (_dir, s) = store_with_memory_limit(4 << 20);
    // four blocks of one span each, each span with 600 kB of distinct text: any two of them
    // are over 1 MiB
    for t in 0..4u64 {
        let prompt: String = (0..600_000u64)
            .map(|i| char::from(b'a' + ((i * 7 + t * 13 + i / 26) % 26) as u8))
            .collect();
        let b = llm_batch(t, &prompt);
        write(&s, b).await;
        s.flush().unwrap();
    }
    assert_eq!(s.stats().block_count, 4);
    while s.compact().unwrap() {}
    assert_eq!(
        s.stats().block_count,
        4,
        "blocks over the limit together were merged"
    );
    for t in 0..4u64 {
        let spans = s.trace(tid(t)).await.unwrap().unwrap().into_flat();
        assert_eq!(spans.len(), 1);
        let AnyValue::String(p) = spans[0].span.attribute("gen_ai.prompt").unwrap() else {
            panic!("the prompt is not a string")
        };
        assert_eq!(p.len(), 600_000);
    }
    s.close();
}

/// Spans that fill the memory limit before the head holds `block_max_spans` of them (large
/// LLM spans do) get the head cut at once: writers are refused for a moment, not until the
/// head is `block_max_age` old.
#[tokio::test(flavor = "multi_thread")]
async fn memory_pressure_cuts_the_head_without_waiting_for_its_age() {
    // (`opts` leaves the head an hour before its age makes it due)
    let (_dir, s) = store_with_memory_limit(20_000);
    let started = std::time::Instant::now();
    let (mut accepted, mut refused) = (0, 0);
    let mut t = 0;
    while accepted < 100 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{accepted} writes accepted, {refused} refused in 30 s: the head is not cut"
        );
        if admitted(&s, batch(t, "svc", 4, false)).await {
            accepted += 1;
            t += 1;
        } else {
            refused += 1;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    assert!(refused > 0, "the memory limit never refused a write");
    assert!(s.stats().block_count > 1, "the head was never cut");
    s.close();
}

#[tokio::test(flavor = "multi_thread")]
async fn limited_search_equals_brute_force_across_overlapping_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = EmbeddedStore::open(opts(dir.path())).unwrap();
    // traces whose start times interleave across blocks (a block's time range overlaps others)
    let order: Vec<u64> = (0..90).map(|i| (i * 37) % 90).collect();
    for (k, chunk) in order.chunks(30).enumerate() {
        for &t in chunk {
            write(
                &s,
                batch(t, if t % 3 == 0 { "a" } else { "b" }, 3, t % 4 == 0),
            )
            .await;
        }
        if k < 2 {
            s.flush().unwrap(); // two blocks, the rest stays in the head
        }
    }
    for (q, pick) in [
        (
            SearchQuery {
                limit: 7,
                ..Default::default()
            },
            Box::new(|_t: u64| true) as Box<dyn Fn(u64) -> bool>,
        ),
        (
            SearchQuery {
                service: Some("a".into()),
                limit: 4,
                ..Default::default()
            },
            Box::new(|t: u64| t.is_multiple_of(3)),
        ),
        (
            SearchQuery {
                errors_only: true,
                limit: 5,
                ..Default::default()
            },
            Box::new(|t: u64| t.is_multiple_of(4)),
        ),
    ] {
        let got = s.search(&q).await.unwrap();
        // brute force: every matching trace, newest first (batch() starts trace t at t seconds)
        let mut want: Vec<u64> = (0..90).filter(|&t| pick(t)).collect();
        want.sort_by(|a, b| b.cmp(a));
        let total = want.len();
        want.truncate(q.limit);
        let got_ids: Vec<TraceId> = got.traces.iter().map(|t| t.trace_id).collect();
        assert_eq!(
            got_ids,
            want.iter().map(|&t| tid(t)).collect::<Vec<_>>(),
            "{q:?}"
        );
        assert_eq!(got.truncated, total > q.limit, "{q:?}");
        assert!(got.traces.iter().all(|t| t.span_count == 3));
    }
    s.close();
}

/// Attribute searches over a block of many row groups read only the row groups whose term
/// filter may hold the value, and still find exactly what a brute-force scan finds (span
/// attributes and resource attributes alike).
#[test]
fn attribute_search_reads_only_row_groups_that_may_hold_the_term() {
    let dir = tempfile::tempdir().unwrap();
    let eu = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", AnyValue::String("api".into())),
            KeyValue::new("region", AnyValue::String("eu".into())),
        ],
        ..Default::default()
    });
    let us = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", AnyValue::String("api".into())),
            KeyValue::new("region", AnyValue::String("us".into())),
        ],
        ..Default::default()
    });
    let scope = Arc::new(Scope::default());
    // traces of 4 spans, as many as rows in a row group: four row groups, sorted by trace id
    // (enough for a scan to be split over threads)
    let traces = weft_store::block::ROW_GROUP_ROWS as u64;
    let mut spans = Vec::new();
    for t in 0..traces {
        for k in 0..4u64 {
            let resource = if t == 4242 { us.clone() } else { eu.clone() };
            spans.push(weft_model::FlatSpan {
                resource,
                scope: scope.clone(),
                span: Span {
                    trace_id: tid(t),
                    span_id: SpanId((t * 10 + k + 1).to_be_bytes()),
                    name: "op".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000 + t * 1_000_000 + k,
                    end_time_unix_nano: 1_700_000_000_000_000_000 + t * 1_000_000 + k + 10,
                    attributes: {
                        let mut a = vec![
                            KeyValue::new("order.id", AnyValue::Int(t as i64)),
                            KeyValue::new("tier", AnyValue::String(format!("t{}", t % 4).into())),
                        ];
                        if t == 777 {
                            a.push(KeyValue::new(
                                "tags",
                                AnyValue::Array(vec![
                                    AnyValue::String("vip".into()),
                                    AnyValue::Int(3),
                                ]),
                            ));
                        }
                        a
                    },
                    ..Default::default()
                },
            });
        }
    }
    let refs: Vec<&weft_model::FlatSpan> = spans.iter().collect();
    let block = weft_store::block::write_block(dir.path(), "b1", refs, 0, 0, 0, vec![]).unwrap();
    let q = |k: &str, v: &str| SearchQuery {
        attributes: vec![(k.into(), v.into())],
        limit: 100_000,
        ..Default::default()
    };
    let found = |q: &SearchQuery| {
        let mut out = Vec::new();
        block.search(q, &mut out).unwrap();
        let mut ids: Vec<TraceId> = out.into_iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    // one trace holds order.id=777 (an int, searched as text): one row group of four is read
    let rare = q("order.id", "777");
    assert_eq!(found(&rare), vec![tid(777)]);
    let (read, total) = block.row_groups_read(&rare);
    assert_eq!(total, 4);
    assert_eq!(read, 1, "only the row group holding the value is read");
    // a trace-by-id probe decodes only the pages that may hold the trace, not its row group
    let rows = block.trace_rows_read(&tid(777));
    assert!(
        rows > 0 && rows <= 2 * weft_store::block::PAGE_ROWS,
        "a probe decoded {rows} rows"
    );
    assert_eq!(block.trace(&tid(777)).unwrap().len(), 4);
    // an element of an array attribute, by its text
    for v in ["vip", "3"] {
        let tags = q("tags", v);
        assert_eq!(found(&tags), vec![tid(777)], "tags={v}");
        assert_eq!(block.row_groups_read(&tags).0, 1);
    }
    // the array itself reads back whole
    let back = block.trace(&tid(777)).unwrap();
    assert!(back.iter().all(|s| s
        .span
        .attribute("tags")
        .is_some_and(|v| matches!(v, AnyValue::Array(a) if a.len() == 2))));
    // a resource attribute: found through the same filters
    let region = q("region", "us");
    assert_eq!(found(&region), vec![tid(4242)]);
    assert_eq!(block.row_groups_read(&region).0, 1);
    // a value no span has: nothing is read
    let none = q("order.id", "123456789");
    assert!(found(&none).is_empty());
    assert_eq!(block.row_groups_read(&none).0, 0);
    // a common value: every row group, and exactly the brute-force answer
    let tier = q("tier", "t1");
    let mut want: Vec<TraceId> = (0..traces).filter(|t| t % 4 == 1).map(tid).collect();
    want.sort();
    assert_eq!(found(&tier), want);
    assert_eq!(block.row_groups_read(&tier).0, 4);
    // two conditions must both be possible in a row group
    let both = SearchQuery {
        attributes: vec![
            ("order.id".into(), "777".into()),
            ("region".into(), "us".into()),
        ],
        limit: 10,
        ..Default::default()
    };
    assert!(found(&both).is_empty());
}

/// Levels and span counts of the blocks on disk, oldest data first.
fn block_shapes(dir: &std::path::Path) -> Vec<(u32, u64)> {
    let mut metas: Vec<weft_store::block::BlockMeta> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path().join("meta.json"))
        .filter(|p| p.exists())
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    metas.sort_by_key(|m| m.min_start_unix_nano);
    metas.iter().map(|m| (m.level, m.span_count)).collect()
}

/// Under a steady stream of writes, a head is sealed as soon as it is full, by the WAL writer,
/// and cut on its own: blocks stay at `block_max_spans` or just under it, however far the
/// cutter lags (so that `compaction_fan_in` of them fit in one compacted block), instead
/// of one head growing until the cutter comes back (a bigger block costs more per span to cut,
/// which is how a lagging cutter used to fall further behind). Nothing is lost on the way.
#[tokio::test(flavor = "multi_thread")]
async fn full_heads_are_sealed_as_they_fill_and_cut_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.block_max_spans = 10;
    o.compaction_max_spans = 40;
    let (s, _) = EmbeddedStore::open(o).unwrap();
    // 30 requests of 4 spans, acknowledged one after the other: faster than the cutter's
    // 200 ms round, so the old cutter found all of them in one head
    for t in 0..30 {
        write(&s, batch(t, "svc", 4, false)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // every full head gets cut; what is left is the one head not yet full (at most 9 spans,
    // and it stays because `block_max_age` is an hour)
    while s.stats().head_spans >= 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "full heads were not cut: {:?}",
            s.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stats = s.stats();
    assert_eq!(stats.block_spans + stats.head_spans, 120, "{stats:?}");
    let shapes = block_shapes(dir.path());
    assert!(shapes.len() >= 12, "one block per full head: {shapes:?}");
    // a head is sealed before the batch that would overfill it: at most 10 spans, and at
    // least 10 - 4 + 1 (here 8: two batches of 4, as a third would make 12)
    assert!(
        shapes
            .iter()
            .all(|&(level, spans)| level == 0 && (7..=10).contains(&spans)),
        "{shapes:?}"
    );
    // four such blocks fit in one compacted block of at most 40 spans (blocks of 12 would not)
    while s.compact().unwrap() {}
    let merged = block_shapes(dir.path());
    assert!(
        merged
            .iter()
            .filter(|&&(level, spans)| level == 1 && spans == 32)
            .count()
            >= 3,
        "{merged:?}"
    );
    for t in 0..30 {
        let got = s.trace(tid(t)).await.unwrap().unwrap();
        assert_eq!(sorted(got), sorted(batch(t, "svc", 4, false)), "trace {t}");
    }
    s.close();
}

/// Under load, a head sealed after a cut takes the cut head's memory; the spans of the cut
/// head never reappear in the new one, and nothing is lost.
#[tokio::test]
async fn a_new_head_reuses_the_memory_of_the_head_cut_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.block_max_spans = 10;
    let (s, _) = EmbeddedStore::open(o).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut t = 0;
    // rounds of three requests of 4 spans (each round seals a head of 8); each round waits
    // for the cutter, whose cut leaves its memory to the head the next round seals
    while s.stats().head_storage_reused < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no head reused a cut head's memory: {:?}",
            s.stats()
        );
        for _ in 0..3 {
            t += 1;
            write(&s, batch(t, "svc", 4, false)).await;
        }
        // the open head holds at most 8 (a batch that would take it past 10 seals it first):
        // more means a sealed head waits for the cutter
        while s.stats().head_spans > 8 {
            assert!(std::time::Instant::now() < deadline, "{:?}", s.stats());
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let stats = s.stats();
    assert_eq!(stats.block_spans + stats.head_spans, 4 * t, "{stats:?}");
    for t in 1..=t {
        let got = s.trace(tid(t)).await.unwrap().unwrap();
        assert_eq!(sorted(got), sorted(batch(t, "svc", 4, false)), "trace {t}");
    }
    // the head holds only what came after the last seal
    assert!(stats.head_spans <= 8, "{stats:?}");
    s.close();
}

/// Blocks of mixed sizes never stall compaction: a run that the size limit cuts short is
/// merged as far as it fits, and a level-0 block that no neighbour can join is rewritten alone
/// one level up (stronger compression); a block over the limit is left alone. Nothing is lost.
#[tokio::test]
async fn compaction_merges_what_fits_and_promotes_blocks_no_neighbour_can_join() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.compaction_fan_in = 4;
    o.compaction_max_spans = 10;
    let (s, _) = EmbeddedStore::open(o).unwrap();
    let sizes = [3u64, 4, 6, 5, 12, 2];
    for (i, n) in sizes.iter().enumerate() {
        write(&s, batch(i as u64 + 1, "svc", *n, false)).await;
        s.flush().unwrap();
    }
    assert_eq!(
        block_shapes(dir.path()),
        [(0, 3), (0, 4), (0, 6), (0, 5), (0, 12), (0, 2)]
    );
    // 3+4 fit, +6 would not: the run of two is merged
    assert!(s.compact().unwrap());
    assert_eq!(
        block_shapes(dir.path()),
        [(1, 7), (0, 6), (0, 5), (0, 12), (0, 2)]
    );
    // 6+5 > 10: the 6 is stuck and goes up alone; 12 is over the limit and stays
    assert!(s.compact().unwrap());
    assert_eq!(
        block_shapes(dir.path()),
        [(1, 7), (1, 6), (0, 5), (0, 12), (0, 2)]
    );
    assert!(s.compact().unwrap()); // 5 cannot join 12: up alone
    assert_eq!(
        block_shapes(dir.path()),
        [(1, 7), (1, 6), (1, 5), (0, 12), (0, 2)]
    );
    // the newest small block waits for company; 7+6 > 10 and level-1 blocks are never
    // rewritten alone
    assert!(!s.compact().unwrap());
    for (i, n) in sizes.iter().enumerate() {
        let t = s.trace(tid(i as u64 + 1)).await.unwrap().unwrap();
        assert_eq!(t.span_count() as u64, *n, "trace {}", i + 1);
    }
}

/// Every kind of search condition answers the same from the head and from a block (where a
/// block search reads only the columns its conditions need), and each one filters: the
/// answer is exactly the traces a brute-force check picks.
#[tokio::test(flavor = "multi_thread")]
async fn each_search_condition_filters_alike_in_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = EmbeddedStore::open(opts(dir.path())).unwrap();
    // trace t: 1 + t % 4 spans (span k lasts 5 ms × (k + 1)), service a when t % 3 == 0,
    // an error when t % 5 == 0, user.id u{t % 3}, starting at t seconds
    for t in 0..30u64 {
        let svc = if t % 3 == 0 { "a" } else { "b" };
        write(&s, batch(t, svc, 1 + t % 4, t % 5 == 0)).await;
    }
    let t0 = 1_700_000_000_000_000_000u64;
    let q = |f: &dyn Fn(&mut SearchQuery)| {
        let mut q = SearchQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    type Pick = Box<dyn Fn(u64) -> bool>;
    let cases: Vec<(SearchQuery, Pick)> = vec![
        (
            q(&|q| q.span_name = Some("child-2".into())),
            Box::new(|t| t % 4 >= 2),
        ),
        (
            q(&|q| q.min_duration_nanos = Some(12_000_000)),
            Box::new(|t| t % 4 >= 2),
        ),
        (
            q(&|q| q.max_duration_nanos = Some(1_000_000)),
            Box::new(|_| false),
        ),
        (q(&|q| q.errors_only = true), Box::new(|t| t % 5 == 0)),
        (
            q(&|q| {
                q.service = Some("a".into());
                q.span_name = Some("child-1".into());
            }),
            Box::new(|t| t % 3 == 0 && t % 4 >= 1),
        ),
        (
            q(&|q| q.attributes = vec![("user.id".into(), "u1".into())]),
            Box::new(|t| t % 3 == 1),
        ),
        (
            q(&|q| q.start_unix_nano = Some(t0 + 20 * 1_000_000_000)),
            Box::new(|t| t >= 20),
        ),
    ];
    for place in ["head", "blocks"] {
        if place == "blocks" {
            s.flush().unwrap();
        }
        for (q, pick) in &cases {
            let got: std::collections::BTreeSet<TraceId> = s
                .search(q)
                .await
                .unwrap()
                .traces
                .iter()
                .map(|t| t.trace_id)
                .collect();
            let want = (0..30u64).filter(|&t| pick(t)).map(tid).collect();
            assert_eq!(got, want, "{place}: {q:?}");
        }
    }
    s.close();
}

/// When writes outrun the cutter, the heads waiting for it are written into blocks several at
/// a time (`cut_parallelism`), each still one block of its own. WAL segments go only with
/// their heads' blocks, so a restart neither loses nor repeats a span.
#[tokio::test(flavor = "multi_thread")]
async fn waiting_heads_are_cut_in_parallel_and_nothing_is_lost_or_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.block_max_spans = 10;
    o.cut_parallelism = 3;
    let (s, _) = EmbeddedStore::open(o.clone()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut t = 0;
    // rounds of 40 concurrent requests of 4 spans: one WAL group seals about 20 heads at once,
    // far more than the cutter takes at a time
    while s.stats().heads_cut_in_parallel == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no heads were cut in parallel: {:?}",
            s.stats()
        );
        let mut round = tokio::task::JoinSet::new();
        for t in t..t + 40 {
            let s = s.clone();
            round.spawn(async move { write(&s, batch(t, "svc", 4, false)).await });
        }
        round.join_all().await;
        t += 40;
    }
    // every full head gets cut; what is left is the one head not yet full
    while s.stats().head_spans >= 10 {
        assert!(std::time::Instant::now() < deadline, "{:?}", s.stats());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stats = s.stats();
    assert_eq!(stats.block_spans + stats.head_spans, 4 * t, "{stats:?}");
    let shapes = block_shapes(dir.path());
    assert!(
        shapes
            .iter()
            .all(|&(level, spans)| level == 0 && (7..=10).contains(&spans)),
        "one block per head: {shapes:?}"
    );
    s.close();
    // the restart replays only the WAL of the head that was never cut
    let (s, report) = EmbeddedStore::open(o).unwrap();
    assert_eq!(report.replayed_spans, stats.head_spans, "{report:?}");
    assert_eq!(s.stats().block_spans + s.stats().head_spans, 4 * t);
    for t in 0..t {
        let got = s.trace(tid(t)).await.unwrap().unwrap();
        assert_eq!(sorted(got), sorted(batch(t, "svc", 4, false)), "trace {t}");
    }
    s.close();
}
