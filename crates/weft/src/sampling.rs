//! Head samplers from configuration, and the record-only wrapper behind error/slow keeping.

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::config::SamplerConfig;
use crate::sampling_remote::JaegerRemoteSampler;

/// The head sampler a configuration names: an SDK sampler, or weft's Jaeger remote sampler
/// (whose polling runs on `runtime`, weft's own, for the service `service`).
pub fn sampler(config: SamplerConfig, service: &str, runtime: &tokio::runtime::Handle) -> Head {
    let sdk = match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
        SamplerConfig::JaegerRemote(c) => {
            return Head::Remote(JaegerRemoteSampler::start(&c, service, runtime))
        }
        SamplerConfig::ParentBasedJaegerRemote(c) => {
            Sampler::ParentBased(Box::new(JaegerRemoteSampler::start(&c, service, runtime)))
        }
    };
    Head::Sdk(sdk)
}

/// A head sampler: one of the SDK's, or the Jaeger remote sampler on its own.
#[derive(Debug, Clone)]
pub enum Head {
    /// An SDK sampler (including `ParentBased(JaegerRemoteSampler)`).
    Sdk(Sampler),
    /// `jaeger_remote`: the remote sampler decides for every span, parent or not.
    Remote(JaegerRemoteSampler),
}

impl ShouldSample for Head {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        match self {
            Head::Sdk(s) => {
                s.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
            Head::Remote(s) => {
                s.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
        }
    }
}

/// Turns the inner sampler's `Drop` into `RecordOnly`, so the spans reach weft's processor,
/// which exports the local subtree only when it holds an error or was slow.
#[derive(Debug, Clone)]
pub struct RecordDropped<S>(pub S);

impl<S: ShouldSample + Clone + 'static> ShouldSample for RecordDropped<S> {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let mut r =
            self.0
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        if r.decision == SamplingDecision::Drop {
            r.decision = SamplingDecision::RecordOnly;
        }
        r
    }
}
