//! What weft's axum layer adds to a request, measured so that a shared, noisy machine cannot
//! fake it: the variants (no layer, a layer that does nothing, a minimal layer on the bare
//! SDK, weft sampled, weft unsampled) run in alternating rounds, and each round's overhead is that round's time minus
//! the same round's no-layer time. The medians of those paired differences are the figures.
//!
//! `cargo bench -p weft --bench axum_overhead` (`ROUNDS`, `ITERS` change the sample size;
//! `ONLY=<variant>` runs one variant against the baseline, for a profiler; `HEADERS=0` sends
//! requests without headers). `scripts/axum-instructions.sh` counts instructions instead.

use std::time::Instant;

use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::Sampler;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

#[path = "support/bare_layer.rs"]
mod bare_layer;

#[path = "support/pipelines.rs"]
mod pipelines;
use pipelines::{bare, weft_guard};

struct Variant {
    name: &'static str,
    app: axum::Router,
    dispatch: Option<tracing::Dispatch>,
    samples: Vec<f64>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn quartiles(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 4], v[v.len() * 3 / 4])
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a short smoke
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = env_usize("ROUNDS", if full { 40 } else { 2 });
    let iters = env_usize("ITERS", if full { 20_000 } else { 100 });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let hello = || axum::Router::new().route("/hello", get(|| async { "hi" }));
    // `axum::serve` turns the router's handlers into routes once per connection
    // (`Router::with_state(())`, axum's own comment: "such that everything is turned into
    // `Route` eagerly"); an unfinished router would instead convert the handler and apply
    // every layer again on each request, which a server never does
    let serve = |app: axum::Router| app.with_state::<()>(());
    let bare = bare(Sampler::AlwaysOn);
    let sampled = weft_guard("always_on");
    let unsampled = weft_guard("always_off");
    let weft_variant =
        |name, guard: &weft::Guard| Variant {
            name,
            app: serve(hello().layer(
                weft::http_server::WeftLayer::new().tracer_provider(guard.tracer_provider()),
            )),
            dispatch: Some(tracing::Dispatch::new(
                tracing_subscriber::registry().with(guard.layer()),
            )),
            samples: Vec::new(),
        };
    let mut variants = vec![
        Variant {
            name: "no_layer",
            app: serve(hello()),
            dispatch: None,
            samples: Vec::new(),
        },
        // a layer that does nothing: what axum's own layer plumbing costs (boxing the
        // layered route and its future, the second route future it nests)
        Variant {
            name: "noop_layer",
            app: serve(hello().layer(tower::layer::layer_fn(|s| s))),
            dispatch: None,
            samples: Vec::new(),
        },
        Variant {
            name: "bare_sdk_layer",
            app: serve(hello().layer(bare_layer::BareLayer(bare.tracer("bare")))),
            dispatch: None,
            samples: Vec::new(),
        },
        weft_variant("weft_sampled", &sampled),
        weft_variant("weft_unsampled", &unsampled),
    ];

    // `ONLY=weft_sampled` keeps one variant (and the no-layer baseline), for profiling
    if let Ok(only) = std::env::var("ONLY") {
        variants.retain(|v| v.name == "no_layer" || v.name == only);
    }
    // the request an HTTP/1.1 load generator sends (Host is mandatory; curl, hey and oha add
    // a User-Agent), as hyper hands it to the router; `HEADERS=0` sends none, as earlier runs
    // of this bench did
    let with_headers = std::env::var("HEADERS").map_or(true, |v| v != "0");
    let req = || {
        let mut r = http::Request::get("/hello");
        if with_headers {
            r = r
                .header(http::header::HOST, "127.0.0.1:8080")
                .header(http::header::USER_AGENT, "oha/1.4.5");
        }
        r.body(axum::body::Body::empty()).expect("a request")
    };
    let n = variants.len();
    eprintln!(
        "axum_overhead: {rounds} rounds of {iters} requests per variant ({})",
        if with_headers {
            "Host and User-Agent headers"
        } else {
            "no headers"
        }
    );
    // round 0 warms up and is not kept
    for round in 0..=rounds {
        for k in 0..n {
            // rotate the order so that no variant always runs right after another
            let v = &mut variants[(round + k) % n];
            let _sub = v.dispatch.as_ref().map(tracing::dispatcher::set_default);
            let t = Instant::now();
            for _ in 0..iters {
                let resp = rt
                    .block_on(v.app.clone().oneshot(req()))
                    .expect("infallible");
                assert!(resp.status().is_success());
            }
            let ns = t.elapsed().as_nanos() as f64 / iters as f64;
            if round > 0 {
                v.samples.push(ns);
            }
        }
    }

    let base = variants[0].samples.clone();
    println!(
        "{:<16} {:>10} {:>12} {:>26}",
        "variant", "ns/req", "requests/s", "overhead ns (p25..p75)"
    );
    for v in &variants {
        let mut diffs: Vec<f64> = v.samples.iter().zip(&base).map(|(a, b)| a - b).collect();
        let (q1, q3) = quartiles(&mut diffs);
        let over = median(&mut diffs);
        let mut own = v.samples.clone();
        let t = median(&mut own);
        println!(
            "{:<16} {:>10.0} {:>12.0} {:>12.0} ({:.0}..{:.0})",
            v.name,
            t,
            1e9 / t,
            over,
            q1,
            q3
        );
    }
    let _ = bare.shutdown();
    drop(sampled);
    drop(unsampled);
}
