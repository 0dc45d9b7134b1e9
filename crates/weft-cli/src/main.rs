//! The `weft` command.

mod analyze;
mod bench;
mod client;
mod export;
mod query;
mod serve;
mod tree;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "OpenTelemetry-native distributed tracing: a server, a CLI and a load generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the trace server (OTLP gRPC/HTTP receivers, embedded store, query API)
    Serve(Box<serve::ServeArgs>),
    /// Print one trace as an indented tree
    Trace(client::TraceArgs),
    /// Search traces (mirrors GET /api/v1/search)
    Search(client::SearchArgs),
    /// Find traces with a TraceQL query (mirrors GET /api/v1/query)
    Query(query::QueryArgs),
    /// Write one trace as OTLP/JSON or Jaeger JSON (to stdout or a file)
    Export(export::ExportArgs),
    /// Generate load against a weft (or any OTLP) endpoint and report throughput and latency
    Bench(bench::BenchArgs),
    /// Explain a trace: critical path, bottlenecks, slowest spans, errors, time per service
    Analyze(analyze::AnalyzeArgs),
    /// Service dependency graph over a time window (table, JSON, Mermaid or DOT)
    Deps(analyze::DepsArgs),
    /// Compare two traces span by span: added, missing, slower and faster spans
    Compare(analyze::CompareArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let res = rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(*a).await,
            Command::Trace(a) => client::trace(a).await,
            Command::Search(a) => client::search(a).await,
            Command::Query(a) => query::run(a).await,
            Command::Export(a) => export::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Analyze(a) => analyze::analyze(a).await,
            Command::Deps(a) => analyze::deps(a).await,
            Command::Compare(a) => analyze::compare(a).await,
        }
    });
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each once. Many of weft's errors already name their cause in
/// their own message (`cannot open the store in …: <cause>`), which `{:#}` would repeat.
fn causes(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}
