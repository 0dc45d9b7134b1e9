//! TLS for the OTLP exporters, against real TLS servers on loopback: a private CA from
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, mutual TLS with the client certificate and key, HTTPS for
//! OTLP/HTTP, and the rule that an `https` (or scheme-less, not insecure) endpoint never talks
//! plaintext.

mod common;
use common::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use parking_lot::Mutex;
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::AsyncReadExt;

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: String,
    server_key: String,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["weft-client".into()]);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", &ca_cert.pem()),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
        server_cert,
        server_key,
        _dir: dir,
    }
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    fn add(&self, req: &ExportTraceServiceRequest) {
        let mut names = self.0.lock();
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                names.extend(ss.spans.iter().map(|s| s.name.clone()));
            }
        }
    }
    fn names(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.add(request.get_ref());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A TLS gRPC OTLP receiver; with `client_ca`, clients must present a certificate it signed.
async fn grpc_tls_server(pki: &Pki, client_ca: bool) -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let mut tls = tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(&pki.server_cert, &pki.server_key),
    );
    if client_ca {
        tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(
            std::fs::read(&pki.ca).unwrap(),
        ));
    }
    let server = tonic::transport::Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(TraceServiceServer::new(received.clone()))
        .serve_with_incoming(tokio_stream_listener(listener));
    tokio::spawn(server);
    (addr, received)
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures_util::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures_util::stream::unfold(listener, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}

/// An HTTPS OTLP/HTTP receiver (protobuf) on loopback.
async fn https_server(pki: &Pki) -> (SocketAddr, Received) {
    use axum::routing::post;
    let received = Received::default();
    let r2 = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let r = r2.clone();
            async move {
                use axum::response::IntoResponse;
                match ExportTraceServiceRequest::decode(body) {
                    Ok(req) => {
                        r.add(&req);
                        (
                            [(http::header::CONTENT_TYPE, "application/x-protobuf")],
                            ExportTraceServiceResponse::default().encode_to_vec(),
                        )
                            .into_response()
                    }
                    Err(e) => (http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
                }
            }
        }),
    );
    let certs = rustls_pemfile_certs(&pki.server_cert);
    let key = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap()
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
            });
        }
    });
    (addr, received)
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Sends one span named `name` through an OTLP exporter configured by `vars`, then shuts down.
fn send_one(name: &str, vars: &[(&str, &str)]) -> weft::StatsSnapshot {
    let mut e = env(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]);
    e.extend(env(vars));
    let guard = weft::builder()
        .env(e)
        .install_subscriber(false)
        .set_global(false)
        .shutdown_timeout(Duration::from_secs(5))
        .init()
        .expect("init with TLS settings");
    guard
        .tracer_provider()
        .tracer("tls-test")
        .start(name.to_string());
    let _ = guard.flush();
    let stats = guard.stats();
    drop(guard);
    stats
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_trusts_the_certificate_file() {
    let pki = pki();
    let (addr, received) = grpc_tls_server(&pki, false).await;
    let endpoint = format!("https://localhost:{}", addr.port());
    let stats = tokio::task::spawn_blocking({
        let ca = pki.ca.clone();
        move || {
            send_one(
                "over-grpc-tls",
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                    ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(received.names(), ["over-grpc-tls"], "{stats:?}");
    assert_eq!(stats.exported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate_and_fails_without_it() {
    let pki = pki();
    let (addr, received) = grpc_tls_server(&pki, true).await;
    let endpoint = format!("https://localhost:{}", addr.port());
    let (ca, cert, key) = (
        pki.ca.clone(),
        pki.client_cert.clone(),
        pki.client_key.clone(),
    );
    let ep = endpoint.clone();
    let with_cert = tokio::task::spawn_blocking(move || {
        send_one(
            "with-client-cert",
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &ep),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&cert)),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&key)),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(received.names(), ["with-client-cert"], "{with_cert:?}");

    let ca = pki.ca.clone();
    let without = tokio::task::spawn_blocking(move || {
        send_one(
            "without-client-cert",
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(received.names(), ["with-client-cert"]);
    assert_eq!(without.exported, 0, "{without:?}");
    assert_eq!(
        without.failed, 1,
        "the refused export is counted: {without:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_over_https_trusts_the_certificate_file() {
    let pki = pki();
    let (addr, received) = https_server(&pki).await;
    let endpoint = format!("https://localhost:{}", addr.port());
    let ca = pki.ca.clone();
    let stats = tokio::task::spawn_blocking(move || {
        send_one(
            "over-https",
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(received.names(), ["over-https"], "{stats:?}");
}

/// The first bytes a client sends to a plain TCP listener: a TLS record (0x16) or the HTTP/2
/// connection preface.
async fn first_bytes(
    vars: Vec<(String, String)>,
    endpoint_of: fn(SocketAddr) -> String,
) -> Vec<u8> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 3];
        s.read_exact(&mut buf).await.unwrap();
        buf
    });
    let endpoint = endpoint_of(addr);
    tokio::task::spawn_blocking(move || {
        let mut v: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        v.push(("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint));
        v.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"));
        v.push(("OTEL_EXPORTER_OTLP_TIMEOUT", "500"));
        send_one("probe", &v)
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the exporter connected")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_scheme_less_grpc_endpoints_never_speak_plaintext() {
    const TLS_HANDSHAKE: u8 = 0x16;
    let https = first_bytes(vec![], |a| format!("https://127.0.0.1:{}", a.port())).await;
    assert_eq!(https[0], TLS_HANDSHAKE, "{https:?}");
    let bare = first_bytes(vec![], |a| format!("127.0.0.1:{}", a.port())).await;
    assert_eq!(
        bare[0], TLS_HANDSHAKE,
        "a scheme-less endpoint uses TLS: {bare:?}"
    );
    let insecure = first_bytes(
        vec![("OTEL_EXPORTER_OTLP_INSECURE".into(), "true".into())],
        |a| format!("127.0.0.1:{}", a.port()),
    )
    .await;
    assert_eq!(
        insecure, b"PRI",
        "insecure means the HTTP/2 preface in clear"
    );
}
