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
use http_body_util::{BodyExt, LengthLimitError, Limited};
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
            r.metrics()
                .requests_bad
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.max_request_bytes as u64 {
            return Err(too_large());
        }
    }
    #[allow(clippy::disallowed_methods)] // bounded: Limited caps the body
    let bytes = Limited::new(body, limits.max_request_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large()
            } else {
                IngestError::bad_request(format!("could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    if !gzip {
        return Ok(bytes);
    }
    gunzip_capped(&bytes, limits.max_decompressed_bytes)
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
