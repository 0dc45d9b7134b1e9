//! Renders a trace as an indented tree for a terminal.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use weft_model::duration::format_duration_nanos;
use weft_model::{Batch, SpanId, SpanRef, StatusCode};

/// Attributes worth showing inline, in this order.
const KEY_ATTRIBUTES: &[&str] = &[
    "http.request.method",
    "http.route",
    "url.path",
    "http.response.status_code",
    "rpc.method",
    "db.system.name",
    "db.operation.name",
    "messaging.destination.name",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "error.type",
];

pub fn render(batch: &Batch) -> String {
    let spans: Vec<SpanRef<'_>> = batch.spans().collect();
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span.span_id).collect();
    let mut children: HashMap<Option<SpanId>, Vec<usize>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        // a span whose parent is missing is shown at the top level, marked
        let parent = s.span.parent_span_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(i);
    }
    for v in children.values_mut() {
        v.sort_by_key(|&i| spans[i].span.start_time_unix_nano);
    }
    let t0 = spans
        .iter()
        .map(|s| s.span.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    if let Some(first) = spans.first() {
        let _ = writeln!(
            out,
            "trace {}  ({} spans)",
            first.span.trace_id,
            spans.len()
        );
    }
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .map(|v| v.iter().rev().map(|&i| (i, 0)).collect())
        .unwrap_or_default();
    while let Some((i, depth)) = stack.pop() {
        let s = &spans[i];
        let sp = s.span;
        let mut line = format!(
            "{:indent$}{} {}  {}  +{}",
            "",
            s.resource.service_name(),
            sp.name,
            format_duration_nanos(sp.duration_nanos()),
            format_duration_nanos(sp.start_time_unix_nano.saturating_sub(t0)),
            indent = depth * 2
        );
        if depth == 0 && sp.parent_span_id.is_some() {
            line.push_str("  [parent missing]");
        }
        match sp.status.code {
            StatusCode::Error if sp.status.message.is_empty() => line.push_str("  ERROR"),
            StatusCode::Error => {
                let _ = write!(line, "  ERROR: {}", sp.status.message);
            }
            _ => {}
        }
        let attrs: Vec<String> = KEY_ATTRIBUTES
            .iter()
            .filter_map(|k| sp.attribute(k).map(|v| format!("{k}={v}")))
            .collect();
        if !attrs.is_empty() {
            let _ = write!(line, "  {}", attrs.join(" "));
        }
        let _ = writeln!(out, "{line}");
        if let Some(kids) = children.get(&Some(sp.span_id)) {
            for &k in kids.iter().rev() {
                stack.push((k, depth + 1));
            }
        }
    }
    out
}
