//! JSON logs joined to traces, database spans, GenAI legacy names.

mod common;
use common::*;

use std::io::Write;
use std::sync::Arc;

use opentelemetry::trace::Status;
use parking_lot::Mutex;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_logs_carry_trace_and_span_ids() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let buf = Buf::default();
    let b2 = buf.clone();
    let logs =
        weft::logs::JsonLogLayer::with_writer(move || Box::new(b2.clone()) as Box<dyn Write>);
    let sub = tracing_subscriber::registry()
        .with(guard.layer())
        .with(logs);
    tracing::subscriber::with_default(sub, || {
        tracing::info!(outside = true, "no span");
        tracing::info_span!("work").in_scope(|| tracing::warn!(order_id = 7, "inside"));
        // an OpenTelemetry span with no tracing span around it (as weft's server layer makes)
        use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
        let tracer = guard.tracer_provider().tracer("t");
        let cx = opentelemetry::Context::current().with_span(tracer.start("otel-only"));
        let _attached = cx.attach();
        tracing::info!("in otel span");
    });
    drop(guard);
    let text = String::from_utf8(buf.0.lock().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].get("trace_id").is_none());
    assert_eq!(lines[0]["message"], "no span");
    let span = &mem.spans()[0];
    assert_eq!(
        lines[1]["trace_id"],
        span.span_context.trace_id().to_string()
    );
    assert_eq!(lines[1]["span_id"], span.span_context.span_id().to_string());
    assert_eq!(lines[1]["level"], "WARN");
    assert_eq!(lines[1]["order_id"], 7);
    let otel_only = mem
        .spans()
        .into_iter()
        .find(|s| s.name == "otel-only")
        .expect("otel-only span exported");
    assert_eq!(
        lines[2]["span_id"],
        otel_only.span_context.span_id().to_string()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn db_spans_record_masked_queries_rows_and_failures() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(guard.layer()));
    let ok: Result<u64, String> = weft::db::instrument(
        "sqlite",
        "shop",
        "UPDATE items SET price = 10 WHERE name = 'tea'",
        async { Ok(3) },
    )
    .await;
    assert_eq!(ok, Ok(3));
    let err: Result<u64, String> =
        weft::db::instrument("sqlite", "shop", "DELETE FROM items", async {
            Err("database is locked".to_string())
        })
        .instrument(tracing::info_span!("caller"))
        .await;
    assert!(err.is_err());
    drop(_sub);
    drop(guard);
    let spans = mem.spans();
    let upd = spans.iter().find(|s| s.name == "UPDATE shop").unwrap();
    assert_eq!(attr(upd, "db.system.name").unwrap().as_str(), "sqlite");
    assert_eq!(attr(upd, "db.namespace").unwrap().as_str(), "shop");
    assert_eq!(attr(upd, "db.operation.name").unwrap().as_str(), "UPDATE");
    assert_eq!(
        attr(upd, "db.query.text").unwrap().as_str(),
        "UPDATE items SET price = ? WHERE name = ?"
    );
    assert_eq!(
        attr(upd, "db.response.returned_rows"),
        Some(&opentelemetry::Value::I64(3))
    );
    assert_eq!(upd.span_kind, opentelemetry::trace::SpanKind::Client);
    let del = spans.iter().find(|s| s.name == "DELETE shop").unwrap();
    assert_eq!(del.status, Status::error("database is locked"));
    let caller = spans.iter().find(|s| s.name == "caller").unwrap();
    assert_eq!(del.parent_span_id, caller.span_context.span_id());
}

#[test]
fn genai_legacy_names_only_on_opt_in_and_no_prompt_by_default() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let sub = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(sub, || {
        let s = weft::genai::model_span("openai", "chat", "gpt-4o-mini");
        weft::genai::record_input(&s, "secret prompt");
        weft::genai::record_response(&s, "gpt-4o-mini", 100, 20);
        s.in_scope(|| ());
        drop(s);
        weft::genai::set_legacy_attributes(true);
        let s = weft::genai::tool_span("search");
        weft::genai::record_response(&s, "gpt-4o-mini", 1, 2);
        drop(s);
        weft::genai::set_legacy_attributes(false);
    });
    drop(guard);
    let spans = mem.spans();
    let chat = spans.iter().find(|s| s.name == "chat gpt-4o-mini").unwrap();
    assert!(attr(chat, "gen_ai.input.messages").is_none());
    assert!(attr(chat, "gen_ai.usage.prompt_tokens").is_none());
    assert_eq!(
        attr(chat, "gen_ai.usage.input_tokens"),
        Some(&opentelemetry::Value::I64(100))
    );
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool search")
        .unwrap();
    assert_eq!(attr(tool, "gen_ai.tool.name").unwrap().as_str(), "search");
    assert_eq!(
        attr(tool, "gen_ai.usage.prompt_tokens"),
        Some(&opentelemetry::Value::I64(1))
    );
    assert_eq!(
        attr(tool, "llm.token_count.completion"),
        Some(&opentelemetry::Value::I64(2))
    );
}
