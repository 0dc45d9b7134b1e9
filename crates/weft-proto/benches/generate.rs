//! What `weft bench` spends to make one export request of 1000 spans: the direct encoder
//! (`Workload::encode_request`, what it sends) against building the message and encoding it
//! with prost. The load generator shares the machine with the server it measures, so every
//! microsecond it spends per span is one the server does not get.
//!
//! `cargo bench -p weft-proto --bench generate`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use rand::SeedableRng;
use std::hint::black_box;
use weft_proto::synthetic::{EncodeScratch, Workload};

const SPANS: usize = 1000;
const NOW: u64 = 1_750_000_000_000_000_000;

fn generate(c: &mut Criterion) {
    let w = Workload::new(10, 4, 0.01);
    let mut g = c.benchmark_group(format!("generate a {SPANS}-span request"));
    g.throughput(Throughput::Elements(SPANS as u64));
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    g.bench_function("request + prost encode", |b| {
        b.iter(|| w.request(&mut rng, SPANS, NOW).0.encode_to_vec())
    });
    let mut scratch = EncodeScratch::default();
    g.bench_function("encode_request", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            w.encode_request(&mut rng, SPANS, NOW, &mut scratch, &mut out);
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
