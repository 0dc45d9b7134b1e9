//! weft's receivers: OTLP/gRPC and OTLP/HTTP (protobuf and JSON).
//!
//! Every receiver goes through [`Receiver::export`]: admission (in-flight bytes are bounded,
//! excess load gets 429 / RESOURCE_EXHAUSTED with a retry delay), decoding with size caps,
//! id validation with OTLP partial success, and a durable write to the store. Only this crate
//! and weft-server speak HTTP or gRPC.

mod budget;
mod error;
pub mod grpc;
pub mod http;

pub use error::{ErrorCode, IngestError};

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use weft_proto::otlp;
use weft_store::{StoreError, TraceWriter, WriteRequest};

/// Limits that keep a receiver's memory bounded.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted on the wire (compressed), in bytes.
    pub max_request_bytes: usize,
    /// Largest request body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Request bytes being decoded and written at once, over all connections.
    pub max_inflight_bytes: usize,
    /// The delay suggested to clients that are told to retry.
    pub retry_after: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_inflight_bytes: 256 << 20,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// The body encodings OTLP defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// What an accepted export reports back (OTLP partial success).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accepted {
    pub accepted_spans: u64,
    pub rejected_spans: u64,
    pub message: String,
}

/// Counters the server exposes at `/metrics`.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    pub accepted_spans: AtomicU64,
    pub rejected_spans: AtomicU64,
    pub requests_ok: AtomicU64,
    pub requests_bad: AtomicU64,
    pub requests_throttled: AtomicU64,
    pub requests_failed: AtomicU64,
    pub received_bytes: AtomicU64,
}

#[derive(Clone)]
pub struct Receiver {
    writer: Arc<dyn TraceWriter>,
    limits: Limits,
    inflight: Arc<Semaphore>,
    metrics: Arc<IngestMetrics>,
}

/// The budget's unit: one permit per KiB.
pub(crate) const PERMIT_BYTES: usize = 1024;

impl Receiver {
    pub fn new(writer: Arc<dyn TraceWriter>, limits: Limits) -> Receiver {
        let permits = (limits.max_inflight_bytes / PERMIT_BYTES).max(1);
        Receiver {
            writer,
            inflight: Arc::new(Semaphore::new(permits)),
            limits,
            metrics: Arc::new(IngestMetrics::default()),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn metrics(&self) -> &Arc<IngestMetrics> {
        &self.metrics
    }

    /// Decodes, validates and durably stores one export request body (already decompressed).
    pub async fn export(&self, body: Bytes, encoding: Encoding) -> Result<Accepted, IngestError> {
        let res = self.export_inner(body, encoding).await;
        let m = &self.metrics;
        match &res {
            Ok(a) => {
                m.requests_ok.fetch_add(1, Ordering::Relaxed);
                m.accepted_spans
                    .fetch_add(a.accepted_spans, Ordering::Relaxed);
                m.rejected_spans
                    .fetch_add(a.rejected_spans, Ordering::Relaxed);
            }
            Err(e) => self.count_failed(e),
        }
        res
    }

    /// Counts a request that failed, by what went wrong.
    pub(crate) fn count_failed(&self, e: &IngestError) {
        let m = &self.metrics;
        let counter = match e.code {
            ErrorCode::TooManyRequests | ErrorCode::Unavailable => &m.requests_throttled,
            ErrorCode::Internal => &m.requests_failed,
            _ => &m.requests_bad,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A request body whose bytes count against the in-flight budget while they arrive.
    pub(crate) fn budgeted<B>(&self, body: B) -> budget::Budgeted<B> {
        budget::Budgeted::new(
            body,
            self.inflight.clone(),
            self.limits.max_inflight_bytes,
            budget::STALL,
        )
    }

    /// What the client is told when its body could not be read whole.
    pub(crate) fn body_error(&self, e: budget::BodyError) -> IngestError {
        match e {
            budget::BodyError::OverBudget(_) => IngestError::too_many_requests(
                format!(
                    "{e}; retry after {}s",
                    self.limits.retry_after.as_secs_f64().ceil()
                ),
                self.limits.retry_after,
            ),
            budget::BodyError::Stalled(_) => {
                IngestError::new(ErrorCode::RequestTimeout, e.to_string())
            }
            budget::BodyError::Read(_) => IngestError::bad_request(e.to_string()),
        }
    }

    async fn export_inner(&self, body: Bytes, encoding: Encoding) -> Result<Accepted, IngestError> {
        self.metrics
            .received_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let permits = (body.len() / PERMIT_BYTES).max(1) as u32;
        let _permit = self
            .inflight
            .clone()
            .try_acquire_many_owned(permits)
            .map_err(|_| {
                IngestError::too_many_requests(
                    format!(
                        "more than {} bytes of requests are in flight; retry after {}s",
                        self.limits.max_inflight_bytes,
                        self.limits.retry_after.as_secs_f64().ceil()
                    ),
                    self.limits.retry_after,
                )
            })?;
        // refuse for load before decoding: a refused request then costs almost nothing,
        // which matters most exactly when the server is behind
        self.writer.admit().map_err(|e| self.store_error(e))?;
        let (batch, rejected) = match encoding {
            // straight from the wire format into the model, no generated structs in between
            Encoding::Protobuf => {
                otlp::decode_batch(&body).map_err(|e| IngestError::bad_request(e.to_string()))?
            }
            Encoding::Json => otlp::batch_from_request(
                weft_proto::json::decode_request(&body)
                    .map_err(|e| IngestError::bad_request(format!("invalid OTLP/JSON: {e}")))?,
            ),
        };
        let accepted = Accepted {
            accepted_spans: batch.span_count() as u64,
            rejected_spans: rejected.count,
            message: rejected.message,
        };
        if batch.is_empty() {
            return Ok(accepted);
        }
        // the WAL keeps exactly what was accepted: the client's own bytes when nothing was cut
        let otlp_protobuf = (encoding == Encoding::Protobuf && rejected.count == 0).then_some(body);
        self.writer
            .write(WriteRequest {
                batch,
                otlp_protobuf,
            })
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(accepted)
    }

    /// What the client is told when the store refuses or fails a write.
    fn store_error(&self, e: StoreError) -> IngestError {
        match e {
            StoreError::Overloaded(m) => IngestError::too_many_requests(
                format!(
                    "weft is overloaded ({m}); retry after {}s",
                    self.limits.retry_after.as_secs_f64().ceil()
                ),
                self.limits.retry_after,
            ),
            StoreError::ShuttingDown => IngestError::unavailable(
                "weft is shutting down; retry against another instance or later".into(),
                self.limits.retry_after,
            ),
            other => IngestError::unavailable(
                format!("the store could not write the batch ({other}); retry later"),
                self.limits.retry_after * 5,
            ),
        }
    }
}
