//! The pipelines both benchmarks compare: weft's, built from `OTEL_*` settings with a no-op
//! exporter, and the bare SDK's `BatchSpanProcessor` with the same exporter.

use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};

#[derive(Debug)]
pub struct Noop;

impl SpanExporter for Noop {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

pub fn env(sampler: &str) -> std::collections::HashMap<String, String> {
    [
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_TRACES_SAMPLER", sampler),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn weft_guard(sampler: &str) -> weft::Guard {
    weft_builder(sampler).init().unwrap()
}

pub fn weft_builder(sampler: &str) -> weft::Builder {
    weft::builder()
        .env(env(sampler))
        .install_subscriber(false)
        .set_global(false)
        .with_exporter(Noop)
}

pub fn bare(sampler: Sampler) -> SdkTracerProvider {
    let bsp = BatchSpanProcessor::builder(Noop)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(65536)
                .with_scheduled_delay(Duration::from_millis(100))
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(bsp)
        .build()
}
