//! `weft query '<traceql>'`: a client of `GET /api/v1/query`. Prints the matching traces and
//! their spansets; a query that does not parse is shown with a caret under the column.

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::client::{get_json, ServerArg};

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The TraceQL query, e.g. '{ resource.service.name = "checkout" && duration > 2s }' or
    /// the short form 'status = error'
    pub query: String,
    /// Only spans starting at or after this time (RFC 3339 or unix seconds)
    #[arg(long)]
    pub start: Option<String>,
    /// Only spans starting at or before this time
    #[arg(long)]
    pub end: Option<String>,
    /// Matching traces to return
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Spans shown per spanset
    #[arg(long, default_value_t = 3)]
    pub spss: usize,
    #[command(flatten)]
    pub server: ServerArg,
    /// Print the raw JSON response
    #[arg(long)]
    pub json: bool,
}

fn nanos(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn utc(ns: u64) -> String {
    let t = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
    )
    .to_string();
    t.trim_end_matches('Z').replace('T', " ")
}

/// `key=value` pairs of a JSON object, values as JSON (strings quoted).
fn pairs(obj: &Value) -> String {
    obj.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The query with a caret under `column` of `line` (1-based), indented by two spaces.
pub fn caret(query: &str, line: usize, column: usize) -> String {
    let text = query.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let pad: String = text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("  {text}\n  {pad}^")
}

pub async fn run(a: QueryArgs) -> anyhow::Result<()> {
    let mut params: Vec<(&str, String)> = vec![
        ("q", a.query.clone()),
        ("limit", a.limit.to_string()),
        ("spss", a.spss.to_string()),
    ];
    if let Some(s) = &a.start {
        params.push(("start", s.clone()));
    }
    if let Some(e) = &a.end {
        params.push(("end", e.clone()));
    }
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/query", a.server.server.trim_end_matches('/')),
        &params,
    )
    .context("invalid --server URL")?;
    let (status, body) = get_json(url.as_str()).await?;
    if status != 200 {
        let msg = body["error"].as_str().unwrap_or("(no message)");
        if let (Some(line), Some(col)) = (body["line"].as_u64(), body["column"].as_u64()) {
            anyhow::bail!("{msg}\n{}", caret(&a.query, line as usize, col as usize));
        }
        anyhow::bail!("server answered {status}: {msg}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    print!("{}", render(&body));
    Ok(())
}

/// The readable form of a `/api/v1/query` answer.
pub fn render(body: &Value) -> String {
    let mut out = String::new();
    let traces = body["traces"].as_array().cloned().unwrap_or_default();
    if !traces.is_empty() {
        out.push_str(&format!(
            "{:<32}  {:<19}  {:>10}  {:>5}  {:>4}  ROOT\n",
            "TRACE ID", "START (UTC)", "DURATION", "SPANS", "ERRS"
        ));
    }
    for t in &traces {
        out.push_str(&format!(
            "{:<32}  {:<19}  {:>10}  {:>5}  {:>4}  {}: {}\n",
            t["traceId"].as_str().unwrap_or(""),
            utc(nanos(&t["startTimeUnixNano"])),
            weft_model::duration::format_duration_nanos(nanos(&t["durationNanos"])),
            t["spanCount"],
            t["errorCount"],
            t["rootServiceName"].as_str().unwrap_or(""),
            t["rootSpanName"].as_str().unwrap_or(""),
        ));
        let sets = t["spanSets"].as_array().cloned().unwrap_or_default();
        for (i, s) in sets.iter().enumerate() {
            let matched = s["matched"].as_u64().unwrap_or(0);
            let spans = s["spans"].as_array().cloned().unwrap_or_default();
            let shown = if (spans.len() as u64) < matched {
                format!(", {} shown", spans.len())
            } else {
                String::new()
            };
            let attrs = pairs(&s["attributes"]);
            out.push_str(&format!(
                "    spanset {}: {matched} span{}{shown}{}{attrs}\n",
                i + 1,
                if matched == 1 { "" } else { "s" },
                if attrs.is_empty() { "" } else { "  " },
            ));
            for sp in &spans {
                let attrs = pairs(&sp["attributes"]);
                out.push_str(&format!(
                    "      {}  {:>9}  {}: {}{}{attrs}\n",
                    sp["spanId"].as_str().unwrap_or(""),
                    weft_model::duration::format_duration_nanos(nanos(&sp["durationNanos"])),
                    sp["service"].as_str().unwrap_or(""),
                    sp["name"].as_str().unwrap_or(""),
                    if attrs.is_empty() { "" } else { "  " },
                ));
            }
        }
    }
    let inspected = body["inspectedTraces"].as_u64().unwrap_or(0);
    if body["truncated"].as_bool() == Some(true) {
        out.push_str(&format!(
            "(more traces may match: {inspected} inspected; raise --limit, narrow the query or the time range)\n"
        ));
    } else if traces.is_empty() {
        out.push_str(&format!("(no traces matched; {inspected} inspected)\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_column() {
        assert_eq!(
            caret("{ duration > 2s", 1, 16),
            "  { duration > 2s\n                 ^"
        );
        assert_eq!(caret("{ a\n\t&& b }", 2, 2), "  \t&& b }\n  \t^");
    }
}
