//! `weft serve`: options from flags, `WEFT_*` variables and a TOML file, in that precedence.

use anyhow::{bail, Context};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use weft_server::config::{parse_bytes, parse_duration, FileConfig};
use weft_server::ServerConfig;

/// Every option is optional here so that "not given" can fall through to the file and then
/// to the default: flag > env > file > default.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML configuration file (keys as the flags spell them, e.g. data-dir = "/var/lib/weft")
    #[arg(long, env = "WEFT_CONFIG")]
    config: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317]
    #[arg(long, env = "WEFT_OTLP_GRPC")]
    otlp_grpc: Option<SocketAddr>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318]
    #[arg(long, env = "WEFT_OTLP_HTTP")]
    otlp_http: Option<SocketAddr>,
    /// Query API listen address [default: 127.0.0.1:16686]
    #[arg(long, env = "WEFT_HTTP")]
    http: Option<SocketAddr>,
    /// Directory of the WAL and blocks [default: ./weft-data]
    #[arg(long, env = "WEFT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Delete data older than this, e.g. 7d, 12h [default: 7d]
    #[arg(long, env = "WEFT_RETENTION")]
    retention: Option<String>,
    /// Delete the oldest blocks while the store is larger than this, e.g. 50GiB [default: no limit]
    #[arg(long, env = "WEFT_MAX_DISK")]
    max_disk: Option<String>,
    /// WAL durability: "always" (fsync each group commit before acknowledging) or "never" [default: always]
    #[arg(long, env = "WEFT_WAL_FSYNC")]
    wal_fsync: Option<String>,
    /// Cut the in-memory head into a block at this many spans [default: 250000]
    #[arg(long, env = "WEFT_BLOCK_MAX_SPANS")]
    block_max_spans: Option<usize>,
    /// ...or when it is this old [default: 2m]
    #[arg(long, env = "WEFT_BLOCK_MAX_AGE")]
    block_max_age: Option<String>,
    /// Refuse writes (429) while more than this much span data waits in memory [default: 2GiB]
    #[arg(long, env = "WEFT_MAX_MEMORY")]
    max_memory: Option<String>,
    /// Merge this many blocks of a level into one [default: 4]
    #[arg(long, env = "WEFT_COMPACTION_FAN_IN")]
    compaction_fan_in: Option<usize>,
    /// How often compaction and retention run [default: 1s]
    #[arg(long, env = "WEFT_MAINTENANCE_INTERVAL")]
    maintenance_interval: Option<String>,
    /// Largest request body on the wire [default: 16MiB]
    #[arg(long, env = "WEFT_MAX_REQUEST_BYTES")]
    max_request_bytes: Option<String>,
    /// Largest request body after decompression [default: 64MiB]
    #[arg(long, env = "WEFT_MAX_DECOMPRESSED_BYTES")]
    max_decompressed_bytes: Option<String>,
    /// Request bytes held at once over all connections, from the first byte received to the
    /// write; beyond it requests get 429 / RESOURCE_EXHAUSTED [default: 256MiB]
    #[arg(long, env = "WEFT_MAX_INFLIGHT_BYTES")]
    max_inflight_bytes: Option<String>,
    /// Close an HTTP/1.1 connection (OTLP/HTTP and the API) that has not sent a request's
    /// headers within this [default: 30s]
    #[arg(long, env = "WEFT_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<String>,
    /// Also archive every trace as OTLP/JSON in DIR/YYYY/MM/DD/<trace_id>.json (UTC day of the
    /// trace's start), written once the trace is idle and rewritten when late spans arrive
    /// [default: no archive]
    #[arg(long, env = "WEFT_ARCHIVE_DIR", value_name = "DIR")]
    archive_dir: Option<PathBuf>,
    /// Delete archive files written longer ago than this, e.g. 30d [default: 30d]
    #[arg(long, env = "WEFT_ARCHIVE_RETENTION")]
    archive_retention: Option<String>,
    /// Archive a trace once no span of it arrived for this long, e.g. 30s [default: 30s]
    #[arg(long, env = "WEFT_ARCHIVE_IDLE")]
    archive_idle: Option<String>,
    /// Traces that may wait to be archived; beyond this the oldest is written early [default: 100000]
    #[arg(long, env = "WEFT_ARCHIVE_MAX_PENDING")]
    archive_max_pending: Option<usize>,
    /// Jaeger sampling strategies file (strategies.json) served to SDK remote samplers at
    /// /api/sampling and /sampling on --http; re-read when it changes [default: probabilistic 1.0]
    #[arg(long, env = "WEFT_SAMPLING_STRATEGIES", value_name = "FILE")]
    sampling_strategies: Option<PathBuf>,
    /// Log format: "text" or "json" [default: text]
    #[arg(long, env = "WEFT_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn pick<T>(flag_or_env: Option<T>, file: Option<T>, default: T) -> T {
    flag_or_env.or(file).unwrap_or(default)
}

fn with<T>(
    what: &str,
    v: Option<String>,
    f: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Option<T>> {
    v.map(|s| f(&s).map_err(|e| anyhow::anyhow!("{what}: {e}")))
        .transpose()
}

/// Resolves the configuration: flag > env > file > default.
pub fn resolve(a: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let file = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the config file {}", p.display()))?;
            FileConfig::parse(&text)
                .map_err(|e| anyhow::anyhow!("config file {}: {e}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let d = ServerConfig::default();
    let fsync = |s: &str| s.parse::<weft_store::FsyncPolicy>();
    let size = |s: &str| parse_bytes(s);
    let usize_size = |s: &str| parse_bytes(s).map(|n| n as usize);
    let cfg = ServerConfig {
        otlp_grpc: pick(a.otlp_grpc, file.otlp_grpc, d.otlp_grpc),
        otlp_http: pick(a.otlp_http, file.otlp_http, d.otlp_http),
        http: pick(a.http, file.http, d.http),
        data_dir: pick(a.data_dir.clone(), file.data_dir, d.data_dir),
        retention: pick(
            with("--retention", a.retention.clone(), parse_duration)?,
            with("retention", file.retention, parse_duration)?,
            d.retention,
        ),
        max_disk: with("--max-disk", a.max_disk.clone(), size)?.or(with(
            "max-disk",
            file.max_disk,
            size,
        )?),
        wal_fsync: pick(
            with("--wal-fsync", a.wal_fsync.clone(), fsync)?,
            with("wal-fsync", file.wal_fsync, fsync)?,
            d.wal_fsync,
        ),
        block_max_spans: pick(a.block_max_spans, file.block_max_spans, d.block_max_spans),
        block_max_age: pick(
            with("--block-max-age", a.block_max_age.clone(), parse_duration)?,
            with("block-max-age", file.block_max_age, parse_duration)?,
            d.block_max_age,
        ),
        max_memory: pick(
            with("--max-memory", a.max_memory.clone(), usize_size)?,
            with("max-memory", file.max_memory, usize_size)?,
            d.max_memory,
        ),
        compaction_fan_in: pick(
            a.compaction_fan_in,
            file.compaction_fan_in,
            d.compaction_fan_in,
        ),
        maintenance_interval: pick(
            with(
                "--maintenance-interval",
                a.maintenance_interval.clone(),
                parse_duration,
            )?,
            with(
                "maintenance-interval",
                file.maintenance_interval,
                parse_duration,
            )?,
            d.maintenance_interval,
        ),
        max_request_bytes: pick(
            with(
                "--max-request-bytes",
                a.max_request_bytes.clone(),
                usize_size,
            )?,
            with("max-request-bytes", file.max_request_bytes, usize_size)?,
            d.max_request_bytes,
        ),
        max_decompressed_bytes: pick(
            with(
                "--max-decompressed-bytes",
                a.max_decompressed_bytes.clone(),
                usize_size,
            )?,
            with(
                "max-decompressed-bytes",
                file.max_decompressed_bytes,
                usize_size,
            )?,
            d.max_decompressed_bytes,
        ),
        max_inflight_bytes: pick(
            with(
                "--max-inflight-bytes",
                a.max_inflight_bytes.clone(),
                usize_size,
            )?,
            with("max-inflight-bytes", file.max_inflight_bytes, usize_size)?,
            d.max_inflight_bytes,
        ),
        header_read_timeout: pick(
            with(
                "--header-read-timeout",
                a.header_read_timeout.clone(),
                parse_duration,
            )?,
            with(
                "header-read-timeout",
                file.header_read_timeout,
                parse_duration,
            )?,
            d.header_read_timeout,
        ),
        archive_dir: a.archive_dir.clone().or(file.archive_dir),
        archive_retention: pick(
            with(
                "--archive-retention",
                a.archive_retention.clone(),
                parse_duration,
            )?,
            with("archive-retention", file.archive_retention, parse_duration)?,
            d.archive_retention,
        ),
        archive_idle: pick(
            with("--archive-idle", a.archive_idle.clone(), parse_duration)?,
            with("archive-idle", file.archive_idle, parse_duration)?,
            d.archive_idle,
        ),
        archive_max_pending: pick(
            a.archive_max_pending,
            file.archive_max_pending,
            d.archive_max_pending,
        ),
        sampling_strategies: a.sampling_strategies.clone().or(file.sampling_strategies),
    };
    if cfg.block_max_spans == 0 {
        bail!("--block-max-spans must be at least 1");
    }
    if cfg.compaction_fan_in < 2 {
        bail!("--compaction-fan-in must be at least 2");
    }
    if cfg.archive_max_pending == 0 {
        bail!("--archive-max-pending must be at least 1");
    }
    if cfg.archive_retention.is_zero() {
        bail!("--archive-retention must be longer than zero, e.g. 30d");
    }
    Ok(cfg)
}

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if a.log_format == "json" {
        sub.json().init();
    } else {
        sub.init();
    }
    let cfg = resolve(&a)?;
    raise_open_file_limit();
    fail_writes_past_the_file_size_limit();
    let server = weft_server::start(cfg.clone()).await?;
    let r = &server.open_report;
    tracing::info!(
        data_dir = %cfg.data_dir.display(),
        blocks = r.blocks,
        replayed_spans = r.replayed_spans,
        replayed_segments = r.replayed_segments,
        "store opened"
    );
    // the one line tests and scripts wait for
    println!(
        "weft listening otlp-grpc={} otlp-http={} http={} data-dir={}",
        server.otlp_grpc,
        server.otlp_http,
        server.http,
        cfg.data_dir.display()
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Makes a write past the file-size limit (`ulimit -f`) fail with an error, which the store
/// reports and the client is told of, instead of killing the server with SIGXFSZ (the
/// signal's default action) and every request in flight with it.
fn fail_writes_past_the_file_size_limit() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Raises the soft limit on open files to the hard limit: every block keeps its spans file
/// open, and a store with long retention holds many blocks.
fn raise_open_file_limit() {
    #[cfg(unix)]
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let soft = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                tracing::debug!(from = soft, to = lim.rlim_max, "raised the open-file limit");
            } else {
                tracing::warn!(limit = soft, "could not raise the open-file limit; a store with many blocks may hit it (raise it with ulimit -n)");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_flag_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("weft.toml");
        std::fs::write(
            &f,
            "retention = \"2d\"\nhttp = \"127.0.0.1:9999\"\nblock-max-spans = 7\n",
        )
        .unwrap();
        let a = ServeArgs {
            config: Some(f.clone()),
            retention: Some("3h".into()),
            ..Default::default()
        };
        let c = resolve(&a).unwrap();
        assert_eq!(c.retention, std::time::Duration::from_secs(3 * 3600)); // flag wins
        assert_eq!(c.http, "127.0.0.1:9999".parse().unwrap()); // file beats default
        assert_eq!(c.block_max_spans, 7);
        assert_eq!(c.otlp_grpc, "127.0.0.1:4317".parse().unwrap()); // default
        std::fs::write(&f, "retension = \"2d\"\n").unwrap();
        let err = resolve(&a).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        std::fs::write(
            &f,
            "archive-dir = \"data/traces\"\narchive-retention = \"30d\"\narchive-idle = \"5s\"\n",
        )
        .unwrap();
        let c = resolve(&ServeArgs {
            config: Some(f.clone()),
            archive_idle: Some("2s".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.archive_dir, Some(PathBuf::from("data/traces"))); // file
        assert_eq!(
            c.archive_retention,
            std::time::Duration::from_secs(30 * 86_400)
        );
        assert_eq!(c.archive_idle, std::time::Duration::from_secs(2)); // flag wins
        assert_eq!(c.archive_max_pending, 100_000); // default
        assert!(resolve(&ServeArgs {
            archive_retention: Some("soon".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string()
        .contains("--archive-retention"));
        let bad = ServeArgs {
            wal_fsync: Some("sometimes".into()),
            ..Default::default()
        };
        assert!(resolve(&bad)
            .unwrap_err()
            .to_string()
            .contains("--wal-fsync"));
    }
}
