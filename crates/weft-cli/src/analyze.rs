//! `weft analyze`, `weft deps` and `weft compare`: clients of the analysis API
//! (`/api/v1/traces/{id}/analysis`, `/api/v1/dependencies`, `/api/v1/compare`) that print for
//! a terminal.

use std::fmt::Write;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::Value;
use weft_model::duration::format_duration_nanos;

use crate::client::{get_json, ServerArg};

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Trace id (32 hex characters)
    pub trace_id: String,
    #[command(flatten)]
    pub server: ServerArg,
    /// Print the raw analysis JSON
    #[arg(long)]
    pub json: bool,
    /// Clock-skew adjustment: "adjust" moves spans of other services whose clocks disagree
    /// back inside their parents; "off" only reports what it would move
    #[arg(long, value_enum, default_value_t = Skew::Off)]
    pub skew: Skew,
    /// The largest shift --skew adjust applies, e.g. 30s, 1h (default 1m)
    #[arg(long)]
    pub max_skew: Option<String>,
    /// How many of the slowest spans to list
    #[arg(long, default_value_t = 10)]
    pub slowest: usize,
    /// A span is a bottleneck when its self time is above this share of its parent's time
    #[arg(long)]
    pub bottleneck_share: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Skew {
    Off,
    Adjust,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DepsFormat {
    /// A table for the terminal
    Table,
    Json,
    Mermaid,
    Dot,
}

#[derive(Args, Debug)]
pub struct DepsArgs {
    #[arg(long, value_enum, default_value_t = DepsFormat::Table)]
    pub format: DepsFormat,
    /// Window start: RFC 3339 or unix time (default: 24 hours before the end)
    #[arg(long)]
    pub start: Option<String>,
    /// Window end: RFC 3339 or unix time (default: now)
    #[arg(long)]
    pub end: Option<String>,
    /// Only calls from or to this service
    #[arg(long)]
    pub service: Option<String>,
    /// Read at most this many traces, newest first (server default 1000)
    #[arg(long)]
    pub max_traces: Option<usize>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Trace A (the baseline)
    pub a: String,
    /// Trace B
    pub b: String,
    #[command(flatten)]
    pub server: ServerArg,
    /// Print the raw JSON
    #[arg(long)]
    pub json: bool,
    /// Also list the spans that did not change
    #[arg(long)]
    pub all: bool,
}

fn api_error(status: u16, body: &Value) -> anyhow::Error {
    anyhow::anyhow!(
        "server answered {status}: {}",
        body.get("error")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
    )
}

fn url(server: &ServerArg, path: &str, q: &[(&str, String)]) -> anyhow::Result<reqwest::Url> {
    reqwest::Url::parse_with_params(&format!("{}{path}", server.server.trim_end_matches('/')), q)
        .context("invalid --server URL")
}

async fn get_ok(url: reqwest::Url) -> anyhow::Result<Value> {
    let (status, body) = get_json(url.as_str()).await?;
    if status != 200 {
        return Err(api_error(status, &body));
    }
    Ok(body)
}

pub async fn analyze(a: AnalyzeArgs) -> anyhow::Result<()> {
    let mut q = vec![("slowest", a.slowest.to_string())];
    if a.skew == Skew::Adjust {
        q.push(("skew", "adjust".into()));
    }
    if let Some(m) = &a.max_skew {
        q.push(("maxSkew", m.clone()));
    }
    if let Some(s) = a.bottleneck_share {
        q.push(("bottleneckShare", s.to_string()));
    }
    let path = format!("/api/v1/traces/{}/analysis", a.trace_id.trim());
    let body = get_ok(url(&a.server, &path, &q)?).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_analysis(&body));
    }
    Ok(())
}

pub async fn deps(a: DepsArgs) -> anyhow::Result<()> {
    let mut q: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("start", &a.start),
        ("end", &a.end),
        ("service", &a.service),
    ] {
        if let Some(v) = v {
            q.push((k, v.clone()));
        }
    }
    if let Some(n) = a.max_traces {
        q.push(("maxTraces", n.to_string()));
    }
    let text_format = match a.format {
        DepsFormat::Mermaid => Some("mermaid"),
        DepsFormat::Dot => Some("dot"),
        DepsFormat::Json | DepsFormat::Table => None,
    };
    if let Some(f) = text_format {
        q.push(("format", f.into()));
        let u = url(&a.server, "/api/v1/dependencies", &q)?;
        let resp = reqwest::get(u.as_str()).await.with_context(|| {
            format!(
                "cannot reach weft at {u}: is `weft serve` running? (set --server or WEFT_SERVER)"
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.context("reading the server's answer")?;
        if status != 200 {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(api_error(status, &body));
        }
        print!("{text}");
        return Ok(());
    }
    let body = get_ok(url(&a.server, "/api/v1/dependencies", &q)?).await?;
    if a.format == DepsFormat::Json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_deps(&body));
    }
    Ok(())
}

pub async fn compare(a: CompareArgs) -> anyhow::Result<()> {
    let q = [("a", a.a.trim().to_string()), ("b", a.b.trim().to_string())];
    let body = get_ok(url(&a.server, "/api/v1/compare", &q)?).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_compare(&body, a.all));
    }
    Ok(())
}

/// A decimal-string (or number) nanosecond field.
fn nanos(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn signed_nanos(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn dur(v: &Value) -> String {
    format_duration_nanos(nanos(v))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Cuts `text` to `width` characters, marking the cut with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

const BAR: usize = 20;

fn bar(share: f64) -> String {
    let filled = ((share.clamp(0.0, 1.0) * BAR as f64).round() as usize).min(BAR);
    format!("{}{}", "█".repeat(filled), "░".repeat(BAR - filled))
}

fn utc(nanos: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos);
    humantime::format_rfc3339_millis(t)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
        + " UTC"
}

fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The terminal view of an analysis.
pub fn render_analysis(a: &Value) -> String {
    let mut out = String::new();
    let services = arr(&a["services"]);
    let _ = writeln!(out, "trace {}", s(&a["traceId"]));
    let _ = writeln!(
        out,
        "  started {}, {} end to end, {} in {}, {}",
        utc(nanos(&a["startTimeUnixNano"])),
        dur(&a["durationNanos"]),
        plural(a["spanCount"].as_u64().unwrap_or(0), "span"),
        plural(services.len() as u64, "service"),
        plural(a["errorCount"].as_u64().unwrap_or(0), "error"),
    );
    let spans = &a["spans"];
    let path = arr(&a["criticalPath"]);
    let total = nanos(&a["criticalPathNanos"]).max(1);
    let _ = writeln!(
        out,
        "\nCritical path ({} from the root's start to its end; share of it set by each span's own work)",
        dur(&a["criticalPathNanos"])
    );
    let base = path
        .first()
        .and_then(|p| spans[s(&p["spanId"])]["depth"].as_u64())
        .unwrap_or(0);
    const LABEL: usize = 56;
    for p in path {
        let depth = spans[s(&p["spanId"])]["depth"]
            .as_u64()
            .unwrap_or(base)
            .saturating_sub(base) as usize;
        let label = fit(
            &format!(
                "{:indent$}{}: {}",
                "",
                s(&p["service"]),
                s(&p["name"]),
                indent = 2 * depth.min(12)
            ),
            LABEL,
        );
        let c = nanos(&p["contributionNanos"]);
        let share = c as f64 / total as f64;
        let _ = writeln!(
            out,
            "  {label:<LABEL$} {} {:>5.1}%  {:>8}  (span {})",
            bar(share),
            share * 100.0,
            format_duration_nanos(c),
            dur(&p["durationNanos"]),
        );
    }
    let bottlenecks = arr(&a["bottlenecks"]);
    let _ = writeln!(
        out,
        "\nBottlenecks (spans whose own work takes most of their parent's time)"
    );
    if bottlenecks.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for b in bottlenecks {
        let _ = writeln!(
            out,
            "  {:<LABEL$} self {:>8}  {:>4.0}% of its parent",
            fit(&format!("{}: {}", s(&b["service"]), s(&b["name"])), LABEL),
            dur(&b["selfTimeNanos"]),
            b["shareOfParent"].as_f64().unwrap_or(0.0) * 100.0,
        );
    }
    let _ = writeln!(out, "\nSlowest spans");
    for x in arr(&a["slowest"]) {
        let _ = writeln!(
            out,
            "  {:>8}  {}",
            dur(&x["durationNanos"]),
            fit(&format!("{}: {}", s(&x["service"]), s(&x["name"])), 100),
        );
    }
    let errors = arr(&a["errors"]);
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors");
        for e in errors {
            let msg = s(&e["message"]);
            let _ = writeln!(
                out,
                "  {}: {}{}",
                s(&e["service"]),
                s(&e["name"]),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {msg}")
                }
            );
        }
    }
    let _ = writeln!(
        out,
        "\n  {:<30} {:>6} {:>10} {:>10} {:>6}",
        "SERVICE", "SPANS", "TOTAL", "SELF", "ERRORS"
    );
    for x in services {
        let _ = writeln!(
            out,
            "  {:<30} {:>6} {:>10} {:>10} {:>6}",
            fit(s(&x["service"]), 30),
            count(&x["spanCount"]),
            dur(&x["totalNanos"]),
            dur(&x["selfNanos"]),
            count(&x["errorCount"]),
        );
    }
    let orphans = arr(&a["orphans"]);
    if !orphans.is_empty() {
        let _ = writeln!(
            out,
            "\n{} whose parent is not in the trace (not on the critical path)",
            plural(orphans.len() as u64, "span")
        );
    }
    let skew = &a["clockSkew"];
    let adjusted = arr(&skew["adjustments"]);
    let skipped = arr(&skew["skipped"]);
    if !adjusted.is_empty() {
        let _ = writeln!(
            out,
            "\nClock skew: {} shifted to fit inside their parents (timings above are adjusted)",
            plural(adjusted.len() as u64, "span")
        );
    }
    if !skipped.is_empty() {
        let requested = skew["requested"].as_bool() == Some(true);
        let _ = writeln!(
            out,
            "\nClock skew: {} of other services would need a shift to fit inside their parents{}",
            plural(skipped.len() as u64, "span"),
            if requested {
                " but exceed the bound (raise --max-skew)"
            } else {
                " (rerun with --skew adjust)"
            }
        );
        for x in skipped.iter().take(5) {
            let shift = signed_nanos(&x["shiftNanos"]);
            let _ = writeln!(
                out,
                "  span {} {}{}",
                s(&x["spanId"]),
                if shift < 0 { "-" } else { "+" },
                format_duration_nanos(shift.unsigned_abs())
            );
        }
    }
    out
}

/// The terminal view of a dependency graph.
pub fn render_deps(g: &Value) -> String {
    let mut out = String::new();
    let edges = arr(&g["edges"]);
    let _ = writeln!(
        out,
        "{:<40} {:>7} {:>7} {:>9} {:>9}",
        "CALLER → CALLEE", "CALLS", "ERRORS", "P50", "P99"
    );
    for e in edges {
        let _ = writeln!(
            out,
            "{:<40} {:>7} {:>7} {:>9} {:>9}",
            fit(&format!("{} → {}", s(&e["parent"]), s(&e["child"])), 40),
            count(&e["calls"]),
            count(&e["errors"]),
            dur(&e["p50Nanos"]),
            dur(&e["p99Nanos"]),
        );
    }
    if edges.is_empty() {
        let _ = writeln!(out, "(no calls between services in the window)");
    }
    let _ = writeln!(
        out,
        "{} analyzed{}",
        plural(g["tracesAnalyzed"].as_u64().unwrap_or(0), "trace"),
        if g["truncated"].as_bool() == Some(true) {
            "; the window holds more: raise --max-traces or narrow --start/--end"
        } else {
            ""
        }
    );
    out
}

/// The terminal view of a comparison; unchanged spans only with `all`.
pub fn render_compare(c: &Value, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A {}\nB {}", s(&c["a"]), s(&c["b"]));
    let _ = writeln!(
        out,
        "{:<8} {:>9} {:>9} {:>10}  PATH",
        "STATUS", "A", "B", "DELTA"
    );
    let side = |v: &Value| {
        if v.is_null() {
            "-".to_string()
        } else {
            dur(v)
        }
    };
    for r in arr(&c["rows"]) {
        let status = s(&r["status"]);
        if status == "same" && !all {
            continue;
        }
        let d = signed_nanos(&r["deltaNanos"]);
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>9} {:>10}  {}",
            status,
            side(&r["aDurationNanos"]),
            side(&r["bDurationNanos"]),
            format!(
                "{}{}",
                if d < 0 { "-" } else { "+" },
                format_duration_nanos(d.unsigned_abs())
            ),
            s(&r["path"]),
        );
    }
    let m = &c["summary"];
    let _ = writeln!(
        out,
        "{} slower, {} faster, {} added, {} missing, {} same",
        m["slower"], m["faster"], m["added"], m["missing"], m["same"]
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(got: String, expect: &[&str]) {
        for e in expect {
            assert!(got.contains(e), "missing {e:?} in\n{got}");
        }
    }

    #[test]
    fn analysis_view() {
        let a = json!({
            "traceId": "0102", "startTimeUnixNano": "1700000000000000000",
            "durationNanos": "100000000", "spanCount": 3, "errorCount": 1,
            "criticalPathNanos": "100000000",
            "spans": {"r": {"depth": 0}, "c": {"depth": 1}},
            "criticalPath": [
                {"spanId": "r", "service": "gw", "name": "GET /", "durationNanos": "100000000", "contributionNanos": "25000000"},
                {"spanId": "c", "service": "db", "name": "SELECT", "durationNanos": "75000000", "contributionNanos": "75000000"},
            ],
            "bottlenecks": [{"service": "db", "name": "SELECT", "selfTimeNanos": "75000000", "shareOfParent": 0.75}],
            "slowest": [{"service": "gw", "name": "GET /", "durationNanos": "100000000"}],
            "errors": [{"service": "db", "name": "SELECT", "message": "deadlock"}],
            "services": [{"service": "db", "spanCount": 1, "totalNanos": "75000000", "selfNanos": "75000000", "errorCount": 1}],
            "orphans": ["x"],
            "clockSkew": {"requested": false, "adjustments": [], "skipped": [{"spanId": "c", "shiftNanos": "-5000000"}]},
        });
        check(
            render_analysis(&a),
            &[
                "trace 0102",
                "2023-11-14 22:13:20.000 UTC, 100ms end to end, 3 spans in 1 service, 1 error",
                "  gw: GET /",
                &format!(
                    "    db: SELECT{}{}{}  75.0%      75ms",
                    " ".repeat(45),
                    "█".repeat(15),
                    "░".repeat(5)
                ),
                "self     75ms    75% of its parent",
                "db: SELECT: deadlock",
                "1 span whose parent is not in the trace",
                "(rerun with --skew adjust)",
                "span c -5ms",
            ],
        );
    }

    #[test]
    fn deps_and_compare_views() {
        check(
            render_deps(
                &json!({"edges": [{"parent": "gw", "child": "db", "calls": 3, "errors": 1,
                "p50Nanos": "2000000", "p99Nanos": "9000000"}], "tracesAnalyzed": 2, "truncated": true}),
            ),
            &[
                "gw → db",
                "      3       1       2ms       9ms",
                "2 traces analyzed; the window holds more",
            ],
        );
        let c = json!({"a": "aa", "b": "bb", "rows": [
            {"status": "slower", "path": "gw:GET /", "aDurationNanos": "1000000", "bDurationNanos": "3000000", "deltaNanos": "2000000"},
            {"status": "same", "path": "gw:GET //db:q", "aDurationNanos": "1", "bDurationNanos": "1", "deltaNanos": "0"},
            {"status": "missing", "path": "gw:GET //x:y", "aDurationNanos": "1000", "bDurationNanos": null, "deltaNanos": "-1000"},
        ], "summary": {"slower": 1, "faster": 0, "added": 0, "missing": 1, "same": 1}});
        let got = render_compare(&c, false);
        check(
            got.clone(),
            &[
                "slower         1ms       3ms       +2ms  gw:GET /",
                "missing        1µs         -       -1µs",
                "1 slower, 0 faster, 0 added, 1 missing, 1 same",
            ],
        );
        assert!(!got.contains("db:q"));
        assert!(render_compare(&c, true).contains("db:q"));
    }
}
