//! Configuration from the environment, as a pure function over a map of variables.
//!
//! [`Config::from_env_map`] never reads the process environment itself, so it is tested with
//! tables of inputs. [`Config::from_env`] is the thin wrapper that does.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// An environment variable holds a value weft cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The value could not be parsed.
    #[error("{var}={value:?} is not valid: {reason}; fix or unset {var}")]
    Invalid {
        /// The variable's name.
        var: String,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A variable needs another one that is not set.
    #[error("{var} is set but {needs} is missing; set {needs} or unset {var}")]
    Missing {
        /// The variable that was set.
        var: String,
        /// The one it needs.
        needs: String,
    },
}

/// OTLP wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (the spec's default).
    HttpProtobuf,
    /// OTLP over HTTP with JSON bodies.
    HttpJson,
}

/// Where spans go. Several may be active at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExporterKind {
    /// OTLP (protocol from `OTEL_EXPORTER_OTLP_PROTOCOL`).
    Otlp,
    /// A readable tree per trace on stderr.
    Console,
    /// OTLP JSON lines in a rotated file.
    File,
    /// LangSmith's OTLP endpoint.
    LangSmith,
}

/// A context propagation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagatorKind {
    /// W3C `traceparent`/`tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// Zipkin B3 single header (`b3`).
    B3,
    /// Zipkin B3 multi header (`X-B3-*`).
    B3Multi,
}

/// A head sampler, as named by `OTEL_TRACES_SAMPLER`.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerConfig {
    /// Sample everything.
    AlwaysOn,
    /// Sample nothing.
    AlwaysOff,
    /// Sample a ratio of trace ids.
    TraceIdRatio(f64),
    /// Follow the parent; roots always on.
    ParentBasedAlwaysOn,
    /// Follow the parent; roots always off.
    ParentBasedAlwaysOff,
    /// Follow the parent; roots by trace id ratio.
    ParentBasedTraceIdRatio(f64),
    /// `jaeger_remote`: strategies polled from a Jaeger remote sampling endpoint.
    JaegerRemote(crate::sampling_remote::JaegerRemoteConfig),
    /// `parentbased_jaeger_remote`: follow the parent; roots by the Jaeger remote sampler.
    ParentBasedJaegerRemote(crate::sampling_remote::JaegerRemoteConfig),
}

impl SamplerConfig {
    /// The root sampling ratio this sampler amounts to.
    pub fn root_ratio(&self) -> f64 {
        match self {
            Self::AlwaysOn | Self::ParentBasedAlwaysOn => 1.0,
            Self::AlwaysOff | Self::ParentBasedAlwaysOff => 0.0,
            Self::TraceIdRatio(r) | Self::ParentBasedTraceIdRatio(r) => *r,
            // until the first strategy arrives
            Self::JaegerRemote(c) | Self::ParentBasedJaegerRemote(c) => c.initial_sampling_rate,
        }
    }
}

/// OTLP exporter settings (signal-specific `*_TRACES_*` variables win over the generic ones).
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// Full URL. For HTTP this includes `/v1/traces`.
    pub endpoint: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Extra headers / gRPC metadata.
    pub headers: Vec<(String, String)>,
    /// Per-export timeout.
    pub timeout: Duration,
    /// gzip compression.
    pub gzip: bool,
    /// CA certificate file (PEM) to trust.
    pub certificate: Option<PathBuf>,
    /// Client private key file (PEM) for mTLS.
    pub client_key: Option<PathBuf>,
    /// Client certificate file (PEM) for mTLS.
    pub client_certificate: Option<PathBuf>,
    /// `OTEL_EXPORTER_OTLP_(TRACES_)INSECURE`: plaintext gRPC for an endpoint given without a
    /// scheme (`collector:4317`); such an endpoint uses TLS otherwise. An explicit `http://` or
    /// `https://` always wins, as the specification says.
    pub insecure: bool,
}

/// Span limits (`OTEL_SPAN_*_LIMIT`, `OTEL_ATTRIBUTE_*_LIMIT`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest string attribute value in bytes; longer ones are truncated. `None` = unlimited.
    pub attribute_value_length: Option<usize>,
    /// Most attributes per span.
    pub attribute_count: u32,
    /// Most events per span.
    pub event_count: u32,
    /// Most links per span.
    pub link_count: u32,
    /// Most attributes per event.
    pub event_attribute_count: u32,
    /// Most attributes per link.
    pub link_attribute_count: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            attribute_value_length: None,
            attribute_count: 128,
            event_count: 128,
            link_count: 128,
            event_attribute_count: 128,
            link_attribute_count: 128,
        }
    }
}

/// Batch span processor settings (`OTEL_BSP_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Delay between two exports.
    pub schedule_delay: Duration,
    /// Longest an export may take.
    pub export_timeout: Duration,
    /// Spans queued before new ones are dropped (and counted).
    pub max_queue_size: usize,
    /// Most spans per export.
    pub max_export_batch_size: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            schedule_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30000),
            max_queue_size: 2048,
            max_export_batch_size: 512,
        }
    }
}

/// Rotated OTLP-JSON-lines file exporter settings (`WEFT_FILE_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    /// The file spans are appended to.
    pub path: PathBuf,
    /// Size at which the file is rotated to `<path>.1`.
    pub max_bytes: u64,
    /// How many rotated files are kept.
    pub max_files: usize,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("weft-traces.jsonl"),
            max_bytes: 64 * 1024 * 1024,
            max_files: 3,
        }
    }
}

/// LangSmith settings (`LANGSMITH_*`, or the older `LANGCHAIN_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct LangSmithConfig {
    /// API key sent as `x-api-key`.
    pub api_key: String,
    /// Project the runs land in.
    pub project: String,
    /// Base URL, e.g. `https://api.smith.langchain.com`.
    pub endpoint: String,
}

/// Keep errors and slow requests that head sampling dropped (see the crate README).
#[derive(Debug, Clone, PartialEq)]
pub struct KeepConfig {
    /// Export the local subtree when it holds a span with error status.
    pub errors: bool,
    /// Export the local subtree when its local root took at least this long.
    pub slow: Option<Duration>,
}

impl KeepConfig {
    /// Whether any keeping is on.
    pub fn enabled(&self) -> bool {
        self.errors || self.slow.is_some()
    }
}

/// Everything weft reads from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `OTEL_SDK_DISABLED=true` or `OTEL_ENABLED=false`: nothing is exported, propagation still works.
    pub disabled: bool,
    /// `service.name`.
    pub service_name: Option<String>,
    /// `service.version`.
    pub service_version: Option<String>,
    /// `deployment.environment.name`.
    pub environment: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// Propagators, deduplicated, in order.
    pub propagators: Vec<PropagatorKind>,
    /// Exporters, deduplicated. Empty = `none`.
    pub exporters: Vec<ExporterKind>,
    /// Head sampler.
    pub sampler: SamplerConfig,
    /// Tail keeping of errors / slow requests.
    pub keep: KeepConfig,
    /// OTLP exporter.
    pub otlp: OtlpConfig,
    /// Span limits.
    pub limits: Limits,
    /// Batching.
    pub batch: BatchConfig,
    /// File exporter.
    pub file: FileConfig,
    /// LangSmith exporter, when tracing to it is on.
    pub langsmith: Option<LangSmithConfig>,
    /// How long the guard's drop waits for the final flush.
    pub shutdown_timeout: Duration,
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: record prompts and responses.
    pub genai_capture_content: bool,
    /// Values that were ignored, with the reason (the spec says to warn, not fail).
    pub warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_env_map(&HashMap::new()).expect("the empty environment is valid")
    }
}

/// Environment variables weft reads, for documentation and tests.
pub const VARIABLES: &[&str] = &[
    "OTEL_SDK_DISABLED",
    "OTEL_ENABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_SERVICE_VERSION",
    "OTEL_ENVIRONMENT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_PROPAGATORS",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SAMPLING_RATIO",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "LANGSMITH_TRACING",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_PROJECT",
    "LANGCHAIN_PROJECT",
    "LANGSMITH_ENDPOINT",
    "LANGCHAIN_ENDPOINT",
    "WEFT_FILE_PATH",
    "WEFT_FILE_MAX_BYTES",
    "WEFT_FILE_MAX_FILES",
    "WEFT_KEEP_ERRORS",
    "WEFT_KEEP_SLOW_MS",
    "WEFT_SHUTDOWN_TIMEOUT_MS",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
];

struct Env<'a> {
    map: &'a HashMap<String, String>,
    warnings: Vec<String>,
}

fn invalid(var: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var: var.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl<'a> Env<'a> {
    /// A set, non-blank value (the spec treats empty as unset).
    fn get(&self, var: &str) -> Option<&'a str> {
        self.map
            .get(var)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn first(&self, vars: &[&'static str]) -> Option<(&'static str, &'a str)> {
        vars.iter().find_map(|v| self.get(v).map(|x| (*v, x)))
    }

    /// Strict boolean: true/false/1/0/yes/no/on/off.
    fn bool_strict(&self, var: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| invalid(var, v, "expected true or false")),
        }
    }

    /// Spec boolean: only `true` (any case) is true; anything but `false` warns.
    fn bool_spec(&mut self, var: &str) -> bool {
        match self.get(var) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                self.warnings.push(format!(
                    "{var}={v:?} is not true or false; treated as false"
                ));
                false
            }
        }
    }

    fn number<T: std::str::FromStr>(&self, var: &str) -> Result<Option<T>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(v) => v
                .parse::<T>()
                .map(Some)
                .map_err(|_| invalid(var, v, "expected a non-negative integer")),
        }
    }

    fn millis(&self, vars: &[&'static str]) -> Result<Option<Duration>, ConfigError> {
        for var in vars {
            if let Some(ms) = self.number::<u64>(var)? {
                return Ok(Some(Duration::from_millis(ms)));
            }
        }
        Ok(None)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_ratio(var: &str, v: &str) -> Result<f64, ConfigError> {
    match v.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(invalid(var, v, "expected a number from 0.0 to 1.0")),
    }
}

/// Parses `key=value,key2=value2` with percent-decoding (W3C baggage format, used by
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`).
fn parse_pairs(var: &str, v: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for item in v.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, val)) = item.split_once('=') else {
            return Err(invalid(var, v, format!("{item:?} is not key=value")));
        };
        let k = percent_decode(k.trim()).ok_or_else(|| invalid(var, v, "bad percent-encoding"))?;
        let val =
            percent_decode(val.trim()).ok_or_else(|| invalid(var, v, "bad percent-encoding"))?;
        if k.is_empty() {
            return Err(invalid(var, v, format!("{item:?} has an empty key")));
        }
        out.push((k, val));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn check_url(var: &str, v: &str) -> Result<(), ConfigError> {
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(|| invalid(var, v, "expected a URL starting with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid(var, v, "the URL has no host"));
    }
    Ok(())
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let map: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("OTEL_")
                    || k.starts_with("WEFT_")
                    || k.starts_with("LANGSMITH_")
                    || k.starts_with("LANGCHAIN_")
            })
            .collect();
        Self::from_env_map(&map)
    }

    /// Parses a set of environment variables. Pure: no I/O, no process environment.
    pub fn from_env_map(map: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut env = Env {
            map,
            warnings: Vec::new(),
        };

        // enablement
        let sdk_disabled = env.bool_spec("OTEL_SDK_DISABLED");
        let enabled = env.bool_strict("OTEL_ENABLED")?.unwrap_or(true);
        let disabled = sdk_disabled || !enabled;

        // resource
        let resource_attributes = match env.get("OTEL_RESOURCE_ATTRIBUTES") {
            Some(v) => parse_pairs("OTEL_RESOURCE_ATTRIBUTES", v)?,
            None => Vec::new(),
        };
        let from_attrs = |key: &str| {
            resource_attributes
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let service_name = env
            .get("OTEL_SERVICE_NAME")
            .map(str::to_string)
            .or_else(|| from_attrs("service.name"));
        let service_version = env
            .get("OTEL_SERVICE_VERSION")
            .map(str::to_string)
            .or_else(|| from_attrs("service.version"));
        let environment = env
            .get("OTEL_ENVIRONMENT")
            .map(str::to_string)
            .or_else(|| from_attrs("deployment.environment.name"))
            .or_else(|| from_attrs("deployment.environment"));

        // propagators
        let mut propagators = Vec::new();
        let prop_value = env
            .get("OTEL_PROPAGATORS")
            .unwrap_or("tracecontext,baggage");
        for name in prop_value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let p = match name.to_ascii_lowercase().as_str() {
                "tracecontext" => PropagatorKind::TraceContext,
                "baggage" => PropagatorKind::Baggage,
                "b3" => PropagatorKind::B3,
                "b3multi" => PropagatorKind::B3Multi,
                "none" => continue,
                other => {
                    env.warnings.push(format!(
                        "OTEL_PROPAGATORS: {other:?} is not supported (use tracecontext, baggage, b3, b3multi or none); ignored"
                    ));
                    continue;
                }
            };
            if !propagators.contains(&p) {
                propagators.push(p);
            }
        }
        if prop_value
            .split(',')
            .any(|s| s.trim().eq_ignore_ascii_case("none"))
        {
            propagators.clear();
        }

        // exporters
        let mut exporters = Vec::new();
        let exp_value = env.get("OTEL_TRACES_EXPORTER").unwrap_or("otlp");
        let names: Vec<&str> = exp_value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        for name in &names {
            let e = match name.to_ascii_lowercase().as_str() {
                "otlp" => ExporterKind::Otlp,
                "console" | "logging" => ExporterKind::Console,
                "file" => ExporterKind::File,
                "langsmith" => ExporterKind::LangSmith,
                "none" => continue,
                _ => {
                    return Err(invalid(
                        "OTEL_TRACES_EXPORTER",
                        exp_value,
                        format!(
                            "unknown exporter {name:?}; use otlp, console, file, langsmith or none"
                        ),
                    ))
                }
            };
            if !exporters.contains(&e) {
                exporters.push(e);
            }
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case("none")) {
            if names.len() > 1 {
                return Err(invalid(
                    "OTEL_TRACES_EXPORTER",
                    exp_value,
                    "none cannot be combined with other exporters",
                ));
            }
            exporters.clear();
        }

        // LangSmith
        let ls_tracing = match env.first(&["LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"]) {
            Some((var, v)) => {
                parse_bool(v).ok_or_else(|| invalid(var, v, "expected true or false"))?
            }
            None => false,
        };
        let langsmith = if ls_tracing || exporters.contains(&ExporterKind::LangSmith) {
            let tracing_var = env
                .first(&["LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"])
                .map(|(v, _)| v)
                .unwrap_or("OTEL_TRACES_EXPORTER");
            let Some((_, api_key)) = env.first(&["LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"]) else {
                return Err(ConfigError::Missing {
                    var: tracing_var.to_string(),
                    needs: "LANGSMITH_API_KEY".to_string(),
                });
            };
            let endpoint = match env.first(&["LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"]) {
                Some((var, v)) => {
                    check_url(var, v)?;
                    v.trim_end_matches('/').to_string()
                }
                None => "https://api.smith.langchain.com".to_string(),
            };
            let project = env
                .first(&["LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"])
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| "default".to_string());
            if !exporters.contains(&ExporterKind::LangSmith) {
                exporters.push(ExporterKind::LangSmith);
            }
            Some(LangSmithConfig {
                api_key: api_key.to_string(),
                project,
                endpoint,
            })
        } else {
            None
        };

        // sampler: OTEL_TRACES_SAMPLER > OTEL_SAMPLING_RATIO > environment default
        let arg = env.get("OTEL_TRACES_SAMPLER_ARG");
        let ratio_arg = |env: &mut Env| -> f64 {
            match arg {
                None => 1.0,
                Some(v) => match parse_ratio("OTEL_TRACES_SAMPLER_ARG", v) {
                    Ok(r) => r,
                    Err(_) => {
                        env.warnings.push(format!(
                            "OTEL_TRACES_SAMPLER_ARG={v:?} is not a ratio from 0 to 1; using 1.0"
                        ));
                        1.0
                    }
                },
            }
        };
        let jaeger_remote = |env: &mut Env| {
            // the initial rate defaults to the environment's ratio (100% in development)
            let (c, warnings) = crate::sampling_remote::JaegerRemoteConfig::from_arg(
                arg,
                default_ratio(environment.as_deref()),
            );
            env.warnings.extend(warnings);
            c
        };
        let named = match env.get("OTEL_TRACES_SAMPLER") {
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "always_on" => Some(SamplerConfig::AlwaysOn),
                "always_off" => Some(SamplerConfig::AlwaysOff),
                "traceidratio" => Some(SamplerConfig::TraceIdRatio(ratio_arg(&mut env))),
                "parentbased_always_on" => Some(SamplerConfig::ParentBasedAlwaysOn),
                "parentbased_always_off" => Some(SamplerConfig::ParentBasedAlwaysOff),
                "parentbased_traceidratio" => Some(SamplerConfig::ParentBasedTraceIdRatio(
                    ratio_arg(&mut env),
                )),
                "jaeger_remote" => Some(SamplerConfig::JaegerRemote(jaeger_remote(&mut env))),
                "parentbased_jaeger_remote" => Some(SamplerConfig::ParentBasedJaegerRemote(
                    jaeger_remote(&mut env),
                )),
                // a known value of the specification weft does not implement: the spec says an
                // unsupported enum value is warned about and ignored
                "xray" => {
                    env.warnings.push(
                        "OTEL_TRACES_SAMPLER=xray (AWS X-Ray centralized sampling) is not supported by weft and is ignored; use jaeger_remote (served by weft serve --sampling-strategies) or parentbased_traceidratio".to_string(),
                    );
                    None
                }
                _ => {
                    return Err(invalid(
                        "OTEL_TRACES_SAMPLER",
                        v,
                        "use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, jaeger_remote or parentbased_jaeger_remote",
                    ))
                }
            },
            None => None,
        };
        let sampler = match named {
            Some(s) => s,
            None => {
                let ratio = match env.get("OTEL_SAMPLING_RATIO") {
                    Some(v) => parse_ratio("OTEL_SAMPLING_RATIO", v)?,
                    None => default_ratio(environment.as_deref()),
                };
                if ratio >= 1.0 {
                    SamplerConfig::ParentBasedAlwaysOn
                } else {
                    SamplerConfig::ParentBasedTraceIdRatio(ratio)
                }
            }
        };

        let keep = KeepConfig {
            errors: env.bool_strict("WEFT_KEEP_ERRORS")?.unwrap_or(false),
            slow: env
                .number::<u64>("WEFT_KEEP_SLOW_MS")?
                .map(Duration::from_millis),
        };

        // OTLP
        let protocol = match env.first(&[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]) {
            None => Protocol::HttpProtobuf,
            Some((var, v)) => match v.to_ascii_lowercase().as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" | "http" => Protocol::HttpProtobuf,
                "http/json" => Protocol::HttpJson,
                _ => return Err(invalid(var, v, "use grpc, http/protobuf or http/json")),
            },
        };
        let insecure = match env.bool_strict("OTEL_EXPORTER_OTLP_TRACES_INSECURE")? {
            Some(b) => b,
            None => env
                .bool_strict("OTEL_EXPORTER_OTLP_INSECURE")?
                .unwrap_or(false),
        };
        // gRPC endpoints may come without a scheme (`collector:4317`): TLS unless
        // OTEL_EXPORTER_OTLP_INSECURE says plaintext, as the specification says
        let with_scheme = |var: &str, v: &str| -> Result<String, ConfigError> {
            if protocol == Protocol::Grpc && !v.contains("://") {
                let scheme = if insecure { "http" } else { "https" };
                let url = format!("{scheme}://{v}");
                check_url(var, &url)?;
                Ok(url)
            } else {
                check_url(var, v)?;
                Ok(v.to_string())
            }
        };
        let endpoint = if let Some(v) = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            with_scheme("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v)?
        } else if let Some(v) = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let v = with_scheme("OTEL_EXPORTER_OTLP_ENDPOINT", v)?;
            match protocol {
                Protocol::Grpc => v,
                _ => format!("{}/v1/traces", v.trim_end_matches('/')),
            }
        } else {
            match protocol {
                Protocol::Grpc => "http://localhost:4317".to_string(),
                _ => "http://localhost:4318/v1/traces".to_string(),
            }
        };
        let mut headers = Vec::new();
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(v) = env.get(var) {
                for (k, val) in parse_pairs(var, v)? {
                    headers.retain(|(hk, _): &(String, String)| !hk.eq_ignore_ascii_case(&k));
                    headers.push((k, val));
                }
            }
        }
        let timeout = env
            .millis(&[
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ])?
            .unwrap_or(Duration::from_secs(10));
        let gzip = match env.first(&[
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ]) {
            None => false,
            Some((var, v)) => match v.to_ascii_lowercase().as_str() {
                "gzip" => true,
                "none" => false,
                _ => return Err(invalid(var, v, "use gzip or none")),
            },
        };
        let path = |vars: &[&'static str]| env.first(vars).map(|(_, v)| PathBuf::from(v));
        let otlp = OtlpConfig {
            endpoint,
            protocol,
            headers,
            timeout,
            gzip,
            certificate: path(&[
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
            ]),
            client_key: path(&[
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            ]),
            client_certificate: path(&[
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            ]),
            insecure,
        };
        if otlp.client_key.is_some() != otlp.client_certificate.is_some() {
            let (var, needs) = if otlp.client_key.is_some() {
                (
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                )
            } else {
                (
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                )
            };
            return Err(ConfigError::Missing {
                var: var.into(),
                needs: needs.into(),
            });
        }

        // limits
        let d = Limits::default();
        let generic_count = env.number::<u32>("OTEL_ATTRIBUTE_COUNT_LIMIT")?;
        let limits = Limits {
            attribute_value_length: match env
                .number::<usize>("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")?
            {
                Some(n) => Some(n),
                None => env.number::<usize>("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")?,
            },
            attribute_count: env
                .number("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")?
                .or(generic_count)
                .unwrap_or(d.attribute_count),
            event_count: env
                .number("OTEL_SPAN_EVENT_COUNT_LIMIT")?
                .unwrap_or(d.event_count),
            link_count: env
                .number("OTEL_SPAN_LINK_COUNT_LIMIT")?
                .unwrap_or(d.link_count),
            event_attribute_count: env
                .number("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT")?
                .or(generic_count)
                .unwrap_or(d.event_attribute_count),
            link_attribute_count: env
                .number("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT")?
                .or(generic_count)
                .unwrap_or(d.link_attribute_count),
        };

        // batching
        let bd = BatchConfig::default();
        let batch = BatchConfig {
            schedule_delay: env
                .millis(&["OTEL_BSP_SCHEDULE_DELAY"])?
                .unwrap_or(bd.schedule_delay),
            export_timeout: env
                .millis(&["OTEL_BSP_EXPORT_TIMEOUT"])?
                .unwrap_or(bd.export_timeout),
            max_queue_size: env
                .number("OTEL_BSP_MAX_QUEUE_SIZE")?
                .unwrap_or(bd.max_queue_size),
            max_export_batch_size: env
                .number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")?
                .unwrap_or(bd.max_export_batch_size),
        };
        if batch.max_queue_size == 0 {
            return Err(invalid(
                "OTEL_BSP_MAX_QUEUE_SIZE",
                "0",
                "must be at least 1",
            ));
        }
        if batch.max_export_batch_size == 0 {
            return Err(invalid(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                "0",
                "must be at least 1",
            ));
        }

        let fd = FileConfig::default();
        let file = FileConfig {
            path: env
                .get("WEFT_FILE_PATH")
                .map(PathBuf::from)
                .unwrap_or(fd.path),
            max_bytes: env.number("WEFT_FILE_MAX_BYTES")?.unwrap_or(fd.max_bytes),
            max_files: env.number("WEFT_FILE_MAX_FILES")?.unwrap_or(fd.max_files),
        };
        let shutdown_timeout = env
            .millis(&["WEFT_SHUTDOWN_TIMEOUT_MS"])?
            .unwrap_or(Duration::from_secs(5));

        let genai_capture_content = env
            .bool_strict("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")?
            .unwrap_or(false);

        Ok(Config {
            genai_capture_content,
            disabled,
            service_name,
            service_version,
            environment,
            resource_attributes,
            propagators,
            exporters,
            sampler,
            keep,
            otlp,
            limits,
            batch,
            file,
            langsmith,
            shutdown_timeout,
            warnings: env.warnings,
        })
    }

    /// Resource attributes in final form (explicit variables win over `OTEL_RESOURCE_ATTRIBUTES`).
    pub fn resource_pairs(&self) -> Vec<(String, String)> {
        let mut m: BTreeMap<String, String> = self.resource_attributes.iter().cloned().collect();
        if let Some(v) = &self.service_name {
            m.insert("service.name".into(), v.clone());
        }
        if let Some(v) = &self.service_version {
            m.insert("service.version".into(), v.clone());
        }
        if let Some(v) = &self.environment {
            m.insert("deployment.environment.name".into(), v.clone());
        }
        m.into_iter().collect()
    }
}

/// 100 % in development (and when unset), 10 % in production.
pub fn default_ratio(environment: Option<&str>) -> f64 {
    match environment.map(|e| e.to_ascii_lowercase()) {
        Some(e) if e == "production" || e == "prod" => 0.1,
        _ => 1.0,
    }
}
