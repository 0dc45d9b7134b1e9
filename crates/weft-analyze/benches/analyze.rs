//! Analysis cost on big traces: 10k and 100k spans over 12 services, fan-out up to 8, depth up
//! to 10, a mix of sequential, parallel and async children.
//!
//! `cargo bench -p weft-analyze --bench analyze`

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use weft_analyze::skew::detect_clock_skew_in;
use weft_analyze::{
    analyze, breakdown, compare, critical_path, self_times, BottleneckRule, CompareOptions,
    Options, ServiceGraph,
};
use weft_model::{
    AnyValue, Batch, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId,
    StatusCode, TraceId, TraceTree,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A trace of `n` spans, breadth first so that every level is filled.
fn big_trace(n: usize, seed: u64) -> Batch {
    const SERVICES: usize = 12;
    let mut rng = Rng(seed | 1);
    let t0 = 1_700_000_000_000_000_000u64;
    // (id, service, start, end, depth)
    let mut spans: Vec<(u64, usize, u64, u64, usize)> = vec![(1, 0, t0, t0 + 10_000_000_000, 0)];
    let mut parents: Vec<Option<usize>> = vec![None];
    let mut next = 0usize;
    while spans.len() < n {
        let (_, svc, start, end, depth) = spans[next];
        let kids = if depth >= 10 {
            0
        } else {
            1 + rng.below(8) as usize
        };
        let width = end - start;
        let sequential = rng.below(2) == 0;
        for k in 0..kids {
            if spans.len() >= n {
                break;
            }
            let (s, e) = if sequential {
                let slot = width / kids as u64;
                let s = start + slot * k as u64 + rng.below(slot / 10 + 1);
                (s, s + slot / 2 + rng.below(slot / 2 + 1))
            } else {
                let s = start + rng.below(width / 4 + 1);
                let e = s + rng.below(width * 3 / 4 + 1);
                // one child in 20 outlives its parent (async)
                let e = if rng.below(20) == 0 { e + width } else { e };
                (s, e)
            };
            let child_svc = if rng.below(3) == 0 {
                rng.below(SERVICES as u64) as usize
            } else {
                svc
            };
            spans.push((spans.len() as u64 + 1, child_svc, s, e.max(s), depth + 1));
            parents.push(Some(next));
        }
        next += 1;
        if next >= spans.len() {
            break;
        }
    }
    let resources: Vec<Arc<Resource>> = (0..SERVICES)
        .map(|i| {
            Arc::new(Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String(format!("service-{i}").into()),
                )],
                ..Default::default()
            })
        })
        .collect();
    let mut groups: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
    for (i, &(id, svc, s, e, depth)) in spans.iter().enumerate() {
        let mut span = Span {
            trace_id: TraceId([9; 16]),
            span_id: SpanId(id.to_be_bytes()),
            parent_span_id: parents[i].map(|p| SpanId(spans[p].0.to_be_bytes())),
            name: format!("op-{}-{}", svc, depth % 4).into(),
            start_time_unix_nano: s,
            end_time_unix_nano: e,
            ..Default::default()
        };
        if rng.below(50) == 0 {
            span.status.code = StatusCode::Error;
            span.status.message = "boom".into();
        }
        groups[svc].push(span);
    }
    Batch {
        resource_spans: resources
            .into_iter()
            .zip(groups)
            .map(|(resource, spans)| ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    scope: Arc::new(Scope::default()),
                    spans,
                }],
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("analyze");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for n in [10_000usize, 100_000] {
        let b = big_trace(n, 42);
        let other = big_trace(n, 43);
        assert_eq!(b.span_count(), n);
        g.bench_with_input(BenchmarkId::new("tree", n), &b, |bench, b| {
            bench.iter(|| TraceTree::new(b).len())
        });
        g.bench_with_input(BenchmarkId::new("self_time", n), &b, |bench, b| {
            let t = TraceTree::new(b);
            bench.iter(|| self_times(&t))
        });
        g.bench_with_input(BenchmarkId::new("critical_path", n), &b, |bench, b| {
            let t = TraceTree::new(b);
            bench.iter(|| critical_path(&t))
        });
        g.bench_with_input(BenchmarkId::new("skew_detect", n), &b, |bench, b| {
            let t = TraceTree::new(b);
            bench.iter(|| detect_clock_skew_in(&t))
        });
        g.bench_with_input(BenchmarkId::new("graph", n), &b, |bench, b| {
            let t = TraceTree::new(b);
            bench.iter(|| ServiceGraph::of_trace(&t))
        });
        g.bench_with_input(BenchmarkId::new("breakdown", n), &b, |bench, b| {
            let t = TraceTree::new(b);
            let st = self_times(&t);
            bench.iter(|| {
                (
                    breakdown::bottlenecks(&t, &st, &BottleneckRule::default()),
                    breakdown::slowest(&t, 10),
                    breakdown::errors(&t),
                    breakdown::by_service(&t, &st),
                    breakdown::by_operation(&t, &st),
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("full", n), &b, |bench, b| {
            bench.iter(|| analyze(b, &Options::default()))
        });
        g.bench_with_input(
            BenchmarkId::new("full_skew_adjust_json", n),
            &b,
            |bench, b| {
                let opts = Options {
                    adjust_skew: true,
                    ..Options::default()
                };
                bench.iter(|| analyze(b, &opts).to_json())
            },
        );
        g.bench_with_input(
            BenchmarkId::new("compare", n),
            &(b.clone(), other),
            |bench, (a, o)| bench.iter(|| compare(a, o, &CompareOptions::default())),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
