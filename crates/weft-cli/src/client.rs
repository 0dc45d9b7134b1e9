//! `weft trace` and `weft search`: thin clients of the query API.

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct ServerArg {
    /// Base URL of the weft query API
    #[arg(long, env = "WEFT_SERVER", default_value = "http://127.0.0.1:16686")]
    pub server: String,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// Trace id (32 hex characters)
    pub trace_id: String,
    #[command(flatten)]
    pub server: ServerArg,
    /// Print the raw OTLP/JSON instead of a tree
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[arg(long)]
    pub service: Option<String>,
    /// Span name
    #[arg(long)]
    pub name: Option<String>,
    /// key=value on span or resource attributes (repeatable)
    #[arg(long = "attr")]
    pub attrs: Vec<String>,
    /// e.g. 250ms, 2s
    #[arg(long)]
    pub min_duration: Option<String>,
    #[arg(long)]
    pub max_duration: Option<String>,
    /// "error" for traces with an error span
    #[arg(long)]
    pub status: Option<String>,
    /// RFC 3339 or unix seconds
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long)]
    pub end: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub server: ServerArg,
    /// Print the raw JSON response
    #[arg(long)]
    pub json: bool,
}

pub async fn get_json(url: &str) -> anyhow::Result<(u16, Value)> {
    let resp = reqwest::get(url).await.with_context(|| {
        format!(
            "cannot reach weft at {url}: is `weft serve` running? (set --server or WEFT_SERVER)"
        )
    })?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .json()
        .await
        .context("the server's answer is not JSON")?;
    Ok((status, body))
}

fn api_error(status: u16, body: &Value) -> anyhow::Error {
    anyhow::anyhow!(
        "server answered {status}: {}",
        body.get("error")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
    )
}

pub async fn trace(a: TraceArgs) -> anyhow::Result<()> {
    let url = format!(
        "{}/api/v1/traces/{}",
        a.server.server.trim_end_matches('/'),
        a.trace_id.trim()
    );
    let (status, body) = get_json(&url).await?;
    if status != 200 {
        return Err(api_error(status, &body));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let bytes = serde_json::to_vec(&body)?;
    let req = weft_proto::json::decode_request(&bytes)
        .map_err(|e| anyhow::anyhow!("the server's trace is not valid OTLP/JSON: {e}"))?;
    let (batch, _) = weft_proto::otlp::batch_from_request(req);
    print!("{}", crate::tree::render(&batch));
    Ok(())
}

pub async fn search(a: SearchArgs) -> anyhow::Result<()> {
    let mut q: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            q.push((k.to_string(), v.clone()));
        }
    };
    push("service", &a.service);
    push("name", &a.name);
    push("minDuration", &a.min_duration);
    push("maxDuration", &a.max_duration);
    push("status", &a.status);
    push("start", &a.start);
    push("end", &a.end);
    for at in &a.attrs {
        if !at.contains('=') {
            bail!("--attr {at:?}: write key=value");
        }
        q.push(("attr".into(), at.clone()));
    }
    q.push(("limit".into(), a.limit.to_string()));
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/search", a.server.server.trim_end_matches('/')),
        &q,
    )
    .context("invalid --server URL")?;
    let (status, body) = get_json(url.as_str()).await?;
    if status != 200 {
        return Err(api_error(status, &body));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let traces = body["traces"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<32}  {:<19}  {:>10}  {:>5}  {:>4}  ROOT",
        "TRACE ID", "START (UTC)", "DURATION", "SPANS", "ERRS"
    );
    for t in &traces {
        let start: u64 = t["startTimeUnixNano"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let dur: u64 = t["durationNanos"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let when = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(start),
        )
        .to_string();
        println!(
            "{:<32}  {:<19}  {:>10}  {:>5}  {:>4}  {}: {}",
            t["traceId"].as_str().unwrap_or(""),
            when.trim_end_matches('Z').replace('T', " "),
            weft_model::duration::format_duration_nanos(dur),
            t["spanCount"],
            t["errorCount"],
            t["rootServiceName"].as_str().unwrap_or(""),
            t["rootSpanName"].as_str().unwrap_or(""),
        );
    }
    if body["truncated"].as_bool() == Some(true) {
        println!("(more traces matched; raise --limit or narrow the search)");
    } else if traces.is_empty() {
        println!("(no traces matched)");
    }
    Ok(())
}
