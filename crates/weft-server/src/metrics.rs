//! Prometheus text exposition of the receivers' and the store's counters.

use crate::api::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(crate) async fn metrics(State(st): State<ApiState>) -> impl IntoResponse {
    let store = st.store.clone();
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .unwrap_or_default();
    let m = &st.ingest;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let rows: [(&str, &str, &str, u64); 15] = [
        (
            "weft_receiver_accepted_spans_total",
            "counter",
            "Spans accepted and durably stored.",
            load(&m.accepted_spans),
        ),
        (
            "weft_receiver_rejected_spans_total",
            "counter",
            "Spans rejected as invalid (OTLP partial success).",
            load(&m.rejected_spans),
        ),
        (
            "weft_receiver_requests_ok_total",
            "counter",
            "Export requests accepted.",
            load(&m.requests_ok),
        ),
        (
            "weft_receiver_requests_bad_total",
            "counter",
            "Export requests refused as malformed, too large or of the wrong type.",
            load(&m.requests_bad),
        ),
        (
            "weft_receiver_requests_throttled_total",
            "counter",
            "Export requests refused for load (429/RESOURCE_EXHAUSTED, 503).",
            load(&m.requests_throttled),
        ),
        (
            "weft_receiver_requests_failed_total",
            "counter",
            "Export requests that failed inside weft.",
            load(&m.requests_failed),
        ),
        (
            "weft_receiver_received_bytes_total",
            "counter",
            "Request bytes received (decompressed).",
            load(&m.received_bytes),
        ),
        (
            "weft_store_head_spans",
            "gauge",
            "Spans in memory not yet in a block.",
            stats.head_spans,
        ),
        (
            "weft_store_blocks",
            "gauge",
            "Blocks on disk.",
            stats.block_count,
        ),
        (
            "weft_store_block_spans",
            "gauge",
            "Spans in blocks.",
            stats.block_spans,
        ),
        (
            "weft_store_block_bytes",
            "gauge",
            "Bytes of blocks on disk.",
            stats.block_bytes,
        ),
        (
            "weft_store_wal_bytes",
            "gauge",
            "Bytes of WAL segments on disk.",
            stats.wal_bytes,
        ),
        (
            "weft_store_compactions_total",
            "counter",
            "Compactions completed.",
            stats.compactions,
        ),
        (
            "weft_store_retention_deleted_blocks_total",
            "counter",
            "Blocks deleted by retention.",
            stats.blocks_deleted_by_retention,
        ),
        (
            "weft_store_wal_corrupt_frames_total",
            "counter",
            "Damaged WAL frames skipped at start-up.",
            stats.wal_corrupt_frames_skipped,
        ),
    ];
    let mut out = String::new();
    let rss = resident_memory_bytes().map(|v| {
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            v,
        )
    });
    for (name, kind, help, value) in rows.into_iter().chain(rss) {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Resident set size from /proc (Linux); `None` elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
