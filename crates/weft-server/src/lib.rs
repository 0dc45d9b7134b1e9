//! `weft serve`: the composition root.
//!
//! Opens the store, mounts the receivers (weft-ingest) and the query API, binds the listeners
//! and shuts everything down in order: stop accepting, finish requests in flight, then close
//! the store (whose WAL already holds every acknowledged span).

mod analysis_api;
pub mod api;
pub mod archive;
pub mod config;
mod jaeger_api;
mod metrics;
pub use metrics::process_cpu_seconds;
mod query_api;
pub mod sampling_api;
mod serve_http;
mod ui;

pub use config::ServerConfig;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use weft_ingest::{Limits, Receiver};
use weft_store::embedded::OpenReport;
use weft_store::{EmbeddedStore, StoreError, StoreOptions, TraceReader, TraceWriter};

/// HTTP/2 flow control of the OTLP/gRPC receiver. An export request is typically a few
/// hundred kilobytes, and a busy client has many in flight on one connection. hyper's server
/// defaults (1 MiB for the whole connection, 16 KiB frames) would make it stop and wait for
/// window updates several times per request, and cut each request into dozens of frames.
const GRPC_CONNECTION_WINDOW: u32 = 16 << 20;
const GRPC_STREAM_WINDOW: u32 = 4 << 20;
const GRPC_MAX_FRAME: u32 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} for {what}: {source}; pick another address with --{flag}")]
    Bind {
        what: &'static str,
        flag: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store in {dir}: {source}")]
    Store {
        dir: String,
        #[source]
        source: StoreError,
    },
    #[error("{0}")]
    Sampling(#[from] sampling_api::StrategiesError),
}

/// A running server. Dropping it does not stop it: call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub http: SocketAddr,
    pub open_report: OpenReport,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    store: EmbeddedStore,
    archive: Option<Arc<archive::Archive>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish, then closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(a) = &self.archive {
            a.flush_all().await;
        }
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }

    pub fn store(&self) -> &EmbeddedStore {
        &self.store
    }
}

async fn bind(
    addr: SocketAddr,
    what: &'static str,
    flag: &'static str,
) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            what,
            flag,
            addr,
            source,
        })
}

/// Opens the store and starts every listener.
pub async fn start(cfg: ServerConfig) -> Result<RunningServer, ServerError> {
    let sampling = Arc::new(sampling_api::StrategyStore::open(
        cfg.sampling_strategies.clone(),
    )?);
    let opts = cfg.store_options();
    let dir = opts.data_dir.display().to_string();
    let (store, open_report) = tokio::task::spawn_blocking(move || EmbeddedStore::open(opts))
        .await
        .expect("store open task panicked")
        .map_err(|source| ServerError::Store { dir, source })?;
    for d in &open_report.wal_damage {
        tracing::warn!(damage = %d, "skipped damaged WAL data; frames before and after it were recovered");
    }

    let grpc_listener = bind(cfg.otlp_grpc, "OTLP/gRPC", "otlp-grpc").await?;
    let http_ingest_listener = bind(cfg.otlp_http, "OTLP/HTTP", "otlp-http").await?;
    let api_listener = bind(cfg.http, "the query API", "http").await?;
    let addrs = (
        grpc_listener.local_addr().expect("bound"),
        http_ingest_listener.local_addr().expect("bound"),
        api_listener.local_addr().expect("bound"),
    );

    let mut writer: Arc<dyn TraceWriter> = Arc::new(store.clone());
    let reader: Arc<dyn TraceReader> = Arc::new(store.clone());
    let archive = cfg
        .archive_options()
        .map(|o| Arc::new(archive::Archive::new(o, reader.clone())));
    if let Some(a) = &archive {
        writer = Arc::new(archive::ArchivingWriter::new(writer, a.clone()));
    }
    let receiver = Receiver::new(writer, cfg.limits());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let mut tasks = Vec::new();
    if let Some(a) = &archive {
        tasks.push(tokio::spawn(a.clone().run(stop_rx.clone())));
    }
    {
        let svc = weft_ingest::grpc::TraceServiceServer::new(receiver.clone());
        let incoming =
            tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
        let rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let res = tonic::transport::Server::builder()
                .initial_connection_window_size(GRPC_CONNECTION_WINDOW)
                .initial_stream_window_size(GRPC_STREAM_WINDOW)
                .max_frame_size(GRPC_MAX_FRAME)
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, stopped(rx))
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "OTLP/gRPC server failed");
            }
        }));
    }
    // the OTLP/HTTP and API routers: served alike, until the stop signal
    let serve_router = |listener, app| {
        tokio::spawn(serve_http::serve(
            listener,
            app,
            cfg.header_read_timeout,
            stopped(stop_rx.clone()),
        ))
    };
    tasks.push(serve_router(
        http_ingest_listener,
        weft_ingest::http::router(receiver.clone()),
    ));
    {
        let state = api::ApiState {
            reader,
            store: store.clone(),
            ingest: receiver.metrics().clone(),
            archive: archive.clone(),
            sampling,
        };
        tasks.push(serve_router(api_listener, api::router(state)));
    }
    Ok(RunningServer {
        otlp_grpc: addrs.0,
        otlp_http: addrs.1,
        http: addrs.2,
        open_report,
        stop: stop_tx,
        tasks,
        store,
        archive,
    })
}

impl ServerConfig {
    pub fn store_options(&self) -> StoreOptions {
        let mut o = StoreOptions::new(&self.data_dir);
        o.fsync = self.wal_fsync;
        o.retention = self.retention;
        o.max_disk_bytes = self.max_disk;
        o.block_max_spans = self.block_max_spans;
        o.block_max_age = self.block_max_age;
        o.max_memory_bytes = self.max_memory;
        o.compaction_fan_in = self.compaction_fan_in;
        o.maintenance_interval = self.maintenance_interval;
        o
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_request_bytes: self.max_request_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            max_inflight_bytes: self.max_inflight_bytes,
            ..Limits::default()
        }
    }
}
