//! Property: whatever batch goes into a block comes back unchanged, span by span, with its
//! resource and scope; a trace-by-id probe finds exactly its spans.

use proptest::prelude::*;
use weft_model::FlatSpan;
use weft_store::block::{write_block, Block};

fn key(s: &FlatSpan) -> (weft_model::TraceId, weft_model::SpanId, u64) {
    (s.span.trace_id, s.span.span_id, s.span.start_time_unix_nano)
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
        // reopen from disk, probe each trace
        let block = Block::open(&dir.path().join("b1")).unwrap();
        for s in &spans {
            let got = block.trace(&s.span.trace_id).unwrap();
            prop_assert!(got.iter().any(|g| g == s));
            prop_assert!(got.iter().all(|g| g.span.trace_id == s.span.trace_id));
        }
    }
}
