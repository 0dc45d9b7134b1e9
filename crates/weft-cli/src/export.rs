//! `weft export <trace-id>`: one trace as OTLP/JSON or as Jaeger's JSON, fetched from the
//! query API (`GET /api/v1/traces/{id}?format=…`) and written exactly as the API returns it.

use crate::client::ServerArg;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// OTLP/JSON `TracesData` (`{"resourceSpans":[…]}`), what OTLP/HTTP JSON receivers accept
    Otlp,
    /// Jaeger's UI JSON (`{"data":[trace],…}`), as Jaeger's `/api/traces/{id}` returns it
    Jaeger,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Otlp => "otlp",
            Format::Jaeger => "jaeger",
        }
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Trace id (32 hex characters)
    pub trace_id: String,
    /// Output format
    #[arg(long, value_enum, default_value = "otlp")]
    pub format: Format,
    /// Write to this file instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArg,
}

pub async fn run(a: ExportArgs) -> anyhow::Result<()> {
    let id = a.trace_id.trim();
    weft_model::TraceId::from_hex(id)
        .map_err(|e| anyhow::anyhow!("invalid trace id {id:?}: {e}"))?;
    let url = format!(
        "{}/api/v1/traces/{id}?format={}",
        a.server.server.trim_end_matches('/'),
        a.format.name()
    );
    let resp = reqwest::get(&url).await.with_context(|| {
        format!(
            "cannot reach weft at {url}: is `weft serve` running? (set --server or WEFT_SERVER)"
        )
    })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.context("reading the server's answer")?;
    if status != 200 {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        anyhow::bail!("server answered {status}: {msg}");
    }
    match &a.output {
        Some(path) => std::fs::write(path, &body)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&body)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
