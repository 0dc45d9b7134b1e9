//! Exporters: OTLP (via opentelemetry-otlp), LangSmith (its OTLP endpoint), a console tree
//! and a rotated OTLP-JSON-lines file.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use opentelemetry::trace::Status;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;

use crate::config::{FileConfig, LangSmithConfig, OtlpConfig, Protocol};
use crate::InitError;

/// Builds the OTLP exporter. Must run inside weft's runtime (tonic's lazy channel needs it).
pub(crate) fn otlp(c: &OtlpConfig) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
    let https = c.endpoint.starts_with("https://");
    let tls_files = c.certificate.is_some() || c.client_key.is_some();
    if (https || (tls_files && c.protocol == Protocol::Grpc)) && !cfg!(feature = "tls") {
        return Err(InitError::TlsUnavailable {
            endpoint: c.endpoint.clone(),
        });
    }
    for p in [&c.certificate, &c.client_key, &c.client_certificate]
        .into_iter()
        .flatten()
    {
        if !p.is_file() {
            return Err(InitError::CertificateFile { path: p.clone() });
        }
    }
    let exporter = match c.protocol {
        Protocol::Grpc => {
            let mut md = tonic::metadata::MetadataMap::new();
            for (k, v) in &c.headers {
                let key =
                    tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                        .map_err(|_| InitError::Header { name: k.clone() })?;
                let val = v
                    .parse()
                    .map_err(|_| InitError::Header { name: k.clone() })?;
                md.insert(key, val);
            }
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(c.endpoint.clone())
                .with_timeout(c.timeout)
                .with_metadata(md);
            if c.gzip {
                b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            #[cfg(feature = "tls")]
            if https || tls_files {
                let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
                if let Some(ca) = &c.certificate {
                    let pem = std::fs::read(ca)
                        .map_err(|_| InitError::CertificateFile { path: ca.clone() })?;
                    tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                }
                if let (Some(k), Some(cert)) = (&c.client_key, &c.client_certificate) {
                    let key = std::fs::read(k)
                        .map_err(|_| InitError::CertificateFile { path: k.clone() })?;
                    let cert = std::fs::read(cert)
                        .map_err(|_| InitError::CertificateFile { path: cert.clone() })?;
                    tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
                }
                b = b.with_tls_config(tls);
            }
            b.build()
        }
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            let headers: HashMap<String, String> = c.headers.iter().cloned().collect();
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(c.endpoint.clone())
                .with_timeout(c.timeout)
                .with_protocol(if c.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                })
                .with_headers(headers);
            if c.gzip {
                b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            #[cfg(feature = "tls")]
            if tls_files {
                b = b.with_http_client(https_client(c)?);
            }
            b.build()
        }
    };
    exporter.map_err(|e| InitError::Exporter {
        kind: "otlp",
        reason: e.to_string(),
    })
}

/// An HTTP client trusting `OTEL_EXPORTER_OTLP_CERTIFICATE` in addition to the system roots and
/// presenting the client certificate when one is configured.
#[cfg(feature = "tls")]
fn https_client(c: &OtlpConfig) -> Result<reqwest::Client, InitError> {
    let read =
        |p: &PathBuf| std::fs::read(p).map_err(|_| InitError::CertificateFile { path: p.clone() });
    let mut b = reqwest::Client::builder().timeout(c.timeout);
    if let Some(ca) = &c.certificate {
        let cert = reqwest::Certificate::from_pem(&read(ca)?)
            .map_err(|_| InitError::CertificateFile { path: ca.clone() })?;
        b = b.add_root_certificate(cert);
    }
    if let (Some(k), Some(cert)) = (&c.client_key, &c.client_certificate) {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(k)?);
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|_| InitError::CertificateFile { path: k.clone() })?;
        b = b.identity(id);
    }
    b.build().map_err(|e| InitError::Exporter {
        kind: "otlp",
        reason: e.to_string(),
    })
}

/// LangSmith through its OTLP endpoint (`<endpoint>/otel/v1/traces`, protobuf), which maps
/// `gen_ai.*` attributes (model, token usage, prompts and completions when captured) to runs.
pub(crate) fn langsmith(
    c: &LangSmithConfig,
    timeout: std::time::Duration,
) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
    if c.endpoint.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(InitError::TlsUnavailable {
            endpoint: c.endpoint.clone(),
        });
    }
    let mut headers = HashMap::new();
    headers.insert("x-api-key".to_string(), c.api_key.clone());
    headers.insert("Langsmith-Project".to_string(), c.project.clone());
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/otel/v1/traces", c.endpoint))
        .with_timeout(timeout)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_headers(headers)
        .build()
        .map_err(|e| InitError::Exporter {
            kind: "langsmith",
            reason: e.to_string(),
        })
}

/// Prints one readable tree per trace (per batch) to stderr, or to any writer.
pub struct ConsoleExporter {
    out: Mutex<Box<dyn Write + Send>>,
    service: String,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleExporter")
    }
}

impl ConsoleExporter {
    /// Writes to stderr.
    pub fn stderr() -> Self {
        Self::new(Box::new(std::io::stderr()))
    }

    /// Writes to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        ConsoleExporter {
            out: Mutex::new(out),
            service: String::new(),
        }
    }
}

/// Renders spans as trees, one per trace id; children sorted by start time.
pub fn render_tree(service: &str, spans: &[SpanData]) -> String {
    let mut by_trace: BTreeMap<String, Vec<&SpanData>> = BTreeMap::new();
    for s in spans {
        by_trace
            .entry(s.span_context.trace_id().to_string())
            .or_default()
            .push(s);
    }
    let mut out = String::new();
    for (trace, mut list) in by_trace {
        list.sort_by_key(|s| s.start_time);
        out.push_str(&format!("trace {trace} ({service})\n"));
        let ids: std::collections::HashSet<_> =
            list.iter().map(|s| s.span_context.span_id()).collect();
        fn walk(out: &mut String, list: &[&SpanData], s: &SpanData, depth: usize) {
            let ms = s
                .end_time
                .duration_since(s.start_time)
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0;
            let status = match &s.status {
                Status::Error { description } => format!(" ERROR {description}"),
                _ => String::new(),
            };
            let attrs: Vec<String> = s
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            out.push_str(&format!(
                "{}└─ {} [{:.3} ms]{} {}\n",
                "   ".repeat(depth),
                s.name,
                ms,
                status,
                attrs.join(" ")
            ));
            for c in list
                .iter()
                .filter(|c| c.parent_span_id == s.span_context.span_id())
            {
                walk(out, list, c, depth + 1);
            }
        }
        for root in list.iter().filter(|s| !ids.contains(&s.parent_span_id)) {
            walk(&mut out, &list, root, 0);
        }
    }
    out
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let text = render_tree(&self.service, &batch);
        let mut out = self.out.lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| OTelSdkError::InternalFailure(format!("console exporter: {e}")))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string())
            .unwrap_or_default();
    }
}

/// Appends one OTLP/JSON `{"resourceSpans":[...]}` object per line, rotating `<path>` to
/// `<path>.1` … `<path>.N` when it passes `max_bytes`.
#[derive(Debug)]
pub struct FileExporter {
    config: FileConfig,
    state: Mutex<Option<(File, u64)>>,
    resource: ResourceAttributesWithSchema,
}

impl FileExporter {
    /// An exporter writing where `config` says (the file is opened on first export).
    pub fn new(config: FileConfig) -> Self {
        FileExporter {
            config,
            state: Mutex::new(None),
            resource: ResourceAttributesWithSchema::from(&Resource::builder_empty().build()),
        }
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.config.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&self) -> std::io::Result<()> {
        if self.config.max_files == 0 {
            return std::fs::remove_file(&self.config.path);
        }
        for n in (1..self.config.max_files).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.config.path, self.rotated(1))
    }

    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if let Some((_, size)) = state.as_ref() {
            if *size > 0 && size + line.len() as u64 > self.config.max_bytes {
                *state = None;
                self.rotate()?;
            }
        }
        if state.is_none() {
            if let Some(dir) = self
                .config
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.config.path)?;
            let size = f.metadata()?.len();
            *state = Some((f, size));
        }
        let (f, size) = state.as_mut().expect("opened above");
        f.write_all(line)?;
        *size += line.len() as u64;
        Ok(())
    }
}

/// OTLP/JSON for a batch of spans (the same shape the OTLP/HTTP JSON protocol sends).
pub fn to_otlp_json(spans: Vec<SpanData>, resource: &ResourceAttributesWithSchema) -> String {
    let rs = group_spans_by_resource_and_scope(spans, resource);
    let req = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: rs,
    };
    serde_json::to_string(&req).unwrap_or_default()
}

impl SpanExporter for FileExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut line = to_otlp_json(batch, &self.resource).into_bytes();
        line.push(b'\n');
        self.write_line(&line).map_err(|e| {
            OTelSdkError::InternalFailure(format!(
                "file exporter: cannot write {}: {e}",
                self.config.path.display()
            ))
        })
    }

    fn force_flush(&self) -> OTelSdkResult {
        if let Some((f, _)) = self.state.lock().as_mut() {
            f.flush()
                .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
    }
}
