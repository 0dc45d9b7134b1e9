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
    let rows: [(&str, &str, &str, u64); 16] = [
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
            "weft_store_heads_cut_in_parallel_total",
            "counter",
            "Heads written into blocks alongside another: the cutter had several waiting, a sign of sustained load.",
            stats.heads_cut_in_parallel,
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
    for (name, kind, help, value) in rows {
        write_metric(&mut out, name, kind, help, value);
    }
    for (name, kind, help, value) in process_metrics() {
        write_metric(&mut out, name, kind, help, value);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// One metric in the Prometheus text format: its help, its type and its one sample.
fn write_metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    value: impl std::fmt::Display,
) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// The numeric fields of /proc/self/stat by their number in proc(5) (Linux only): the fields
/// after the command name, which is in parentheses and may itself hold spaces.
fn proc_self_stat() -> Option<impl Fn(usize) -> Option<f64>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // `after` starts at field 3 (state)
    let fields: Vec<String> = after.split_whitespace().map(String::from).collect();
    Some(move |n: usize| -> Option<f64> { fields.get(n.checked_sub(3)?)?.parse().ok() })
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system configuration value
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// This process's CPU time so far, user and system, in seconds (`process_cpu_seconds_total`);
/// `None` where /proc is not there.
pub fn process_cpu_seconds() -> Option<f64> {
    cpu_seconds(&proc_self_stat()?)
}

/// utime and stime (fields 14 and 15, in clock ticks), in seconds.
fn cpu_seconds(field: &impl Fn(usize) -> Option<f64>) -> Option<f64> {
    Some((field(14)? + field(15)?) / clock_ticks_per_second())
}

/// The standard process metrics of Prometheus client libraries (CPU time, memory, file
/// descriptors, start time), from /proc on Linux; none elsewhere.
fn process_metrics() -> Vec<(&'static str, &'static str, &'static str, f64)> {
    let mut out = Vec::new();
    // starttime is field 22 (ticks after boot), vsize 23 (bytes) and rss 24 (pages)
    let Some(field) = proc_self_stat() else {
        return out;
    };
    // SAFETY: sysconf only reads a system configuration value
    let page = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(1) as f64;
    let ticks = clock_ticks_per_second();
    if let Some(cpu) = cpu_seconds(&field) {
        out.push((
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            cpu,
        ));
    }
    if let Some(v) = field(23) {
        out.push((
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            v,
        ));
    }
    if let Some(pages) = field(24) {
        out.push((
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            pages * page,
        ));
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        out.push((
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot + start / ticks,
        ));
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push((
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            // less the one this listing holds open
            fds.count().saturating_sub(1) as f64,
        ));
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into the struct it is given
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        out.push((
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            limit.rlim_cur as f64,
        ));
    }
    out
}
