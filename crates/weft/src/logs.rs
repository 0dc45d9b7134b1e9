//! Log output: a tracing subscriber with the OpenTelemetry layer, and log lines (human-readable
//! or JSON) that carry the current `trace_id` and `span_id` so logs and traces join.

use std::io::Write;

use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub(crate) fn install(
    tracer: opentelemetry_sdk::trace::SdkTracer,
    json: bool,
    filter: Option<&str>,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = match filter {
        Some(f) => EnvFilter::new(f),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false);
    let registry = tracing_subscriber::registry().with(otel);
    if json {
        registry
            .with(JsonLogLayer::stdout().with_filter(filter))
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_filter(filter))
            .try_init()
    }
}

/// Writes one JSON object per event: `timestamp`, `level`, `target`, `message`, the event's
/// fields, and `trace_id`/`span_id` of the current span when there is one.
pub struct JsonLogLayer<W> {
    make_writer: W,
    // the subscriber this layer is part of: `Span::current()` cannot be used from inside a
    // layer callback (tracing hands re-entrant callers the no-op dispatcher)
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl<W> JsonLogLayer<W>
where
    W: Fn() -> Box<dyn Write> + Send + Sync + 'static,
{
    /// Logs to whatever `make_writer` returns for each line.
    pub fn with_writer(make_writer: W) -> Self {
        JsonLogLayer {
            make_writer,
            dispatch: std::sync::OnceLock::new(),
        }
    }
}

impl JsonLogLayer<fn() -> Box<dyn Write>> {
    /// Logs to stdout.
    pub fn stdout() -> Self {
        JsonLogLayer {
            make_writer: || Box::new(std::io::stdout()),
            dispatch: std::sync::OnceLock::new(),
        }
    }
}

struct JsonVisitor(serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Fn() -> Box<dyn Write> + Send + Sync + 'static,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut v = JsonVisitor(serde_json::Map::new());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        v.0.insert(
            "timestamp".into(),
            format!("{}.{:09}", now.as_secs(), now.subsec_nanos()).into(),
        );
        v.0.insert("level".into(), event.metadata().level().as_str().into());
        v.0.insert("target".into(), event.metadata().target().into());
        event.record(&mut v);
        let dispatch = self.dispatch.get().and_then(|d| d.upgrade());
        // the event's tracing span, or else the current OpenTelemetry context (a server span
        // of weft's HTTP layer is an OpenTelemetry span with no tracing span around it)
        let cx = match (ctx.event_span(event), dispatch) {
            (Some(span), Some(dispatch)) => {
                tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)
            }
            _ => None,
        }
        .unwrap_or_else(opentelemetry::Context::current);
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            v.0.insert("trace_id".into(), sc.trace_id().to_string().into());
            v.0.insert("span_id".into(), sc.span_id().to_string().into());
        }
        let mut line = serde_json::to_vec(&serde_json::Value::Object(v.0)).unwrap_or_default();
        line.push(b'\n');
        let _ = (self.make_writer)().write_all(&line);
    }
}
