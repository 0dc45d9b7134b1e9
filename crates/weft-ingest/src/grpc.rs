//! OTLP/gRPC `TraceService/Export`.
//!
//! A hand-written service instead of the generated one: its codec hands over the request's
//! raw protobuf bytes, so the exact bytes the client sent go to the WAL without a re-encode.

use crate::{Encoding, Receiver};
use bytes::{Buf, Bytes};
use prost::Message;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};
use weft_proto::{ExportTracePartialSuccess, ExportTraceServiceResponse};

pub const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[derive(Clone, Default)]
struct RawCodec;

struct RawDecoder;
struct ResponseEncoder;

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;
    fn encode(&mut self, item: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(format!("encoding the response failed: {e}")))
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

/// The gRPC service; mount it on a tonic server (`Server::builder().add_service(...)`).
#[derive(Clone)]
pub struct TraceServiceServer {
    receiver: Receiver,
}

impl TraceServiceServer {
    pub fn new(receiver: Receiver) -> TraceServiceServer {
        TraceServiceServer { receiver }
    }
}

impl NamedService for TraceServiceServer {
    const NAME: &'static str = SERVICE_NAME;
}

struct ExportSvc(Receiver);

impl UnaryService<Bytes> for ExportSvc {
    type Response = ExportTraceServiceResponse;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Self::Response>, Status>> + Send>>;
    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let r = self.0.clone();
        Box::pin(async move {
            let a = r
                .export(req.into_inner(), Encoding::Protobuf)
                .await
                .map_err(|e| e.to_grpc_status())?;
            Ok(Response::new(ExportTraceServiceResponse {
                partial_success: (a.rejected_spans > 0).then_some(ExportTracePartialSuccess {
                    rejected_spans: a.rejected_spans as i64,
                    error_message: a.message,
                }),
            }))
        })
    }
}

type BoxBody = tonic::body::Body;

impl<B> tower::Service<http::Request<B>> for TraceServiceServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    B::Data: Send,
{
    type Response = http::Response<BoxBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let receiver = self.receiver.clone();
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async move {
                Ok(Status::unimplemented(format!(
                    "unknown method {}: weft serves {EXPORT_PATH}",
                    req.uri().path()
                ))
                .into_http())
            });
        }
        // the message counts against the in-flight budget while it arrives (as on OTLP/HTTP);
        // refused or stalled, the stream ends with the status that says so
        let req = {
            let r = receiver.clone();
            let body_error = move |e| {
                let e = r.body_error(e);
                r.count_failed(&e);
                e.to_grpc_status()
            };
            req.map(|b| http_body_util::BodyExt::map_err(receiver.budgeted(b), body_error))
        };
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let max = receiver.limits().max_decompressed_bytes;
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(max), None);
            Ok(grpc.unary(ExportSvc(receiver), req).await)
        })
    }
}
