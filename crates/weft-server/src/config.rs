//! `weft serve` configuration: one typed struct. The CLI fills it with the precedence
//! flag > `WEFT_*` environment variable > TOML file > default; the file is parsed with
//! `deny_unknown_fields`, so a misspelt option is an error, not a silent default.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use weft_store::FsyncPolicy;

#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// OTLP/gRPC listen address.
    pub otlp_grpc: SocketAddr,
    /// OTLP/HTTP listen address.
    pub otlp_http: SocketAddr,
    /// Query API (and UI) listen address.
    pub http: SocketAddr,
    /// Where the WAL and blocks live.
    pub data_dir: PathBuf,
    /// Blocks older than this are deleted.
    pub retention: Duration,
    /// Oldest blocks are deleted while the store uses more than this many bytes.
    pub max_disk: Option<u64>,
    pub wal_fsync: FsyncPolicy,
    pub block_max_spans: usize,
    pub block_max_age: Duration,
    pub max_memory: usize,
    pub compaction_fan_in: usize,
    pub maintenance_interval: Duration,
    pub max_request_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_inflight_bytes: usize,
    /// An HTTP/1.1 connection that has not sent a request's headers within this is closed.
    pub header_read_timeout: Duration,
    /// When set, every trace is also written as OTLP/JSON to `<dir>/YYYY/MM/DD/<id>.json`.
    pub archive_dir: Option<PathBuf>,
    /// Archive files written longer ago than this are deleted.
    pub archive_retention: Duration,
    /// A trace is archived once no span of it arrived for this long.
    pub archive_idle: Duration,
    /// At most this many traces wait to be archived; beyond it the oldest is written early.
    pub archive_max_pending: usize,
    /// Jaeger sampling strategies file served at `/api/sampling` and `/sampling`; re-read when
    /// it changes. Without it every service gets probabilistic 1.0.
    pub sampling_strategies: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let store = weft_store::StoreOptions::new("./weft-data");
        let limits = weft_ingest::Limits::default();
        ServerConfig {
            otlp_grpc: "127.0.0.1:4317".parse().expect("valid"),
            otlp_http: "127.0.0.1:4318".parse().expect("valid"),
            http: "127.0.0.1:16686".parse().expect("valid"),
            data_dir: store.data_dir,
            retention: store.retention,
            max_disk: None,
            wal_fsync: store.fsync,
            block_max_spans: store.block_max_spans,
            block_max_age: store.block_max_age,
            max_memory: store.max_memory_bytes,
            compaction_fan_in: store.compaction_fan_in,
            maintenance_interval: store.maintenance_interval,
            max_request_bytes: limits.max_request_bytes,
            max_decompressed_bytes: limits.max_decompressed_bytes,
            max_inflight_bytes: limits.max_inflight_bytes,
            header_read_timeout: Duration::from_secs(30),
            archive_dir: None,
            archive_retention: Duration::from_secs(30 * 86_400),
            archive_idle: Duration::from_secs(30),
            archive_max_pending: 100_000,
            sampling_strategies: None,
        }
    }
}

/// The TOML file: every field optional, names as the flags spell them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub retention: Option<String>,
    pub max_disk: Option<String>,
    pub wal_fsync: Option<String>,
    pub block_max_spans: Option<usize>,
    pub block_max_age: Option<String>,
    pub max_memory: Option<String>,
    pub compaction_fan_in: Option<usize>,
    pub maintenance_interval: Option<String>,
    pub max_request_bytes: Option<String>,
    pub max_decompressed_bytes: Option<String>,
    pub max_inflight_bytes: Option<String>,
    pub header_read_timeout: Option<String>,
    pub archive_dir: Option<PathBuf>,
    pub archive_retention: Option<String>,
    pub archive_idle: Option<String>,
    pub archive_max_pending: Option<usize>,
    pub sampling_strategies: Option<PathBuf>,
}

impl FileConfig {
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// Parses sizes such as `512MiB`, `10GB`, `1048576`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: write e.g. 512MiB or 10GB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        u => return Err(unknown_unit(s, u)),
    };
    Ok((n * mult).round() as u64)
}

fn unknown_unit(s: &str, u: &str) -> String {
    format!("invalid size {s:?}: unknown unit {u:?} (use B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)")
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    weft_model::duration::parse_duration_nanos(s).map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
    }

    #[test]
    fn file_rejects_unknown_fields() {
        let ok = FileConfig::parse("data-dir = \"/x\"\nretention = \"2d\"\n").unwrap();
        assert_eq!(ok.data_dir, Some(PathBuf::from("/x")));
        let a = FileConfig::parse("archive-dir = \"data/traces\"\narchive-retention = \"30d\"\n")
            .unwrap();
        assert_eq!(a.archive_dir, Some(PathBuf::from("data/traces")));
        assert_eq!(a.archive_retention.as_deref(), Some("30d"));
        let err = FileConfig::parse("retension = \"2d\"").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }
}
