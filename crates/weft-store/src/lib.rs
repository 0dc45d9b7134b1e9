//! weft's storage.
//!
//! Two traits are the whole contract between the server and a backend:
//! [`TraceWriter`] (durable writes) and [`TraceReader`] (trace by id, search, catalog).
//! Queries are expressed as [`SearchQuery`] values that both the embedded engine and the
//! ClickHouse backend can evaluate; [`Capabilities`] says what a backend evaluates itself
//! (pushdown) so the query layer knows what it must finish over fetched traces.
//!
//! The embedded engine ([`embedded::EmbeddedStore`]) keeps every accepted batch in a
//! checksummed write-ahead log before acknowledging it, serves it from an in-memory head block,
//! cuts the head into immutable Parquet blocks, compacts them and applies retention.
//!
//! weft-store knows nothing of HTTP, gRPC or the query language.

pub mod block;
pub mod bloom;
pub mod embedded;
mod head;
mod pread;
pub mod terms;
pub mod wal;

use async_trait::async_trait;
use bytes::Bytes;
use weft_model::{Batch, SpanKind, TraceId, TraceSummary};

pub use embedded::{EmbeddedStore, FsyncPolicy, StoreOptions, COMPACTOR_NICE};

/// Errors of store operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take more now; the caller should retry after a pause.
    #[error("store overloaded: {0}; retry after a short pause")]
    Overloaded(String),
    #[error("store is shutting down")]
    ShuttingDown,
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt data in {path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("parquet error in {path}: {message}")]
    Parquet { path: String, message: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
}

impl StoreError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One write: the batch, and optionally its OTLP protobuf encoding (an
/// `ExportTraceServiceRequest` holding exactly this batch) so the WAL need not encode it again.
pub struct WriteRequest {
    pub batch: Batch,
    pub otlp_protobuf: Option<Bytes>,
}

#[async_trait]
pub trait TraceWriter: Send + Sync {
    /// Stores the batch. When this returns `Ok`, the batch is durable (as the backend's
    /// durability policy says) and visible to readers.
    async fn write(&self, req: WriteRequest) -> Result<()>;

    /// Whether a write would be refused for load right now (`Overloaded`), asked before a
    /// request is decoded so that a refusal costs no decoding. Only a hint: `write` decides.
    fn admit(&self) -> Result<()> {
        Ok(())
    }
}

/// A search over spans: a trace matches when one of its spans satisfies every condition
/// (Jaeger's semantics: service, operation, tags and duration apply to the same span).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchQuery {
    /// `service.name` of the span's resource.
    pub service: Option<String>,
    /// Span name.
    pub span_name: Option<String>,
    /// `key = value` on the span's or its resource's attributes; values compare as text
    /// (`200` matches the int 200, `true` the bool).
    pub attributes: Vec<(String, String)>,
    /// Span duration bounds in nanoseconds, inclusive.
    pub min_duration_nanos: Option<u64>,
    pub max_duration_nanos: Option<u64>,
    /// Only spans with status error.
    pub errors_only: bool,
    /// Span start bounds (unix nanoseconds), inclusive.
    pub start_unix_nano: Option<u64>,
    pub end_unix_nano: Option<u64>,
    /// Maximum number of traces returned.
    pub limit: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchResult {
    /// Newest first (by trace start).
    pub traces: Vec<TraceSummary>,
    /// More traces matched than `limit`.
    pub truncated: bool,
}

/// A span name a service produced, with its kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub name: String,
    pub kind: SpanKind,
}

/// Which [`SearchQuery`] conditions a backend evaluates itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub service: bool,
    pub span_name: bool,
    pub attributes: bool,
    pub duration: bool,
    pub status: bool,
    pub time_range: bool,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        service: true,
        span_name: true,
        attributes: true,
        duration: true,
        status: true,
        time_range: true,
    };
}

#[async_trait]
pub trait TraceReader: Send + Sync {
    /// Every stored span of the trace, grouped by resource and scope; `None` when unknown.
    async fn trace(&self, id: TraceId) -> Result<Option<Batch>>;
    async fn search(&self, q: &SearchQuery) -> Result<SearchResult>;
    async fn services(&self) -> Result<Vec<String>>;
    async fn operations(&self, service: &str) -> Result<Vec<Operation>>;
    fn capabilities(&self) -> Capabilities;
}

/// Backend statistics, for `/metrics` and the bench's bytes-per-span report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    pub head_spans: u64,
    pub block_count: u64,
    pub block_spans: u64,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    pub compactions: u64,
    pub blocks_deleted_by_retention: u64,
    pub wal_corrupt_frames_skipped: u64,
    /// How many heads took the memory of a head cut before them (embedded store only).
    pub head_storage_reused: u64,
    /// How many heads were written into blocks alongside another (embedded store only; see
    /// `StoreOptions::cut_parallelism`).
    pub heads_cut_in_parallel: u64,
}

/// Evaluates the span-level conditions of a query on one span's facts; shared by the head
/// block and by tests so both backends agree on the semantics.
pub struct SpanFacts<'a> {
    pub service: &'a str,
    pub name: &'a str,
    pub start: u64,
    pub duration: u64,
    pub error: bool,
}

impl SearchQuery {
    pub fn matches_facts(&self, f: &SpanFacts<'_>) -> bool {
        self.service.as_deref().is_none_or(|s| s == f.service)
            && self.span_name.as_deref().is_none_or(|n| n == f.name)
            && self.matches_numbers(f.start, f.duration, f.error)
    }

    /// The conditions on a span's start, duration and status.
    /// Whether the query bounds span times or durations, or asks for errors only (what
    /// [`Self::matches_numbers`] checks).
    pub fn has_number_conditions(&self) -> bool {
        self.min_duration_nanos.is_some()
            || self.max_duration_nanos.is_some()
            || self.errors_only
            || self.start_unix_nano.is_some()
            || self.end_unix_nano.is_some()
    }
    pub fn matches_numbers(&self, start: u64, duration: u64, error: bool) -> bool {
        self.min_duration_nanos.is_none_or(|m| duration >= m)
            && self.max_duration_nanos.is_none_or(|m| duration <= m)
            && (!self.errors_only || error)
            && self.start_unix_nano.is_none_or(|s| start >= s)
            && self.end_unix_nano.is_none_or(|e| start <= e)
    }
}
