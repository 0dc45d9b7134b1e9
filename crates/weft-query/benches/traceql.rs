//! Parsing, and evaluation over one 10,000-span trace (8 services, depth up to 8, typed
//! attributes, an event on every 50th span).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use weft_model::{
    AnyValue, Batch, Event, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId,
    SpanKind, Status, StatusCode, TraceId,
};
use weft_query::{evaluate, parse, EvalOptions};

const QUERIES: &[(&str, &str)] = &[
    ("attribute", "{ span.http.status_code >= 500 }"),
    (
        "service_duration",
        "{ resource.service.name = \"svc-3\" && duration > 5ms }",
    ),
    ("regex", "{ name =~ \"op-1.*\" }"),
    (
        "event",
        "{ event:name = \"exception\" && event.exception.type = \"Timeout\" }",
    ),
    (
        "descendant",
        "{ resource.service.name = \"svc-1\" } >> { status = error }",
    ),
    ("sibling", "{ kind = client } ~ { kind = server }"),
    ("not_parent", "{ } !< { status = error }"),
    ("count", "{ status = error } | count() > 10"),
    (
        "by_avg",
        "{ } | by(resource.service.name) | avg(duration) > 1ms",
    ),
    ("short_form", "service.name = \"svc-2\" && status = error"),
];

fn big_trace(n: usize) -> Batch {
    let resources: Vec<Arc<Resource>> = (0..8)
        .map(|i| {
            Arc::new(Resource {
                attributes: vec![
                    KeyValue::new("service.name", AnyValue::String(format!("svc-{i}").into())),
                    KeyValue::new(
                        "host.name",
                        AnyValue::String(format!("host-{}", i % 3).into()),
                    ),
                ],
                ..Default::default()
            })
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "bench".into(),
        ..Default::default()
    });
    let tid = TraceId([7; 16]);
    let mut per_res: Vec<Vec<Span>> = vec![Vec::new(); resources.len()];
    let mut depth = vec![0usize; n];
    for i in 0..n {
        // parent: a recent span, so the tree is deep and wide
        let parent = if i == 0 {
            None
        } else {
            let mut p = (i - 1) / 3;
            while depth[p] >= 8 {
                p /= 2;
            }
            Some(p)
        };
        depth[i] = parent.map_or(0, |p| depth[p] + 1);
        let start = 1_000_000_000 + i as u64 * 10_000;
        let mut s = Span {
            trace_id: tid,
            span_id: SpanId((i as u64 + 1).to_be_bytes()),
            parent_span_id: parent.map(|p| SpanId((p as u64 + 1).to_be_bytes())),
            name: format!("op-{}", i % 40).into(),
            kind: [SpanKind::Server, SpanKind::Client, SpanKind::Internal][i % 3],
            start_time_unix_nano: start,
            end_time_unix_nano: start + (i as u64 % 97) * 100_000,
            attributes: vec![
                KeyValue::new(
                    "http.status_code",
                    AnyValue::Int([200, 200, 404, 500][i % 4]),
                ),
                KeyValue::new("http.method", AnyValue::String("GET".into())),
                KeyValue::new("retry", AnyValue::Bool(i % 7 == 0)),
            ],
            ..Default::default()
        };
        if i % 13 == 0 {
            s.status = Status {
                code: StatusCode::Error,
                message: "failed".into(),
            };
        }
        if i % 50 == 0 {
            s.events.push(Event {
                time_unix_nano: start + 10,
                name: "exception".into(),
                attributes: vec![KeyValue::new(
                    "exception.type",
                    AnyValue::String(if i % 100 == 0 { "Timeout" } else { "IO" }.into()),
                )],
                ..Default::default()
            });
        }
        per_res[i % resources.len()].push(s);
    }
    Batch {
        resource_spans: resources
            .into_iter()
            .zip(per_res)
            .map(|(resource, spans)| ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    scope: scope.clone(),
                    spans,
                }],
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, q) in QUERIES {
        g.bench_function(*name, |b| b.iter(|| parse(black_box(q)).unwrap()));
    }
    g.finish();

    let trace = big_trace(10_000);
    let opts = EvalOptions::default();
    let mut g = c.benchmark_group("evaluate_10k_spans");
    g.sample_size(20);
    for (name, q) in QUERIES {
        let q = parse(q).unwrap();
        assert!(!evaluate(&q, &trace, &opts).is_empty(), "{name} matches");
        g.bench_function(*name, |b| {
            b.iter(|| evaluate(black_box(&q), black_box(&trace), &opts))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
