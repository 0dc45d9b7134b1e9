//! weft: one call instruments a Rust service with OpenTelemetry.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _guard = weft::init()?; // reads OTEL_* from the environment; flushes on drop
//!     tracing::info!("ready");
//!     Ok(())
//! }
//! ```
//!
//! Everything is built on opentelemetry-rust 0.33 and tracing-opentelemetry 0.34: weft adds the
//! environment handling, exporters, propagation middleware, sampling extras, redaction and
//! GenAI/database helpers. See the crate README for the variables and their precedence.

#![warn(missing_docs)]

pub mod config;
pub mod db;
mod exporters;
pub mod genai;
pub mod http_client;
pub mod http_server;
pub mod logs;
pub mod messaging;
mod processor;
pub mod propagation;
pub mod redact;
pub mod sampling;
pub mod sampling_remote;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanLimits};
use opentelemetry_sdk::Resource;

pub use config::{Config, ConfigError, ExporterKind, PropagatorKind, Protocol, SamplerConfig};
pub use exporters::{render_tree, to_otlp_json, ConsoleExporter, FileExporter};
pub use processor::{Stats, StatsSnapshot};
pub use redact::Redactor;

/// Re-exports so users need not pin the same versions themselves.
pub use opentelemetry;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

/// Initialisation failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// An environment variable is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An `https` endpoint (or a certificate file) without TLS support compiled in.
    #[error("endpoint {endpoint} needs TLS but weft was built without it; enable the `tls` feature of weft or use an http:// endpoint")]
    TlsUnavailable {
        /// The endpoint.
        endpoint: String,
    },
    /// A certificate or key file cannot be read.
    #[error("cannot read certificate or key file {path}; check the OTEL_EXPORTER_OTLP_*CERTIFICATE / *CLIENT_KEY variables")]
    CertificateFile {
        /// The file.
        path: PathBuf,
    },
    /// A header name or value is not valid for HTTP/gRPC.
    #[error("otlp header {name:?} is not a valid header; fix OTEL_EXPORTER_OTLP_HEADERS")]
    Header {
        /// The header.
        name: String,
    },
    /// An exporter could not be built.
    #[error("cannot build the {kind} exporter: {reason}; check its OTEL_EXPORTER_* settings")]
    Exporter {
        /// Which exporter.
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// weft's export runtime could not start.
    #[error("cannot start weft's export runtime: {0}; check thread limits")]
    Runtime(std::io::Error),
    /// A global tracing subscriber is already installed.
    #[error("a global tracing subscriber is already set; call Builder::install_subscriber(false) and add weft::Guard::layer() to yours")]
    SubscriberExists,
}

/// Initialises weft from the environment with defaults: see [`Builder`].
pub fn init() -> Result<Guard, InitError> {
    builder().init()
}

/// A builder for configuration in code. Settings made here win over the environment, except
/// that `OTEL_SDK_DISABLED=true` / `OTEL_ENABLED=false` always disable export.
pub fn builder() -> Builder {
    Builder::default()
}

type BoxedExporter = Box<dyn processor::DynExporter>;

/// Configuration in code. See [`builder`].
#[derive(Default)]
pub struct Builder {
    env: Option<HashMap<String, String>>,
    service_name: Option<String>,
    service_version: Option<String>,
    environment: Option<String>,
    resource: Vec<KeyValue>,
    exporters: Option<Vec<ExporterKind>>,
    extra_exporters: Vec<(&'static str, BoxedExporter)>,
    sampler: Option<SamplerConfig>,
    keep_errors: Option<bool>,
    keep_slow: Option<Duration>,
    redactor: Option<Option<Redactor>>,
    propagators: Option<Vec<PropagatorKind>>,
    shutdown_timeout: Option<Duration>,
    schedule_delay: Option<Duration>,
    otlp_endpoint: Option<String>,
    otlp_protocol: Option<Protocol>,
    file_path: Option<PathBuf>,
    install_subscriber: Option<bool>,
    json_logs: bool,
    log_filter: Option<String>,
    set_global: Option<bool>,
}

impl Builder {
    /// Reads these variables instead of the process environment (for tests).
    pub fn env(mut self, vars: HashMap<String, String>) -> Self {
        self.env = Some(vars);
        self
    }
    /// `service.name` (wins over `OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, v: impl Into<String>) -> Self {
        self.service_name = Some(v.into());
        self
    }
    /// `service.version`.
    pub fn service_version(mut self, v: impl Into<String>) -> Self {
        self.service_version = Some(v.into());
        self
    }
    /// `deployment.environment.name` (also picks the default sampling ratio).
    pub fn environment(mut self, v: impl Into<String>) -> Self {
        self.environment = Some(v.into());
        self
    }
    /// An extra resource attribute.
    pub fn resource_attribute(mut self, kv: KeyValue) -> Self {
        self.resource.push(kv);
        self
    }
    /// Which built-in exporters to use (replaces `OTEL_TRACES_EXPORTER`; empty = none).
    pub fn exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.exporters = Some(kinds.into_iter().collect());
        self
    }
    /// Adds a custom exporter next to the configured ones (it gets its own batch queue).
    pub fn with_exporter<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
        mut self,
        exporter: E,
    ) -> Self {
        self.extra_exporters.push(("custom", Box::new(exporter)));
        self
    }
    /// The head sampler.
    pub fn sampler(mut self, s: SamplerConfig) -> Self {
        self.sampler = Some(s);
        self
    }
    /// Keep local subtrees holding an error although head sampling dropped them.
    pub fn keep_errors(mut self, on: bool) -> Self {
        self.keep_errors = Some(on);
        self
    }
    /// Keep local subtrees whose local root took at least `threshold`.
    pub fn keep_slow(mut self, threshold: Duration) -> Self {
        self.keep_slow = Some(threshold);
        self
    }
    /// Replaces the default redaction rules.
    pub fn redactor(mut self, r: Redactor) -> Self {
        self.redactor = Some(Some(r));
        self
    }
    /// Turns redaction off (not recommended).
    pub fn no_redaction(mut self) -> Self {
        self.redactor = Some(None);
        self
    }
    /// Propagators (replaces `OTEL_PROPAGATORS`).
    pub fn propagators(mut self, p: impl IntoIterator<Item = PropagatorKind>) -> Self {
        self.propagators = Some(p.into_iter().collect());
        self
    }
    /// How long the guard's drop waits for the final export (default 5 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = Some(d);
        self
    }
    /// Delay between batch exports (default 5 s, `OTEL_BSP_SCHEDULE_DELAY`).
    pub fn schedule_delay(mut self, d: Duration) -> Self {
        self.schedule_delay = Some(d);
        self
    }
    /// OTLP endpoint (wins over `OTEL_EXPORTER_OTLP_*ENDPOINT`). For HTTP give the full
    /// `/v1/traces` URL.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(url.into());
        self
    }
    /// OTLP protocol.
    pub fn otlp_protocol(mut self, p: Protocol) -> Self {
        self.otlp_protocol = Some(p);
        self
    }
    /// File exporter path.
    pub fn file_path(mut self, p: impl Into<PathBuf>) -> Self {
        self.file_path = Some(p.into());
        self
    }
    /// Whether to install a global tracing subscriber (default true).
    pub fn install_subscriber(mut self, on: bool) -> Self {
        self.install_subscriber = Some(on);
        self
    }
    /// Log lines as JSON carrying `trace_id` and `span_id` (default: human-readable).
    pub fn json_logs(mut self, on: bool) -> Self {
        self.json_logs = on;
        self
    }
    /// Log filter (default `RUST_LOG`, else `info`).
    pub fn log_filter(mut self, f: impl Into<String>) -> Self {
        self.log_filter = Some(f.into());
        self
    }
    /// Whether to set the global tracer provider and propagator (default true).
    pub fn set_global(mut self, on: bool) -> Self {
        self.set_global = Some(on);
        self
    }

    /// The effective configuration: environment, then code settings on top.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.env {
            Some(m) => Config::from_env_map(m)?,
            None => Config::from_env()?,
        };
        if let Some(v) = &self.service_name {
            c.service_name = Some(v.clone());
        }
        if let Some(v) = &self.service_version {
            c.service_version = Some(v.clone());
        }
        if let Some(v) = &self.environment {
            let env_sampler_was_default =
                !self.env_has("OTEL_TRACES_SAMPLER") && !self.env_has("OTEL_SAMPLING_RATIO");
            c.environment = Some(v.clone());
            if env_sampler_was_default {
                let r = config::default_ratio(Some(v));
                c.sampler = if r >= 1.0 {
                    SamplerConfig::ParentBasedAlwaysOn
                } else {
                    SamplerConfig::ParentBasedTraceIdRatio(r)
                };
            }
        }
        if let Some(e) = &self.exporters {
            c.exporters = e.clone();
        }
        if let Some(s) = &self.sampler {
            c.sampler = s.clone();
        }
        if let Some(k) = self.keep_errors {
            c.keep.errors = k;
        }
        if let Some(d) = self.keep_slow {
            c.keep.slow = Some(d);
        }
        if let Some(p) = &self.propagators {
            c.propagators = p.clone();
        }
        if let Some(d) = self.shutdown_timeout {
            c.shutdown_timeout = d;
        }
        if let Some(d) = self.schedule_delay {
            c.batch.schedule_delay = d;
        }
        if let Some(p) = self.otlp_protocol {
            c.otlp.protocol = p;
        }
        if let Some(u) = &self.otlp_endpoint {
            c.otlp.endpoint = u.clone();
        }
        if let Some(p) = &self.file_path {
            c.file.path = p.clone();
        }
        Ok(c)
    }

    fn env_has(&self, var: &str) -> bool {
        match &self.env {
            Some(m) => m.get(var).is_some_and(|v| !v.trim().is_empty()),
            None => std::env::var(var).is_ok_and(|v| !v.trim().is_empty()),
        }
    }

    /// Builds the pipeline, installs it, and returns the guard that flushes it on drop.
    pub fn init(self) -> Result<Guard, InitError> {
        let config = self.config()?;
        for w in &config.warnings {
            eprintln!("weft: warning: {w}");
        }
        if config.genai_capture_content {
            genai::set_capture_content(true);
        }
        let stats = Arc::new(Stats::default());
        let set_global = self.set_global.unwrap_or(true);

        let mut resource = Resource::builder();
        for (k, v) in config.resource_pairs() {
            resource = resource.with_attribute(KeyValue::new(k, v));
        }
        for kv in &self.resource {
            resource = resource.with_attribute(kv.clone());
        }
        let resource = resource.build();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weft-rt")
            .enable_all()
            .build()
            .map_err(InitError::Runtime)?;

        let scrub = Arc::new(processor::Scrub {
            redactor: match self.redactor {
                Some(r) => r,
                None => Some(Redactor::default()),
            },
            max_value_len: config.limits.attribute_value_length,
        });
        let mut batchers = Vec::new();
        if !config.disabled {
            let _enter = rt.enter();
            let mut list: Vec<(&'static str, BoxedExporter)> = Vec::new();
            for kind in &config.exporters {
                match kind {
                    ExporterKind::Otlp => {
                        list.push(("otlp", Box::new(exporters::otlp(&config.otlp)?)))
                    }
                    ExporterKind::Console => {
                        list.push(("console", Box::new(ConsoleExporter::stderr())))
                    }
                    ExporterKind::File => {
                        list.push(("file", Box::new(FileExporter::new(config.file.clone()))))
                    }
                    ExporterKind::LangSmith => {
                        if let Some(ls) = &config.langsmith {
                            list.push((
                                "langsmith",
                                Box::new(exporters::langsmith(ls, config.otlp.timeout)?),
                            ));
                        }
                    }
                }
            }
            list.extend(self.extra_exporters);
            for (name, e) in list {
                batchers.push(processor::Batcher::new(
                    name,
                    e,
                    config.batch.clone(),
                    scrub.clone(),
                    rt.handle().clone(),
                    stats.clone(),
                ));
            }
        }
        let batchers = Arc::new(batchers);
        let front = processor::Front::new(batchers.clone(), config.keep.clone(), stats.clone());
        let limits = SpanLimits {
            max_attributes_per_span: config.limits.attribute_count,
            max_events_per_span: config.limits.event_count,
            max_links_per_span: config.limits.link_count,
            max_attributes_per_event: config.limits.event_attribute_count,
            max_attributes_per_link: config.limits.link_attribute_count,
        };
        let service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unknown_service".to_string());
        let head = sampling::sampler(
            if config.disabled {
                SamplerConfig::AlwaysOff
            } else {
                config.sampler.clone()
            },
            &service,
            rt.handle(),
        );
        let mut pb = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_limits(limits);
        pb = if config.keep.enabled() && !config.disabled {
            pb.with_sampler(sampling::RecordDropped(head))
        } else {
            pb.with_sampler(head)
        };
        let provider = pb.with_span_processor(front).build();
        for b in batchers.iter() {
            b.start();
        }

        if set_global {
            opentelemetry::global::set_tracer_provider(provider.clone());
            opentelemetry::global::set_text_map_propagator(propagation::propagator(
                &config.propagators,
            ));
        }

        let tracer = provider.tracer("weft");
        if self.install_subscriber.unwrap_or(true) {
            logs::install(tracer, self.json_logs, self.log_filter.as_deref())
                .map_err(|_| InitError::SubscriberExists)?;
        }

        Ok(Guard {
            provider,
            runtime: Some(rt),
            stats,
            config,
        })
    }
}

/// Keeps the pipeline alive; on drop, exports what is queued (waiting at most the shutdown
/// timeout, default 5 s) and shuts the exporters down. Never needs the application's runtime,
/// so dropping it at the end of a `current_thread` `main` does not hang.
pub struct Guard {
    provider: SdkTracerProvider,
    runtime: Option<tokio::runtime::Runtime>,
    stats: Arc<Stats>,
    config: Config,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("config", &self.config)
            .finish()
    }
}

impl Guard {
    /// Counters of exported, dropped and failed spans.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
    /// A shared handle to the live counters.
    pub fn stats_handle(&self) -> Arc<Stats> {
        self.stats.clone()
    }
    /// The tracer provider (for a subscriber of your own, or direct OpenTelemetry use).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
    /// A tracing-opentelemetry layer for this pipeline, for applications that build their own
    /// subscriber (`Builder::install_subscriber(false)`).
    pub fn layer<S>(
        &self,
    ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("weft"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
    }
    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Exports everything queued now, waiting at most the shutdown timeout.
    pub fn flush(&self) -> Result<(), opentelemetry_sdk::error::OTelSdkError> {
        self.provider.force_flush()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self
            .provider
            .shutdown_with_timeout(self.config.shutdown_timeout)
        {
            eprintln!("weft: shutdown: {e}; some spans may not have been exported");
        }
        if let Some(rt) = self.runtime.take() {
            // never blocks, also inside an async context
            rt.shutdown_background();
        }
    }
}

/// Spawns a future on the current Tokio runtime carrying the current span (and so the trace
/// context) into the task.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use opentelemetry::context::FutureExt as _;
    use tracing::Instrument as _;
    let cx = opentelemetry::Context::current();
    tokio::spawn(fut.with_context(cx).instrument(tracing::Span::current()))
}
