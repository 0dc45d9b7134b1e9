//! GenAI spans with the current OpenTelemetry `gen_ai.*` semantic conventions: model calls,
//! agents, tools, retrieval and chains; token usage; cost from an extendable pricing table;
//! prompt/response capture off by default.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static CAPTURE: AtomicBool = AtomicBool::new(false);
static LEGACY: AtomicBool = AtomicBool::new(false);

/// Turns prompt/response capture on or off (default off; also on when
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` at init).
pub fn set_capture_content(on: bool) {
    CAPTURE.store(on, Ordering::Relaxed);
}

/// Whether prompts and responses are recorded.
pub fn capture_content() -> bool {
    CAPTURE.load(Ordering::Relaxed)
}

/// Also write legacy attribute names (`gen_ai.system`, `gen_ai.usage.prompt_tokens`,
/// `gen_ai.usage.completion_tokens`, `llm.token_count.*`) for backends that still read them.
pub fn set_legacy_attributes(on: bool) {
    LEGACY.store(on, Ordering::Relaxed);
}

/// Price of a model, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Input (prompt) tokens.
    pub input_per_mtok: f64,
    /// Output (completion) tokens.
    pub output_per_mtok: f64,
}

fn pricing() -> &'static RwLock<HashMap<String, Price>> {
    static P: OnceLock<RwLock<HashMap<String, Price>>> = OnceLock::new();
    P.get_or_init(|| {
        let mut m = HashMap::new();
        for (model, i, o) in [
            ("gpt-4o", 2.5, 10.0),
            ("gpt-4o-mini", 0.15, 0.6),
            ("gpt-4.1", 2.0, 8.0),
            ("gpt-4.1-mini", 0.4, 1.6),
            ("claude-3-5-sonnet", 3.0, 15.0),
            ("claude-3-5-haiku", 0.8, 4.0),
            ("claude-sonnet-4", 3.0, 15.0),
        ] {
            m.insert(
                model.to_string(),
                Price {
                    input_per_mtok: i,
                    output_per_mtok: o,
                },
            );
        }
        RwLock::new(m)
    })
}

/// Adds or replaces a model's price.
pub fn set_price(model: impl Into<String>, price: Price) {
    pricing().write().insert(model.into(), price);
}

/// The price of `model`: exact match, else the longest known prefix (so dated variants such
/// as `gpt-4o-2024-08-06` find `gpt-4o`).
pub fn price(model: &str) -> Option<Price> {
    let p = pricing().read();
    if let Some(x) = p.get(model) {
        return Some(*x);
    }
    p.iter()
        .filter(|(k, _)| model.starts_with(k.as_str()))
        .max_by_key(|(k, _)| k.len())
        .map(|(_, v)| *v)
}

/// Cost in USD of a call, when the model's price is known.
pub fn cost(model: &str, input_tokens: u64, output_tokens: u64) -> Option<f64> {
    price(model).map(|p| {
        (input_tokens as f64 * p.input_per_mtok + output_tokens as f64 * p.output_per_mtok) / 1e6
    })
}

fn span(op: &'static str, name: String, kind: &'static str) -> tracing::Span {
    let s = tracing::info_span!("gen_ai", otel.name = name, otel.kind = kind);
    s.set_attribute("gen_ai.operation.name", op);
    s
}

/// A model call (`chat`, `text_completion`, `embeddings`, `generate_content`).
pub fn model_span(provider: &str, operation: &'static str, model: &str) -> tracing::Span {
    let s = span(operation, format!("{operation} {model}"), "client");
    s.set_attribute("gen_ai.provider.name", provider.to_string());
    s.set_attribute("gen_ai.request.model", model.to_string());
    if LEGACY.load(Ordering::Relaxed) {
        s.set_attribute("gen_ai.system", provider.to_string());
    }
    s
}

/// An agent invocation (one iteration of an agent loop is one such span).
pub fn agent_span(agent_name: &str) -> tracing::Span {
    let s = span(
        "invoke_agent",
        format!("invoke_agent {agent_name}"),
        "internal",
    );
    s.set_attribute("gen_ai.agent.name", agent_name.to_string());
    s
}

/// A tool execution.
pub fn tool_span(tool_name: &str) -> tracing::Span {
    let s = span(
        "execute_tool",
        format!("execute_tool {tool_name}"),
        "internal",
    );
    s.set_attribute("gen_ai.tool.name", tool_name.to_string());
    s
}

/// A retrieval from a data source (vector store, search index).
pub fn retrieval_span(data_source: &str) -> tracing::Span {
    let s = span("retrieval", format!("retrieval {data_source}"), "client");
    s.set_attribute("gen_ai.data_source.id", data_source.to_string());
    s
}

/// A chain / workflow step grouping other GenAI spans.
pub fn chain_span(name: &str) -> tracing::Span {
    let s = span(
        "invoke_workflow",
        format!("invoke_workflow {name}"),
        "internal",
    );
    s.set_attribute("gen_ai.workflow.name", name.to_string());
    s
}

/// Records the response: model, token usage and cost.
pub fn record_response(
    span: &tracing::Span,
    response_model: &str,
    input_tokens: u64,
    output_tokens: u64,
) {
    span.set_attribute("gen_ai.response.model", response_model.to_string());
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens as i64);
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens as i64);
    if LEGACY.load(Ordering::Relaxed) {
        span.set_attribute("gen_ai.usage.prompt_tokens", input_tokens as i64);
        span.set_attribute("gen_ai.usage.completion_tokens", output_tokens as i64);
        span.set_attribute("llm.token_count.prompt", input_tokens as i64);
        span.set_attribute("llm.token_count.completion", output_tokens as i64);
    }
    if let Some(c) = cost(response_model, input_tokens, output_tokens) {
        span.set_attribute("weft.gen_ai.cost_usd", c);
    }
}

/// Records the prompt messages (`gen_ai.input.messages`) when capture is on.
pub fn record_input(span: &tracing::Span, messages_json: &str) {
    if capture_content() {
        span.set_attribute("gen_ai.input.messages", messages_json.to_string());
    }
}

/// Records the response messages (`gen_ai.output.messages`) when capture is on.
pub fn record_output(span: &tracing::Span, messages_json: &str) {
    if capture_content() {
        span.set_attribute("gen_ai.output.messages", messages_json.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_from_table_and_prefix() {
        let c = cost("gpt-4o-2024-08-06", 1_000_000, 1_000_000).unwrap();
        assert!((c - 12.5).abs() < 1e-9, "{c}");
        assert_eq!(cost("my-model", 1, 1), None);
        set_price(
            "my-model",
            Price {
                input_per_mtok: 1.0,
                output_per_mtok: 2.0,
            },
        );
        assert!((cost("my-model", 500_000, 250_000).unwrap() - 1.0).abs() < 1e-9);
    }
}
