//! OTLP/HTTP: `POST /v1/traces` with `application/x-protobuf` or `application/json` bodies,
//! optionally gzip-compressed, with or without a Content-Length (chunked bodies are read with
//! the same cap).

use crate::{Accepted, Encoding, ErrorCode, IngestError, Receiver};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use prost::Message;
use std::io::Read;
use weft_proto::{ExportTracePartialSuccess, ExportTraceServiceResponse};

/// `google.rpc.Status`, the body OTLP/HTTP error responses carry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

pub fn router(receiver: Receiver) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .with_state(receiver)
}

async fn export(State(r): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let encoding = match content_type(&headers) {
        Ok(e) => e,
        Err(e) => return error_response(Encoding::Json, &e),
    };
    match read_body(&r, &headers, body).await {
        Ok(bytes) => match r.export(bytes, encoding).await {
            Ok(a) => success_response(encoding, &a),
            Err(e) => error_response(encoding, &e),
        },
        Err(e) => {
            r.count_failed(&e);
            error_response(encoding, &e)
        }
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF | "application/protobuf" => Ok(Encoding::Protobuf),
        JSON => Ok(Encoding::Json),
        _ => Err(IngestError::new(
            ErrorCode::UnsupportedMediaType,
            format!("unsupported content type {raw:?}: send OTLP as {PROTOBUF} or {JSON}"),
        )),
    }
}

/// Reads the body within the wire cap, then decompresses it within the decompressed cap.
pub async fn read_body(
    r: &Receiver,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, IngestError> {
    let limits = r.limits();
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(e) => {
            return Err(IngestError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                "unsupported content encoding {e:?}: send the body uncompressed or gzip-compressed"
            ),
            ))
        }
    };
    let too_large = || {
        IngestError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "request body exceeds {} bytes: send smaller batches (e.g. lower the exporter's max batch size)",
                limits.max_request_bytes
            ),
        )
    };
    // an announced Content-Length over the cap is refused without buffering anything, but the
    // body is still drained (bounded) so the client reads the 413 rather than a reset
    let announced_too_large = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > limits.max_request_bytes as u64);
    let cap = if announced_too_large {
        0
    } else {
        limits.max_request_bytes
    };
    let bytes = read_capped(r, body, cap).await?.ok_or_else(too_large)?;
    if !gzip {
        return Ok(bytes);
    }
    gunzip_capped(&bytes, limits.max_decompressed_bytes)
}

/// How much of an oversized body is read and discarded (never kept) before answering 413, and
/// for how long: a client still sending would otherwise see a reset instead of the status
/// (nginx's "lingering close", done here).
const DRAIN_BYTES: usize = 64 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the body into memory up to `cap` bytes; `None` when it is larger (the rest is
/// drained, within `DRAIN_BYTES` and `DRAIN_TIME`, and dropped).
async fn read_capped(r: &Receiver, body: Body, cap: usize) -> Result<Option<Bytes>, IngestError> {
    // counted against the in-flight budget as it arrives, given up on if it stalls
    let mut body = std::pin::pin!(r.budgeted(body));
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| r.body_error(e))?.into_data() else {
            continue; // trailers
        };
        if buf.len() + data.len() > cap {
            let mut drained = buf.len() + data.len();
            drop(buf);
            let deadline = tokio::time::Instant::now() + DRAIN_TIME;
            while drained < DRAIN_BYTES {
                match tokio::time::timeout_at(deadline, body.frame()).await {
                    Ok(Some(Ok(f))) => drained += f.data_ref().map_or(0, |d| d.len()),
                    _ => break,
                }
            }
            return Ok(None);
        }
        buf.extend_from_slice(&data);
    }
    Ok(Some(buf.freeze()))
}

/// Decompresses gzip, refusing to produce more than `cap` bytes (a gzip bomb gets 413).
pub fn gunzip_capped(data: &[u8], cap: usize) -> Result<Bytes, IngestError> {
    let mut out = Vec::with_capacity((data.len() * 4).min(cap));
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(cap as u64 + 1);
    #[allow(clippy::disallowed_methods)] // bounded: take(cap + 1)
    dec.read_to_end(&mut out)
        .map_err(|e| IngestError::bad_request(format!("invalid gzip body: {e}")))?;
    if out.len() > cap {
        return Err(IngestError::new(
            ErrorCode::PayloadTooLarge,
            format!("decompressed request body exceeds {cap} bytes: send smaller batches"),
        ));
    }
    Ok(Bytes::from(out))
}

fn success_response(encoding: Encoding, a: &Accepted) -> Response {
    match encoding {
        Encoding::Protobuf => {
            let resp = ExportTraceServiceResponse {
                partial_success: (a.rejected_spans > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: a.rejected_spans as i64,
                    error_message: a.message.clone(),
                }),
            };
            ([(header::CONTENT_TYPE, PROTOBUF)], resp.encode_to_vec()).into_response()
        }
        Encoding::Json => {
            let body = if a.rejected_spans > 0 {
                serde_json::json!({"partialSuccess": {
                    "rejectedSpans": a.rejected_spans.to_string(),
                    "errorMessage": a.message,
                }})
            } else {
                serde_json::json!({})
            };
            ([(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
        }
    }
}

/// An error as OTLP/HTTP says: the status code, a `google.rpc.Status` body in the request's
/// encoding, and `Retry-After` when the client should retry.
pub fn error_response(encoding: Encoding, e: &IngestError) -> Response {
    let status: StatusCode = e.code.http_status();
    let grpc = e.code.grpc_code() as i32;
    let mut resp = match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, PROTOBUF)],
            RpcStatus {
                code: grpc,
                message: e.message.clone(),
            }
            .encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, JSON)],
            serde_json::json!({"code": grpc, "message": e.message}).to_string(),
        )
            .into_response(),
    };
    if let Some(d) = e.retry_after {
        let secs = d.as_secs_f64().ceil().max(1.0) as u64;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
