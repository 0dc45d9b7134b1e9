//! Message queues: inject the context into a message's headers with a producer span, and
//! continue it on the other side with a consumer span.

use std::collections::HashMap;

use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A producer span for sending to `destination` on `system` (e.g. "kafka", "rabbitmq").
/// Call [`inject`] inside it (or pass the span) to put its context in the message headers.
pub fn producer_span(system: &str, destination: &str) -> tracing::Span {
    tracing::info_span!(
        "send",
        otel.name = format!("send {destination}"),
        otel.kind = "producer",
        messaging.system = system,
        messaging.destination.name = destination,
        messaging.operation.type = "send",
    )
}

/// Writes `span`'s context into message headers.
pub fn inject(span: &tracing::Span, headers: &mut HashMap<String, String>) {
    crate::propagation::inject_map(&span.context(), headers);
}

/// A consumer span for a received message, whose parent is the context in its headers.
pub fn consumer_span(
    system: &str,
    destination: &str,
    headers: &HashMap<String, String>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {destination}"),
        otel.kind = "consumer",
        messaging.system = system,
        messaging.destination.name = destination,
        messaging.operation.type = "process",
    );
    let _ = span.set_parent(crate::propagation::extract_map(headers));
    span
}
