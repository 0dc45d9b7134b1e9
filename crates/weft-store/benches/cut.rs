//! Cutting the head into a block: `write_block` over 100,000 spans of `weft bench`'s default
//! workload (10 spans per trace across five services, four extra integer attributes, 1%
//! errors), with equal resources and scopes shared as the head shares them. This is the
//! cutter's whole job (sort, summaries, columns, Parquet, blooms, fsync) and, under
//! `weft bench`, about half of the server's CPU.
//!
//! `write_block level 1` writes the same spans as compaction does (stronger compression);
//! both levels' bytes per span are printed first.
//!
//! `cargo bench -p weft-store --bench cut`; `CUT_SPANS=1000000` cuts a head of the size the
//! server cuts under load, whose arrays no longer fit in the cache.
//!
//! The `probe` group reads one trace back by id from such a block, as `GET
//! /api/v1/traces/{id}` does from each block whose bloom filter admits the id: from a block
//! as cut (level 0) and from one as compaction writes it (level 1, stronger compression).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use std::sync::Arc;
use weft_model::{FlatSpan, Resource, Scope};
use weft_proto::otlp;
use weft_proto::synthetic::Workload;

/// The workload's spans, generated once for both groups.
fn spans() -> &'static [FlatSpan] {
    static SPANS: std::sync::OnceLock<Vec<FlatSpan>> = std::sync::OnceLock::new();
    SPANS.get_or_init(generate)
}

fn generate() -> Vec<FlatSpan> {
    let spans: usize = std::env::var("CUT_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let w = Workload::new(10, 4, 0.01);
    let mut resources: Vec<Arc<Resource>> = Vec::new();
    let mut scopes: Vec<Arc<Scope>> = Vec::new();
    let mut out = Vec::with_capacity(spans);
    let mut now = 1_750_000_000_000_000_000u64;
    while out.len() < spans {
        let (req, _) = w.request(&mut rng, 1000, now);
        now += 10_000_000;
        let bytes = prost::Message::encode_to_vec(&req);
        let (batch, _) = otlp::decode_batch(&bytes).expect("the workload decodes");
        for mut fs in batch.into_flat() {
            // as the head interns them: one allocation per distinct resource and scope
            match resources.iter().find(|r| **r == fs.resource) {
                Some(r) => fs.resource = r.clone(),
                None => resources.push(fs.resource.clone()),
            }
            match scopes.iter().find(|s| **s == fs.scope) {
                Some(s) => fs.scope = s.clone(),
                None => scopes.push(fs.scope.clone()),
            }
            out.push(fs);
        }
    }
    out
}

/// A block of `spans` at `level` (0: as the cut writes it; 1: as compaction does).
fn write(
    dir: &std::path::Path,
    id: &str,
    spans: &[FlatSpan],
    level: u32,
) -> weft_store::block::Block {
    weft_store::block::write_block(dir, id, spans.iter().collect(), 0, level, 1, Vec::new())
        .expect("block written")
}

fn cut(c: &mut Criterion) {
    let spans = spans();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group(format!("cut {} spans", spans.len()));
    g.throughput(Throughput::Elements(spans.len() as u64));
    g.sample_size(10);
    // the block's size, for a change to the layout to be judged by both figures: as cut
    // (level 0) and as compaction writes it (level 1, stronger compression)
    for level in [0, 1] {
        let block = write(dir.path(), &format!("size{level}"), spans, level);
        eprintln!(
            "level {level} block of {} spans: {:.2} bytes per span",
            spans.len(),
            block.meta.bytes as f64 / spans.len() as f64
        );
    }
    let mut n = 0u64;
    for level in [0, 1] {
        let name = if level == 0 {
            "write_block".to_string()
        } else {
            format!("write_block level {level}")
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let id = format!("b{n:06}");
                let block = write(dir.path(), &id, spans, level);
                assert_eq!(block.meta.span_count as usize, spans.len());
                std::fs::remove_dir_all(dir.path().join(&id)).expect("block removed");
            })
        });
    }
    g.finish();
}

fn probe(c: &mut Criterion) {
    let spans = spans();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ids: Vec<weft_model::TraceId> = spans.iter().map(|fs| fs.span.trace_id).collect();
    ids.sort();
    ids.dedup();
    // a fixed pseudo-random order, so that consecutive probes land in different pages
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    rand::seq::SliceRandom::shuffle(&mut ids[..], &mut rng);
    let mut g = c.benchmark_group(format!("probe a block of {} spans", spans.len()));
    for level in [0, 1] {
        let block = write(dir.path(), &format!("level{level}"), spans, level);
        let mut next = ids.iter().cycle();
        g.bench_function(format!("trace_by_id level {level}"), |b| {
            b.iter(|| {
                let id = next.next().expect("a trace id");
                let trace = block.trace(id).expect("the trace reads");
                assert!(!trace.is_empty());
                trace
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cut, probe);
criterion_main!(benches);
