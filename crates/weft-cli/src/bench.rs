//! `weft bench`: a load generator sending realistic multi-service traces over OTLP, then
//! (optionally) measuring trace-by-id and attribute-search latency and bytes on disk per span.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Protocol {
    Grpc,
    Http,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// OTLP transport
    #[arg(long, value_enum, default_value = "grpc")]
    protocol: Protocol,
    /// OTLP endpoint [default: http://127.0.0.1:4317 for grpc, http://127.0.0.1:4318 for http]
    #[arg(long)]
    endpoint: Option<String>,
    /// Query API of the server, for the latency and disk measurements
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    server: String,
    /// How long to send
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Stop after this many spans (whichever of --duration and --spans comes first)
    #[arg(long)]
    spans: Option<u64>,
    /// Target spans per second over all connections; 0 sends flat out
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Concurrent requests in flight. A durable server acknowledges a request only after
    /// its group commit is on disk, so a few requests in flight leave it idle between
    /// commits; a server fed by many services has many. (The OpenTelemetry Collector's
    /// exporter queue alone runs 10 consumers by default.)
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Spans per export request
    #[arg(long, default_value_t = 1000)]
    batch_spans: usize,
    /// Spans per trace
    #[arg(long, default_value_t = 10)]
    spans_per_trace: usize,
    /// Extra attributes per span (on top of the semantic-convention ones)
    #[arg(long, default_value_t = 4)]
    extra_attributes: usize,
    /// Fraction of traces with an error span
    #[arg(long, default_value_t = 0.01)]
    error_rate: f64,
    /// Encode every request before the clock starts (needs --spans), then only send them.
    /// Generating requests costs the load generator about as much CPU as sending them; on a
    /// machine shared with the server that CPU is taken from the server being measured. The
    /// requests are held in memory: about 280 bytes per span (800 MiB for 3M spans).
    #[arg(long, requires = "spans")]
    pregenerate: bool,
    /// After sending: fetch this many random sent traces by id and report latency
    #[arg(long, default_value_t = 0)]
    query_samples: usize,
    /// After sending: run this many single-attribute searches and report latency
    #[arg(long, default_value_t = 0)]
    search_samples: usize,
    /// After sending: ask the server to cut its head into a block and report bytes per span
    #[arg(long)]
    report_disk: bool,
    /// With --report-disk: then run compaction until nothing is left to merge (the steady
    /// state of a store) and report bytes per span again; the queries run after it
    #[arg(long)]
    compact: bool,
    /// After sending: run each TraceQL query this many times (GET /api/v1/query, limit 20)
    /// and report latency per query
    #[arg(long, default_value_t = 0)]
    traceql_samples: usize,
    /// A TraceQL query for --traceql-samples (repeatable; `$USER` becomes a random user id of
    /// the generated data) [default: service + duration, one attribute, a structural query
    /// and a count() pipeline over the generated services]
    #[arg(long = "traceql")]
    traceql: Vec<String>,
}

/// The default TraceQL benchmark: the four query shapes issue 4 asks figures for.
const TRACEQL_DEFAULTS: &[&str] = &[
    r#"{ resource.service.name = "payments" && duration > 100ms }"#,
    r#"{ span.user.id = "$USER" }"#,
    r#"{ resource.service.name = "frontend" } >> { span.db.system.name = "postgresql" }"#,
    r#"{ resource.service.name = "inventory" } | count() > 2"#,
];

/// An export request ready to send: its body, the id of its first trace (a sample for the
/// trace-by-id latency) and its span count.
type Prepared = (prost::bytes::Bytes, [u8; 16], usize);

/// Encodes one request of about `batch` spans with `gen`.
fn prepare(
    gen: &weft_proto::synthetic::Workload,
    rng: &mut impl Rng,
    batch: usize,
    scratch: &mut weft_proto::synthetic::EncodeScratch,
) -> Prepared {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut body = Vec::with_capacity(batch * 400);
    let (ids, n) = gen.encode_request(rng, batch, now, scratch, &mut body);
    (prost::bytes::Bytes::from(body), ids[0], n)
}

/// Every request of a `--pregenerate` run, encoded before the clock starts, and the next one
/// to send.
struct Pregenerated {
    requests: Vec<Prepared>,
    next: std::sync::atomic::AtomicUsize,
}

/// Encodes requests until they hold `spans` spans, with progress on stderr.
fn pregenerate(
    gen: &weft_proto::synthetic::Workload,
    spans: u64,
    batch: usize,
) -> anyhow::Result<Pregenerated> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut scratch = weft_proto::synthetic::EncodeScratch::default();
    let mut requests = Vec::with_capacity((spans as usize).div_ceil(batch.max(1)));
    let (mut total, mut bytes) = (0u64, 0usize);
    let started = Instant::now();
    let mut shown = Instant::now();
    while total < spans {
        let r = prepare(gen, &mut rng, batch, &mut scratch);
        if r.2 == 0 {
            bail!("the workload generated an empty request: check --batch-spans");
        }
        total += r.2 as u64;
        bytes += r.0.len();
        requests.push(r);
        if shown.elapsed() >= Duration::from_secs(1) {
            shown = Instant::now();
            eprintln!(
                "  pregenerating: {total} of {spans} spans, {} MiB",
                bytes >> 20
            );
        }
    }
    eprintln!(
        "weft bench: pregenerated {} requests, {total} spans, {} MiB in {:.1}s",
        requests.len(),
        bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    Ok(Pregenerated {
        requests,
        next: Default::default(),
    })
}

struct Shared {
    sent_spans: AtomicU64,
    /// spans generated for sending (with `--spans`, no more than that: the workers claim
    /// them before they send, so the requests in flight cannot overshoot it)
    claimed_spans: AtomicU64,
    /// requests the server refused as overloaded (429, RESOURCE_EXHAUSTED, UNAVAILABLE)
    refused_requests: AtomicU64,
    /// requests that failed otherwise (an error status, a broken connection)
    failed_requests: AtomicU64,
    stop: AtomicBool,
    latencies: Mutex<Histogram<u64>>,
    sample_ids: Mutex<Vec<[u8; 16]>>,
}

/// The pause before a refused or failed request is sent again, doubling up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_millis(500);

/// Of `sent` spans, how many the server accepted: all, less the `rejected_spans` of a partial
/// success.
fn accepted_spans(sent: usize, resp: &ExportTraceServiceResponse) -> u64 {
    let rejected = resp
        .partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans);
    (sent as u64).saturating_sub(rejected.max(0) as u64)
}

/// Why the server did not accept a request. Both are sent again after a pause.
#[derive(Clone, Copy, Debug, PartialEq)]
enum NotAccepted {
    /// The server refused it as overloaded, asking for a retry (HTTP 429 or 503, gRPC
    /// RESOURCE_EXHAUSTED or UNAVAILABLE): its backpressure while it catches up.
    Refused,
    /// Any other error status, or no answer at all.
    Failed,
}

impl NotAccepted {
    fn of_grpc(code: tonic::Code) -> Self {
        match code {
            tonic::Code::ResourceExhausted | tonic::Code::Unavailable => NotAccepted::Refused,
            _ => NotAccepted::Failed,
        }
    }

    fn of_http(status: reqwest::StatusCode) -> Self {
        match status.as_u16() {
            429 | 503 => NotAccepted::Refused,
            _ => NotAccepted::Failed,
        }
    }
}

/// Sends one export request, already encoded (`Workload::encode_request`), over gRPC.
async fn export_grpc(
    grpc: &mut tonic::client::Grpc<tonic::transport::Channel>,
    body: prost::bytes::Bytes,
) -> Result<ExportTraceServiceResponse, NotAccepted> {
    grpc.ready().await.map_err(|_| NotAccepted::Failed)?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(tonic::Request::new(body), path, RawExport)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| NotAccepted::of_grpc(s.code()))
}

/// A gRPC codec for `TraceService/Export` whose request is the already-encoded message (tonic's
/// prost codec would need it built as a message first) and whose response is decoded.
#[derive(Clone, Copy)]
struct RawExport;

impl tonic::codec::Codec for RawExport {
    type Encode = prost::bytes::Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawExport;
    type Decoder = RawExport;
    fn encoder(&mut self) -> Self::Encoder {
        RawExport
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawExport
    }
}

impl tonic::codec::Encoder for RawExport {
    type Item = prost::bytes::Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: prost::bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawExport {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("bad export response: {e}")))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server's `/metrics` text; `None` when it cannot be read (the endpoint may be another
/// OTLP receiver, with no weft query API beside it).
async fn server_metrics(http: &reqwest::Client, api: &str) -> Option<String> {
    let r = http.get(format!("{api}/metrics")).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().await.ok()
}

/// One sample's value from a Prometheus text exposition.
fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|r| r.trim().parse().ok())
    })
}

/// The server's CPU time so far (`process_cpu_seconds_total`), when it reports one.
async fn server_cpu_seconds(http: &reqwest::Client, api: &str) -> Option<f64> {
    metric_value(
        &server_metrics(http, api).await?,
        "process_cpu_seconds_total",
    )
}

/// `server CPU: …` for the CPU time the server spent between two readings.
fn print_server_cpu(label: &str, before: Option<f64>, after: Option<f64>, spans: u64, what: &str) {
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "{label}{:.3} s, {:.2} µs per span ({what})",
            a - b,
            (a - b) * 1e6 / spans.max(1) as f64
        );
    }
}

/// (spans in blocks, bytes of blocks, server RSS, compactions so far) from the server's
/// metrics.
async fn disk_figures(http: &reqwest::Client, api: &str) -> anyhow::Result<(f64, f64, f64, f64)> {
    let m = server_metrics(http, api)
        .await
        .with_context(|| format!("cannot read {api}/metrics"))?;
    let get = |name: &str| metric_value(&m, name).unwrap_or(0.0);
    Ok((
        get("weft_store_block_spans"),
        get("weft_store_block_bytes"),
        get("process_resident_memory_bytes"),
        get("weft_store_compactions_total"),
    ))
}

/// Keeps the load generator's large buffers in the heap. Each request is encoded into a fresh
/// buffer of a few hundred KiB; above glibc's mmap threshold every one is mapped, faulted in
/// page by page, zeroed and unmapped again: a quarter of the generator's CPU, taken from the
/// server it shares a machine with. Only this process is affected (`weft serve` keeps the
/// defaults, which return memory to the system).
fn keep_large_buffers_in_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of glibc's allocator thresholds; it takes the allocator's
    // own lock and is safe to call while other threads allocate
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    keep_large_buffers_in_the_heap();
    let duration = weft_model::duration::parse_duration_nanos(&a.duration)
        .map_err(|e| anyhow::anyhow!("--duration: {e}"))?;
    let duration = Duration::from_nanos(duration);
    let endpoint = a.endpoint.clone().unwrap_or_else(|| match a.protocol {
        Protocol::Grpc => "http://127.0.0.1:4317".into(),
        Protocol::Http => "http://127.0.0.1:4318".into(),
    });
    let gen = Arc::new(weft_proto::synthetic::Workload::new(
        a.spans_per_trace,
        a.extra_attributes,
        a.error_rate,
    ));
    let shared = Arc::new(Shared {
        sent_spans: AtomicU64::new(0),
        claimed_spans: AtomicU64::new(0),
        refused_requests: AtomicU64::new(0),
        failed_requests: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        latencies: Mutex::new(Histogram::new(3).expect("histogram")),
        sample_ids: Mutex::new(Vec::new()),
    });
    let per_worker_rate = if a.rate > 0 {
        Some(a.rate as f64 / a.concurrency.max(1) as f64)
    } else {
        None
    };
    eprintln!(
        "weft bench: {:?} to {endpoint}, {} concurrent, {} spans/request, {} spans/trace, {}",
        a.protocol,
        a.concurrency,
        a.batch_spans,
        a.spans_per_trace,
        if a.rate > 0 {
            format!("{} spans/s target", a.rate)
        } else {
            "flat out".into()
        }
    );
    let grpc = if a.protocol == Protocol::Grpc {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
            .with_context(|| format!("bad endpoint {endpoint}"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {endpoint}"))?;
        Some(tonic::client::Grpc::new(channel))
    } else {
        None
    };
    let pregenerated = match (a.pregenerate, a.spans) {
        (true, Some(spans)) => {
            let gen = gen.clone();
            let batch = a.batch_spans;
            Some(Arc::new(
                tokio::task::spawn_blocking(move || pregenerate(&gen, spans, batch)).await??,
            ))
        }
        _ => None,
    };
    let http = reqwest::Client::new();
    let api = a.server.trim_end_matches('/').to_string();
    let cpu_before = server_cpu_seconds(&http, &api).await;
    let own_cpu_before = weft_server::process_cpu_seconds();
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..a.concurrency.max(1) {
        let gen = gen.clone();
        let shared = shared.clone();
        let mut grpc = grpc.clone();
        let http = http.clone();
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let batch = a.batch_spans;
        let limit = a.spans;
        let pregenerated = pregenerated.clone();
        workers.push(tokio::spawn(async move {
            // a small, fast generator: the load generator's CPU is taken from the server it
            // measures when both run on one machine
            let mut rng = rand::rngs::SmallRng::seed_from_u64(w as u64 + 1);
            let mut scratch = weft_proto::synthetic::EncodeScratch::default();
            let wstart = Instant::now();
            let mut wsent = 0u64;
            let mut retry: Option<Prepared> = None;
            let mut backoff = RETRY_FIRST;
            while !shared.stop.load(Ordering::Relaxed) && wstart.elapsed() < duration {
                if let Some(l) = limit {
                    if shared.sent_spans.load(Ordering::Relaxed) >= l {
                        break;
                    }
                }
                if let Some(r) = per_worker_rate {
                    let due = Duration::from_secs_f64(wsent as f64 / r);
                    let el = wstart.elapsed();
                    if due > el {
                        tokio::time::sleep(due - el).await;
                    }
                }
                // a refused request is sent again, after a pause that doubles (as an OTLP
                // exporter backs off), not replaced by a new one
                let (body, first_id, n) = match (retry.take(), &pregenerated) {
                    (Some(r), _) => r,
                    (None, Some(p)) => match p.requests.get(p.next.fetch_add(1, Ordering::Relaxed))
                    {
                        Some(r) => r.clone(),
                        None => break,
                    },
                    (None, None) => {
                        let n = match limit {
                            Some(l) => {
                                let before = shared
                                    .claimed_spans
                                    .fetch_add(batch as u64, Ordering::Relaxed);
                                if before >= l {
                                    break;
                                }
                                // the last request takes what is left (in whole traces)
                                (l - before).min(batch as u64) as usize
                            }
                            None => batch,
                        };
                        prepare(&gen, &mut rng, n, &mut scratch)
                    }
                };
                let t = Instant::now();
                // spans the server accepted: all of them, less those it reports rejected
                let accepted = match grpc.as_mut() {
                    Some(c) => export_grpc(c, body.clone())
                        .await
                        .map(|r| accepted_spans(n, &r)),
                    None => match http
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            // an empty or unreadable body is a success without partial success
                            let resp = r
                                .bytes()
                                .await
                                .ok()
                                .and_then(|b| ExportTraceServiceResponse::decode(b).ok())
                                .unwrap_or_default();
                            Ok(accepted_spans(n, &resp))
                        }
                        Ok(r) => Err(NotAccepted::of_http(r.status())),
                        Err(_) => Err(NotAccepted::Failed),
                    },
                };
                let us = t.elapsed().as_micros() as u64;
                match accepted {
                    Ok(n) => {
                        backoff = RETRY_FIRST;
                        shared.sent_spans.fetch_add(n, Ordering::Relaxed);
                        wsent += n;
                        let _ = lock(&shared.latencies).record(us.max(1));
                        let mut samples = lock(&shared.sample_ids);
                        if samples.len() < 100_000 {
                            samples.push(first_id);
                        }
                    }
                    Err(why) => {
                        match why {
                            NotAccepted::Refused => &shared.refused_requests,
                            NotAccepted::Failed => &shared.failed_requests,
                        }
                        .fetch_add(1, Ordering::Relaxed);
                        retry = Some((body, first_id, n));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(RETRY_MAX);
                    }
                }
            }
        }));
    }
    // progress once a second
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = shared.sent_spans.load(Ordering::Relaxed);
                eprintln!(
                    "  {:>8.1}s  {:>10} spans/s  {:>12} spans sent",
                    started.elapsed().as_secs_f64(),
                    now - last,
                    now
                );
                last = now;
            }
        })
    };
    for w in workers {
        w.await?;
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let own_cpu = own_cpu_before
        .zip(weft_server::process_cpu_seconds())
        .map(|(b, a)| a - b);
    let sent = shared.sent_spans.load(Ordering::Relaxed);
    let refused = shared.refused_requests.load(Ordering::Relaxed);
    let failed = shared.failed_requests.load(Ordering::Relaxed);
    let h = lock(&shared.latencies).clone();
    println!("accepted spans:      {sent}");
    // both were sent again until accepted: the figures above and below count each span once
    println!(
        "refused requests:    {refused} (429 / 503: overloaded or unavailable; sent again after a pause)"
    );
    println!("failed requests:     {failed} (other errors; sent again after a pause)");
    println!(
        "throughput:          {:.0} spans/s over {:.1}s",
        sent as f64 / elapsed,
        elapsed
    );
    println!(
        "request latency:     p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.max() as f64 / 1e3
    );
    if let Some(c) = own_cpu {
        // on a machine shared with the server, this is CPU the server did not get
        println!(
            "client CPU:          {c:.3} s, {:.2} µs per span (while sending{})",
            c * 1e6 / sent.max(1) as f64,
            if a.pregenerate {
                ", pregenerated"
            } else {
                ", generating"
            }
        );
    }
    if sent == 0 {
        bail!("no span was accepted: is the server running at {endpoint}?");
    }
    print_server_cpu(
        "server CPU:          ",
        cpu_before,
        server_cpu_seconds(&http, &api).await,
        sent,
        "while sending; blocks may still be being cut",
    );
    if a.report_disk {
        let resp = http
            .post(format!("{api}/api/v1/admin/flush"))
            .send()
            .await
            .context("flush request failed")?;
        if !resp.status().is_success() {
            bail!("flush failed: {}", resp.status());
        }
        print_server_cpu(
            "server CPU (blocks): ",
            cpu_before,
            server_cpu_seconds(&http, &api).await,
            sent,
            "sending, then cutting every span into blocks",
        );
        let (spans, bytes, rss, compactions_before) = disk_figures(&http, &api).await?;
        println!("stored spans:        {spans:.0} in blocks");
        if spans > 0.0 {
            println!("bytes on disk/span:  {:.1}", bytes / spans);
        }
        if rss > 0.0 {
            println!("server RSS:          {:.0} MiB", rss / (1024.0 * 1024.0));
        }
        if a.compact {
            let started = Instant::now();
            let mut rounds = 0;
            loop {
                let resp = http
                    .post(format!("{api}/api/v1/admin/compact"))
                    .send()
                    .await
                    .context("compact request failed")?;
                if !resp.status().is_success() {
                    bail!("compaction failed: {}", resp.status());
                }
                let v: serde_json::Value = resp.json().await?;
                if v["compacted"] != serde_json::Value::Bool(true) {
                    break;
                }
                rounds += 1;
                eprintln!(
                    "compacting: {rounds} merges, {:.0}s",
                    started.elapsed().as_secs_f64()
                );
            }
            // the server's own maintenance may have merged some meanwhile: count those too
            let (spans, bytes, _, compactions) = disk_figures(&http, &api).await?;
            println!(
                "after compaction:    {:.1} bytes on disk/span ({:.0} merges in {:.1}s)",
                if spans > 0.0 { bytes / spans } else { 0.0 },
                (compactions - compactions_before).max(f64::from(rounds)),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let samples = lock(&shared.sample_ids).clone();
    if a.query_samples > 0 && !samples.is_empty() {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        let mut rng = rand::rng();
        let mut missing = Vec::new();
        for _ in 0..a.query_samples {
            let id = samples[rng.random_range(0..samples.len())];
            let t = Instant::now();
            let r = http
                .get(format!("{api}/api/v1/traces/{}", hex::encode(id)))
                .send()
                .await?;
            let ok = r.status().is_success();
            let _ = r.bytes().await?;
            h.record(t.elapsed().as_micros().max(1) as u64)?;
            if !ok {
                missing.push(hex::encode(id));
            }
        }
        println!(
            "trace by id:         p50 {:.2} ms  p99 {:.2} ms  ({} samples, {} not found)",
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
            a.query_samples,
            missing.len()
        );
        if !missing.is_empty() {
            missing.truncate(5);
            bail!("acknowledged traces were not found: {}", missing.join(", "));
        }
    }
    if a.traceql_samples > 0 {
        let queries: Vec<String> = if a.traceql.is_empty() {
            TRACEQL_DEFAULTS.iter().map(|q| q.to_string()).collect()
        } else {
            a.traceql.clone()
        };
        let mut rng = rand::rng();
        for q in &queries {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            let mut hits = 0usize;
            let mut truncated = 0usize;
            for _ in 0..a.traceql_samples {
                let text = q.replace("$USER", &format!("user-{}", rng.random_range(0..10_000)));
                let t = Instant::now();
                let url = reqwest::Url::parse_with_params(
                    &format!("{api}/api/v1/query"),
                    &[("q", text.as_str()), ("limit", "20")],
                )?;
                let r = http.get(url).send().await?;
                let status = r.status();
                let v: serde_json::Value = r.json().await?;
                h.record(t.elapsed().as_micros().max(1) as u64)?;
                if !status.is_success() {
                    bail!("TraceQL query {text:?} failed with {status}: {v}");
                }
                hits += v["traces"].as_array().map(|a| a.len()).unwrap_or(0);
                truncated += usize::from(v["truncated"].as_bool().unwrap_or(false));
            }
            println!(
                "traceql p50 {:>8.2} ms  p99 {:>8.2} ms  ({:.1} traces per answer, {} truncated)  {q}",
                h.value_at_quantile(0.5) as f64 / 1e3,
                h.value_at_quantile(0.99) as f64 / 1e3,
                hits as f64 / a.traceql_samples as f64,
                truncated
            );
        }
    }
    if a.search_samples > 0 {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        let mut rng = rand::rng();
        let mut hits = 0usize;
        for _ in 0..a.search_samples {
            let user = format!("user-{}", rng.random_range(0..10_000));
            let t = Instant::now();
            let r = http
                .get(format!(
                    "{api}/api/v1/search?attr=user.id%3D{user}&limit=20"
                ))
                .send()
                .await?;
            let v: serde_json::Value = r.json().await?;
            h.record(t.elapsed().as_micros().max(1) as u64)?;
            hits += v["traces"].as_array().map(|a| a.len()).unwrap_or(0);
        }
        println!("search by attribute: p50 {:.2} ms  p99 {:.2} ms  ({} samples, {:.1} traces per answer)", h.value_at_quantile(0.5) as f64 / 1e3, h.value_at_quantile(0.99) as f64 / 1e3, a.search_samples, hits as f64 / a.search_samples as f64);
    }
    Ok(())
}
