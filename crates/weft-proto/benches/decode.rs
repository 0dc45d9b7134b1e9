//! An OTLP protobuf request of 1000 spans into weft's model: the two-step path
//! (`decode_request` into opentelemetry-proto's structs, then `batch_from_request`) against
//! the one-pass `decode_batch`. The request is built as `weft bench` builds its default
//! workload: traces of 10 spans across five services (one resource each), four
//! semantic-convention attributes per span plus two for database spans plus four extra, an
//! error span in 1% of traces.
//!
//! `cargo bench -p weft-proto --bench decode`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use rand::SeedableRng;
use std::hint::black_box;
use weft_proto::otlp;
use weft_proto::synthetic::Workload;

const SPANS: usize = 1000;

fn decode(c: &mut Criterion) {
    // `weft bench`'s default workload: 10 spans per trace, 4 extra attributes, 1% errors; the
    // same request on every run
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (req, _) = Workload::new(10, 4, 0.01).request(&mut rng, SPANS, 1_750_000_000_000_000_000);
    let bytes = req.encode_to_vec();
    let two_step = otlp::batch_from_request(otlp::decode_request(&bytes).unwrap());
    let one_pass = otlp::decode_batch(&bytes).unwrap();
    assert_eq!(one_pass, two_step, "both paths decode the request the same");
    assert!(one_pass.0.span_count() >= SPANS);

    let mut g = c.benchmark_group(format!(
        "decode {SPANS}-span request ({} bytes)",
        bytes.len()
    ));
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("decode_request + batch_from_request", |b| {
        b.iter(|| otlp::batch_from_request(otlp::decode_request(black_box(&bytes)).unwrap()))
    });
    g.bench_function("decode_batch", |b| {
        b.iter(|| otlp::decode_batch(black_box(&bytes)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
