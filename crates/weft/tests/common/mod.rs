#![allow(dead_code)]
use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use parking_lot::Mutex;

/// Collects exported spans.
#[derive(Debug, Clone, Default)]
pub struct Memory(pub Arc<Mutex<Vec<SpanData>>>);

impl Memory {
    pub fn spans(&self) -> Vec<SpanData> {
        self.0.lock().clone()
    }
    pub fn names(&self) -> Vec<String> {
        self.0.lock().iter().map(|s| s.name.to_string()).collect()
    }
}

impl SpanExporter for Memory {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().extend(batch);
        Ok(())
    }
}

pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn attr<'a>(s: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// A builder that reads nothing from the process environment, exports nowhere but `mem`,
/// and installs no global subscriber.
pub fn builder(mem: &Memory, vars: &[(&str, &str)]) -> weft::Builder {
    let mut e = env(&[("OTEL_TRACES_EXPORTER", "none")]);
    e.extend(env(vars));
    weft::builder()
        .env(e)
        .install_subscriber(false)
        .with_exporter(mem.clone())
}

/// Runs `f` with a subscriber that sends tracing spans to the guard's pipeline.
pub fn with_tracing<R>(guard: &weft::Guard, f: impl FnOnce() -> R) -> R {
    use tracing_subscriber::layer::SubscriberExt;
    let sub = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(sub, f)
}
