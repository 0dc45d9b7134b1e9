//! Property: whatever batch goes into a block comes back unchanged, span by span, with its
//! resource and scope; a trace-by-id probe finds exactly its spans.

use proptest::prelude::*;
use weft_model::FlatSpan;
use weft_store::block::{write_block, Block};

fn key(s: &FlatSpan) -> (weft_model::TraceId, weft_model::SpanId, u64) {
    (s.span.trace_id, s.span.span_id, s.span.start_time_unix_nano)
}

/// The summaries a block must hold: what `TraceSummary::add_span` builds from the spans
/// added in block order (trace id, start, span id).
fn reference_summaries(spans: &[FlatSpan]) -> Vec<weft_model::TraceSummary> {
    let mut in_order: Vec<&FlatSpan> = spans.iter().collect();
    in_order.sort_by_key(|s| (s.span.trace_id, s.span.start_time_unix_nano, s.span.span_id));
    let mut out: Vec<weft_model::TraceSummary> = Vec::new();
    for s in in_order {
        match out.last_mut() {
            Some(t) if t.trace_id == s.span.trace_id => t.add_span(s),
            _ => {
                let mut t = weft_model::TraceSummary::new(s.span.trace_id);
                t.add_span(s);
                out.push(t);
            }
        }
    }
    out
}

/// Trace summaries in the shapes that decide them: services met in any order (listed sorted,
/// once each), a root that starts after other spans (the root names the trace), no root
/// (the earliest span does; on a tie, the first in block order), two roots at one instant.
#[test]
fn summaries_name_traces_and_list_services_as_the_model_does() {
    use std::sync::Arc;
    use weft_model::{AnyValue, KeyValue, Resource, Scope, Span, SpanId, StatusCode, TraceId};
    let resource = |svc: &str| {
        Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", AnyValue::String(svc.into()))],
            ..Default::default()
        })
    };
    let (zeta, alpha, mid) = (resource("zeta"), resource("alpha"), resource("mid"));
    let scope = Arc::new(Scope::default());
    let span =
        |r: &Arc<Resource>, trace: u8, id: u8, parent: Option<u8>, name: &str, start: u64| {
            FlatSpan {
                resource: r.clone(),
                scope: scope.clone(),
                span: Span {
                    trace_id: TraceId([trace; 16]),
                    span_id: SpanId([id; 8]),
                    parent_span_id: parent.map(|p| SpanId([p; 8])),
                    name: name.into(),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 100,
                    ..Default::default()
                },
            }
        };
    let mut spans = vec![
        // no root; "first" and "second" tie on the earliest start, "first" has the lower id
        span(&zeta, 1, 1, Some(9), "first", 1_000),
        span(&alpha, 1, 2, Some(9), "second", 1_000),
        span(&mid, 1, 3, Some(9), "later", 2_000),
        span(&zeta, 1, 4, Some(9), "again", 3_000),
        // the root starts after a child
        span(&mid, 2, 1, Some(2), "child", 500),
        span(&alpha, 2, 2, None, "root", 900),
        // two roots at one instant
        span(&zeta, 3, 1, None, "root-a", 700),
        span(&alpha, 3, 2, None, "root-b", 700),
    ];
    spans[3].span.status.code = StatusCode::Error;
    let dir = tempfile::tempdir().unwrap();
    // in an order the block must not depend on
    let given: Vec<&FlatSpan> = spans.iter().rev().collect();
    let block = write_block(dir.path(), "b1", given, 0, 0, 1, vec![]).unwrap();
    let got = block.summaries().unwrap();
    assert_eq!(&*got, &reference_summaries(&spans));
    let t1 = &got[0];
    assert_eq!(
        (t1.root_service.as_str(), t1.root_name.as_str()),
        ("zeta", "first")
    );
    assert!(!t1.has_root);
    assert_eq!(
        t1.services.iter().map(String::as_str).collect::<Vec<_>>(),
        ["alpha", "mid", "zeta"]
    );
    assert_eq!((t1.span_count, t1.error_count), (4, 1));
    assert_eq!((t1.start_unix_nano, t1.end_unix_nano), (1_000, 3_100));
    assert_eq!((got[1].root_name.as_str(), got[1].has_root), ("root", true));
    assert_eq!(got[2].root_name, "root-a");
    // on disk (what any Parquet reader sees), each trace lists its services once, sorted
    use arrow_array::{cast::AsArray, Array};
    let file =
        std::fs::File::open(dir.path().join("b1").join(weft_store::block::SUMMARY_FILE)).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap();
    let mut lists: Vec<Vec<String>> = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let services = batch.column_by_name("services").unwrap().as_list::<i32>();
        for i in 0..services.len() {
            let v = services.value(i);
            let v = v.as_string::<i32>();
            lists.push((0..v.len()).map(|j| v.value(j).to_string()).collect());
        }
    }
    assert_eq!(
        lists,
        [
            vec!["alpha", "mid", "zeta"],
            vec!["alpha", "mid"],
            vec!["alpha", "zeta"]
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn block_round_trips(batch in weft_testkit::arb::batch()) {
        let dir = tempfile::tempdir().unwrap();
        let mut spans = batch.into_flat();
        spans.sort_by_key(key);
        spans.dedup_by_key(|s| key(s));
        let block = write_block(dir.path(), "b1", spans.iter().collect(), 7, 0, 1, vec![]).unwrap();
        prop_assert_eq!(block.meta.span_count as usize, spans.len());
        let mut back = block.read_all().unwrap();
        back.sort_by_key(key);
        prop_assert_eq!(&back, &spans);
        prop_assert_eq!(&*block.summaries().unwrap(), &reference_summaries(&spans));
        // reopen from disk, probe each trace
        let block = Block::open(&dir.path().join("b1")).unwrap();
        for s in &spans {
            let got = block.trace(&s.span.trace_id).unwrap();
            prop_assert!(got.iter().any(|g| g == s));
            prop_assert!(got.iter().all(|g| g.span.trace_id == s.span.trace_id));
        }
    }
}

/// Parents inside the block are stored as rows of their trace (format 2). Every shape of that
/// must read back: a child that starts before its parent (clock skew), a trace that crosses
/// row groups, a large trace, a parent outside the block, a duplicated span id, roots.
#[test]
fn parents_stored_as_rows_read_back_in_every_shape() {
    use std::sync::Arc;
    use weft_model::{Resource, Scope, Span, SpanId, TraceId};
    let resource = Arc::new(Resource::default());
    let scope = Arc::new(Scope::default());
    let mut spans = Vec::new();
    let mut mk = |trace: u8, id: u64, parent: Option<u64>, start: u64| {
        spans.push(FlatSpan {
            resource: resource.clone(),
            scope: scope.clone(),
            span: Span {
                trace_id: TraceId([trace; 16]),
                span_id: SpanId(id.to_be_bytes()),
                parent_span_id: parent.map(|p| SpanId(p.to_be_bytes())),
                name: format!("op-{id}").into(),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 10,
                ..Default::default()
            },
        })
    };
    // trace 1: a root, a child that starts before it, a parent from another block
    mk(1, 1, None, 100);
    mk(1, 2, Some(1), 50);
    mk(1, 3, Some(0xdead), 120);
    // trace 2: one chain longer than a row group, so it crosses row groups and pages, and
    // each child starts before its parent
    let long = weft_store::block::ROW_GROUP_ROWS as u64 + 5_000;
    for i in 1..=long {
        mk(2, i, (i > 1).then(|| i - 1), 1_000_000 - i);
    }
    // trace 3: a span id used twice; a child of it
    mk(3, 7, None, 10);
    mk(3, 7, None, 11);
    mk(3, 8, Some(7), 12);
    let dir = tempfile::tempdir().unwrap();
    write_block(dir.path(), "b", spans.iter().collect(), 1, 0, 1, vec![]).unwrap();
    let block = Block::open(&dir.path().join("b")).unwrap();
    let mut back = block.read_all().unwrap();
    back.sort_by_key(key);
    spans.sort_by_key(key);
    assert_eq!(back.len(), spans.len());
    assert!(back == spans, "read_all differs");
    for t in [1u8, 2, 3] {
        let mut got = block.trace(&TraceId([t; 16])).unwrap();
        got.sort_by_key(key);
        let want: Vec<_> = spans
            .iter()
            .filter(|s| s.span.trace_id == TraceId([t; 16]))
            .cloned()
            .collect();
        assert!(got == want, "trace {t} differs");
    }
    // and only the parent outside the block is stored as an id
    let file = std::fs::File::open(dir.path().join("b/spans.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let stored_ids: usize = reader
        .map(|b| {
            let b = b.unwrap();
            let c = b.column_by_name("parent_span_id").unwrap();
            c.len() - c.null_count()
        })
        .sum();
    assert_eq!(stored_ids, 1);
}

/// Keys most spans have get columns of their own. Attributes still read back in their own
/// order whatever mix a span has (a dedicated key twice, a dedicated key with another type,
/// an array next to them, keys in any order, no attributes), and a search by a dedicated key
/// finds exactly the traces a scan of the spans finds.
#[test]
fn dedicated_attribute_columns_keep_order_and_answer_searches() {
    use std::sync::Arc;
    use weft_model::{AnyValue, KeyValue, Resource, Scope, Span, SpanId, TraceId};
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new(
            "service.name",
            AnyValue::String("svc".into()),
        )],
        ..Default::default()
    });
    let scope = Arc::new(Scope::default());
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut spans = Vec::new();
    for i in 0..3000u64 {
        let mut attrs = Vec::new();
        if next(10) < 9 {
            let m = ["GET", "POST", "PUT"][next(3) as usize];
            attrs.push(KeyValue::new("http.method", AnyValue::String(m.into())));
        }
        if next(10) < 6 {
            // mostly a string, sometimes the same text as an int
            let u = next(50) as i64;
            attrs.push(KeyValue::new(
                "user.id",
                if next(5) == 0 {
                    AnyValue::Int(u)
                } else {
                    AnyValue::String(u.to_string().into())
                },
            ));
        }
        if next(20) == 0 {
            attrs.push(KeyValue::new("rare.key", AnyValue::Bool(true)));
        }
        if next(10) == 0 {
            attrs.push(KeyValue::new(
                "http.method",
                AnyValue::String("AGAIN".into()),
            ));
        }
        if next(10) == 0 {
            attrs.push(KeyValue::new(
                "tags",
                AnyValue::Array(vec![AnyValue::String("vip".into())]),
            ));
        }
        attrs.push(KeyValue::new("n", AnyValue::Int(i as i64)));
        // any order
        for k in (1..attrs.len()).rev() {
            attrs.swap(k, next(k as u64 + 1) as usize);
        }
        if next(30) == 0 {
            attrs.clear();
        }
        spans.push(FlatSpan {
            resource: resource.clone(),
            scope: scope.clone(),
            span: Span {
                trace_id: TraceId([(i % 251) as u8 + 1; 16]),
                span_id: SpanId((i + 1).to_be_bytes()),
                name: "op".into(),
                start_time_unix_nano: 1_000 + i,
                end_time_unix_nano: 2_000 + i,
                attributes: attrs,
                ..Default::default()
            },
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let block = write_block(dir.path(), "b", spans.iter().collect(), 1, 0, 1, vec![]).unwrap();
    let keys = &block.meta.dedicated_keys;
    assert!(keys.contains(&"http.method".to_string()), "{keys:?}");
    assert!(keys.contains(&"user.id".to_string()), "{keys:?}");
    assert!(keys.contains(&"n".to_string()), "{keys:?}");
    assert!(!keys.contains(&"rare.key".to_string()), "{keys:?}");
    let block = Block::open(&dir.path().join("b")).unwrap();
    let mut back = block.read_all().unwrap();
    back.sort_by_key(key);
    spans.sort_by_key(key);
    assert!(
        back == spans,
        "attributes changed on the way through the block"
    );
    for (k, v) in [
        ("http.method", "POST"),
        ("http.method", "AGAIN"),
        ("user.id", "7"),
        ("user.id", "49"),
        ("rare.key", "true"),
        ("tags", "vip"),
        ("n", "1234"),
    ] {
        let q = weft_store::SearchQuery {
            attributes: vec![(k.into(), v.into())],
            limit: 10_000,
            ..Default::default()
        };
        let mut found = Vec::new();
        block.search(&q, &mut found).unwrap();
        let mut got: Vec<TraceId> = found.iter().map(|(t, _)| *t).collect();
        got.sort();
        got.dedup();
        let mut want: Vec<TraceId> = spans
            .iter()
            .filter(|s| {
                s.span
                    .attributes
                    .iter()
                    .any(|kv| kv.key == k && weft_store::terms::value_matches(&kv.value, v))
            })
            .map(|s| s.span.trace_id)
            .collect();
        want.sort();
        want.dedup();
        assert!(!want.is_empty(), "{k}={v} matches nothing: a weak case");
        assert_eq!(got, want, "{k}={v}");
    }
}

/// The detail cell of a span with no events, links or trace state and only scalar attributes
/// is written from the cut's row, not from the span: its flags and dropped counts must still
/// come back, next to spans whose detail holds more.
#[test]
fn plain_and_rich_detail_cells_read_back() {
    use std::sync::Arc;
    use weft_model::{AnyValue, Event, KeyValue, Resource, Scope, Span, SpanId, TraceId};
    let resource = Arc::new(Resource::default());
    let scope = Arc::new(Scope::default());
    let span = |i: u8| Span {
        trace_id: TraceId([i; 16]),
        span_id: SpanId([i; 8]),
        name: "op".into(),
        start_time_unix_nano: 100,
        end_time_unix_nano: 200,
        attributes: vec![KeyValue::new("k", AnyValue::Int(i.into()))],
        flags: 0x301,
        dropped_attributes_count: 3,
        dropped_events_count: 4,
        dropped_links_count: 5,
        ..Default::default()
    };
    let mut spans: Vec<FlatSpan> = (1..=3)
        .map(|i| FlatSpan {
            resource: resource.clone(),
            scope: scope.clone(),
            span: span(i),
        })
        .collect();
    spans[1].span.events = vec![Event {
        name: "e".into(),
        time_unix_nano: 150,
        ..Default::default()
    }];
    spans[2].span.trace_state = "k=v".into();
    spans[2].span.attributes.push(KeyValue::new(
        "list",
        AnyValue::Array(vec![AnyValue::Int(1)]),
    ));
    let dir = tempfile::tempdir().unwrap();
    write_block(dir.path(), "b1", spans.iter().collect(), 1, 0, 1, vec![]).unwrap();
    let mut back = Block::open(&dir.path().join("b1"))
        .unwrap()
        .read_all()
        .unwrap();
    back.sort_by_key(key);
    assert_eq!(back, spans);
}
