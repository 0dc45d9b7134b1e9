//! The export pipeline: one front processor (error keeping, fan-out) feeding one batching
//! processor per exporter, whose worker truncates and redacts each batch before exporting it.
//! Truncation and redaction run on the export thread, not on the thread that ends the span, so
//! they add nothing to a request's latency (`docs/adr/1006-weft-scrub-on-the-export-thread.md`).
//!
//! The batching processor is ours rather than the SDK's `BatchSpanProcessor` for three reasons
//! (see `docs/adr/1001-weft-own-batch-processor.md`): exports run on a small runtime weft owns, so
//! async clients (tonic, reqwest) work whatever runtime the application uses, or none; dropped
//! spans are counted where the application can read them; and shutdown waits with a deadline on a
//! plain channel, so it never needs the application's runtime to make progress.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, SpanId, Status, TraceFlags, TraceId};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;

use crate::config::{BatchConfig, KeepConfig};
use crate::redact::Redactor;

/// Counters of what happened to spans, readable by the application via [`crate::Guard::stats`].
#[derive(Debug, Default)]
pub struct Stats {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    failed_exports: AtomicU64,
    kept: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Spans an exporter accepted (summed over exporters).
    pub exported: u64,
    /// Spans dropped because an exporter's queue was full (or it had shut down).
    pub dropped: u64,
    /// Spans in exports that failed or timed out.
    pub failed: u64,
    /// Export calls that failed or timed out.
    pub failed_exports: u64,
    /// Spans exported although head sampling said no (errors, slow requests).
    pub kept: u64,
}

impl Stats {
    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            exported: self.exported.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_exports: self.failed_exports.load(Ordering::Relaxed),
            kept: self.kept.load(Ordering::Relaxed),
        }
    }
}

/// An object-safe exporter, so several kinds can sit in one list.
pub(crate) trait DynExporter: Send + Sync + fmt::Debug {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = OTelSdkResult> + Send + '_>>;
    fn shutdown(&self) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

impl<E: SpanExporter> DynExporter for E {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = OTelSdkResult> + Send + '_>> {
        Box::pin(SpanExporter::export(self, batch))
    }
    fn shutdown(&self) -> OTelSdkResult {
        SpanExporter::shutdown(self)
    }
    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(self, resource)
    }
}

enum Ctl {
    /// A full batch is waiting.
    ExportNow,
    Flush(SyncSender<OTelSdkResult>),
    Shutdown(SyncSender<OTelSdkResult>),
}

/// Batches spans for one exporter and exports them on weft's runtime.
///
/// Spans go into a bounded queue that the worker takes whole (it never blocks on it), so
/// sending a span never wakes a thread; the worker sleeps on a small control channel until the
/// schedule delay passes, a batch is full, or a flush/shutdown arrives.
pub(crate) struct Batcher {
    name: &'static str,
    queue: Arc<Queue>,
    ctl: SyncSender<Ctl>,
    export_requested: Arc<AtomicBool>,
    max_batch: usize,
    stats: Arc<Stats>,
    worker: Mutex<Option<Worker>>,
}

/// The spans waiting for one exporter: a vector that `send` appends to under a lock held for
/// one push, and that the worker swaps for the empty one it kept from its last take (so both
/// keep their capacity: a fresh vector would grow, copy and fault in its pages on every round).
/// A channel cost both sides an atomic exchange per span and the worker a receive per span;
/// here the worker takes every queued span with one swap.
struct Queue {
    inner: Mutex<Queued>,
    capacity: usize,
}

struct Queued {
    spans: Vec<SpanData>,
    /// the worker has stopped: what is sent now is dropped (and counted)
    closed: bool,
}

impl Queue {
    /// Swaps every queued span into `spare` (empty), unless fewer than `at_least` (at least
    /// one) are queued; returns whether it did.
    fn take(&self, at_least: usize, spare: &mut Vec<SpanData>) -> bool {
        let mut q = self.inner.lock();
        if q.spans.len() < at_least.max(1) {
            return false;
        }
        std::mem::swap(&mut q.spans, spare);
        true
    }

    fn close(&self) {
        self.inner.lock().closed = true;
    }
}

struct Worker {
    exporter: Box<dyn DynExporter>,
    queue: Arc<Queue>,
    /// the vector the last take left, emptied: the queue's next one
    spare: Vec<SpanData>,
    ctl: Receiver<Ctl>,
    export_requested: Arc<AtomicBool>,
    config: BatchConfig,
    scrub: Arc<Scrub>,
    rt: tokio::runtime::Handle,
    stats: Arc<Stats>,
}

/// What every span goes through before it leaves the process: value truncation, then
/// redaction. Applied by each exporter's worker to the batch it is about to export.
#[derive(Debug)]
pub(crate) struct Scrub {
    pub(crate) redactor: Option<Redactor>,
    pub(crate) max_value_len: Option<usize>,
}

impl Scrub {
    pub(crate) fn apply(&self, spans: &mut [SpanData]) {
        if let Some(max) = self.max_value_len {
            for span in spans.iter_mut() {
                truncate_values(span, max);
            }
        }
        if let Some(r) = &self.redactor {
            r.redact_spans(spans);
        }
    }
}

impl fmt::Debug for Batcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher").field("name", &self.name).finish()
    }
}

impl Batcher {
    pub(crate) fn new(
        name: &'static str,
        exporter: Box<dyn DynExporter>,
        config: BatchConfig,
        scrub: Arc<Scrub>,
        rt: tokio::runtime::Handle,
        stats: Arc<Stats>,
    ) -> Self {
        // the queue's two vectors start with room for one batch
        let room = config.max_export_batch_size.min(config.max_queue_size);
        let queue = Arc::new(Queue {
            inner: Mutex::new(Queued {
                spans: Vec::with_capacity(room),
                closed: false,
            }),
            capacity: config.max_queue_size,
        });
        let (ctl_tx, ctl_rx) = sync_channel(64);
        let export_requested = Arc::new(AtomicBool::new(false));
        Batcher {
            name,
            queue: queue.clone(),
            ctl: ctl_tx,
            export_requested: export_requested.clone(),
            max_batch: config.max_export_batch_size,
            stats: stats.clone(),
            worker: Mutex::new(Some(Worker {
                exporter,
                spare: Vec::with_capacity(room),
                queue,
                ctl: ctl_rx,
                export_requested,
                config,
                scrub,
                rt,
                stats,
            })),
        }
    }

    pub(crate) fn set_resource(&self, resource: &Resource) {
        if let Some(w) = self.worker.lock().as_mut() {
            w.exporter.set_resource(resource);
        }
    }

    /// Starts the worker thread (after the resource is set).
    pub(crate) fn start(&self) {
        if let Some(w) = self.worker.lock().take() {
            let name = format!("weft-export-{}", self.name);
            std::thread::Builder::new()
                .name(name)
                .spawn(move || w.run())
                .expect("spawning the weft export thread");
        }
    }

    pub(crate) fn send(&self, span: SpanData) {
        let queued = {
            let mut q = self.queue.inner.lock();
            if q.closed || q.spans.len() >= self.queue.capacity {
                None
            } else {
                q.spans.push(span);
                Some(q.spans.len())
            }
        };
        match queued {
            Some(n) => {
                if n >= self.max_batch && !self.export_requested.swap(true, Ordering::AcqRel) {
                    let _ = self.ctl.try_send(Ctl::ExportNow);
                }
            }
            // the span (if it was not queued) is dropped here, outside the lock
            None => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn control(
        &self,
        make: fn(SyncSender<OTelSdkResult>) -> Ctl,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (rtx, rrx) = sync_channel(1);
        let deadline = Instant::now() + timeout;
        let mut msg = make(rtx);
        loop {
            match self.ctl.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return Err(OTelSdkError::Timeout(timeout));
                    }
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return Err(OTelSdkError::AlreadyShutdown),
            }
        }
        match rrx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }

    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        self.control(Ctl::Flush, timeout)
    }

    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.control(Ctl::Shutdown, timeout)
    }
}

impl Worker {
    fn run(mut self) {
        let mut next = Instant::now() + self.config.schedule_delay;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match self.ctl.recv_timeout(wait) {
                Ok(Ctl::ExportNow) => {
                    self.export_requested.store(false, Ordering::Release);
                    let _ = self.drain(true);
                }
                Ok(Ctl::Flush(reply)) => {
                    let r = self.drain(false);
                    let _ = reply.send(r);
                    next = Instant::now() + self.config.schedule_delay;
                }
                Ok(Ctl::Shutdown(reply)) => {
                    // closed first: nothing can be queued after the last drain
                    self.queue.close();
                    let r = self.drain(false);
                    let r2 = self.exporter.shutdown();
                    let _ = reply.send(r.and(r2));
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.drain(false);
                    next = Instant::now() + self.config.schedule_delay;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.queue.close();
                    let _ = self.drain(false);
                    let _ = self.exporter.shutdown();
                    return;
                }
            }
        }
    }

    /// Exports what is queued: everything, or nothing unless a batch is full. The queue is
    /// taken whole and exported in batches of at most `max_export_batch_size`.
    fn drain(&mut self, full_only: bool) -> OTelSdkResult {
        let max = self.config.max_export_batch_size.max(1);
        let mut result = Ok(());
        loop {
            let mut taken = std::mem::take(&mut self.spare);
            let at_least = if full_only { max } else { 1 };
            if !self.queue.take(at_least, &mut taken) {
                self.spare = taken;
                return result;
            }
            // batches in order, each span moved once (and the vector keeps its capacity)
            let mut spans = taken.drain(..);
            while spans.len() > 0 {
                let batch: Vec<SpanData> = spans.by_ref().take(max).collect();
                result = self.scrub_and_export(batch, result);
            }
            drop(spans);
            self.spare = taken;
            if full_only {
                return result;
            }
        }
    }

    /// Scrubs and exports one batch; the first error so far, else this export's result.
    fn scrub_and_export(
        &mut self,
        mut batch: Vec<SpanData>,
        so_far: OTelSdkResult,
    ) -> OTelSdkResult {
        self.scrub.apply(&mut batch);
        let r = self.export(batch);
        if so_far.is_err() {
            so_far
        } else {
            r
        }
    }

    fn export(&mut self, spans: Vec<SpanData>) -> OTelSdkResult {
        let n = spans.len() as u64;
        let timeout = self.config.export_timeout;
        let fut = self.exporter.export(spans);
        let r = self.rt.block_on(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(OTelSdkError::Timeout(timeout)),
            }
        });
        match &r {
            Ok(()) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.failed.fetch_add(n, Ordering::Relaxed);
                self.stats.failed_exports.fetch_add(1, Ordering::Relaxed);
            }
        }
        r
    }
}

/// Buffered record-only spans of one local trace (keep-errors mode).
#[derive(Default)]
struct Pending {
    spans: Vec<SpanData>,
    error: bool,
}

/// The one processor registered with the SDK: keeps errors/slow requests that head sampling
/// dropped, and fans out to every exporter's batcher.
pub(crate) struct Front {
    pub(crate) batchers: Arc<Vec<Batcher>>,
    pub(crate) keep: KeepConfig,
    pub(crate) stats: Arc<Stats>,
    /// record-only spans of local traces whose local root has not ended (keep mode only)
    pending: Mutex<HashMap<TraceId, Pending>>,
}

const MAX_PENDING_TRACES: usize = 4096;
const MAX_PENDING_SPANS: usize = 1024;

impl fmt::Debug for Front {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Front")
            .field("batchers", &self.batchers)
            .finish()
    }
}

impl Front {
    pub(crate) fn new(batchers: Arc<Vec<Batcher>>, keep: KeepConfig, stats: Arc<Stats>) -> Self {
        Front {
            batchers,
            keep,
            stats,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn forward(&self, span: SpanData) {
        let n = self.batchers.len();
        for (i, b) in self.batchers.iter().enumerate() {
            if i + 1 == n {
                b.send(span);
                return;
            } else {
                b.send(span.clone());
            }
        }
    }

    fn on_end_unsampled(&self, span: SpanData) {
        let trace_id = span.span_context.trace_id();
        let is_error = matches!(span.status, Status::Error { .. });
        let is_local_root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
        let mut pending = self.pending.lock();
        if !is_local_root {
            // a local child: buffer it until its local root ends
            if !pending.contains_key(&trace_id) && pending.len() >= MAX_PENDING_TRACES {
                return;
            }
            let p = pending.entry(trace_id).or_default();
            p.error |= is_error;
            if p.spans.len() < MAX_PENDING_SPANS {
                p.spans.push(span);
            }
            return;
        }
        let mut p = pending.remove(&trace_id).unwrap_or_default();
        drop(pending);
        p.error |= is_error;
        let took = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let slow = self.keep.slow.is_some_and(|t| took >= t);
        if (self.keep.errors && p.error) || slow {
            p.spans.push(span);
            self.stats
                .kept
                .fetch_add(p.spans.len() as u64, Ordering::Relaxed);
            let why = if p.error { "error" } else { "slow" };
            for mut s in p.spans {
                let c = &s.span_context;
                s.span_context = SpanContext::new(
                    c.trace_id(),
                    c.span_id(),
                    c.trace_flags() | TraceFlags::SAMPLED,
                    c.is_remote(),
                    c.trace_state().clone(),
                );
                s.attributes.push(KeyValue::new("weft.sampling.kept", why));
                self.forward(s);
            }
        }
    }
}

impl SpanProcessor for Front {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.forward(span);
        } else if self.keep.enabled() {
            self.on_end_unsampled(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut r = Ok(());
        for b in self.batchers.iter() {
            if let Err(e) = b.flush(Duration::from_secs(5)) {
                r = Err(e);
            }
        }
        r
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let mut r = Ok(());
        for b in self.batchers.iter() {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = b.shutdown(left.max(Duration::from_millis(1))) {
                r = Err(e);
            }
        }
        r
    }

    fn set_resource(&mut self, resource: &Resource) {
        for b in self.batchers.iter() {
            b.set_resource(resource);
        }
    }
}

fn truncate_str(s: &str, max: usize) -> Option<String> {
    if s.len() <= max {
        return None;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(s[..end].to_string())
}

fn truncate_value(v: &mut Value, max: usize) {
    match v {
        Value::String(s) => {
            if let Some(t) = truncate_str(s.as_str(), max) {
                *v = Value::String(t.into());
            }
        }
        Value::Array(opentelemetry::Array::String(items)) => {
            for s in items.iter_mut() {
                if let Some(t) = truncate_str(s.as_str(), max) {
                    *s = t.into();
                }
            }
        }
        _ => {}
    }
}

/// Applies the attribute value length limit (the SDK leaves this out).
pub(crate) fn truncate_values(span: &mut SpanData, max: usize) {
    for kv in span.attributes.iter_mut() {
        truncate_value(&mut kv.value, max);
    }
    for ev in span.events.events.iter_mut() {
        for kv in ev.attributes.iter_mut() {
            truncate_value(&mut kv.value, max);
        }
    }
    for l in span.links.links.iter_mut() {
        for kv in l.attributes.iter_mut() {
            truncate_value(&mut kv.value, max);
        }
    }
}
