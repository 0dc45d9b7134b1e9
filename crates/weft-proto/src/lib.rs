//! Wire formats ↔ weft's model: OTLP protobuf ([`otlp`]) and OTLP/JSON ([`json`]), and Jaeger's
//! JSON views of a trace ([`jaeger`]); and the synthetic OTLP workload of `weft bench`
//! ([`synthetic`]).

pub mod jaeger;
pub mod json;
pub mod otlp;
pub mod synthetic;

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// A request body that is not valid OTLP protobuf.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub message: String,
}
