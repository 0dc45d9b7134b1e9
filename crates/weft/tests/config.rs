//! Environment parsing: table-driven, bad values included.

mod common;
use common::env;
use std::time::Duration;
use weft::config::*;

#[test]
fn defaults() {
    let c = Config::from_env_map(&env(&[])).unwrap();
    assert!(!c.disabled);
    assert_eq!(c.exporters, vec![ExporterKind::Otlp]);
    assert_eq!(
        c.propagators,
        vec![PropagatorKind::TraceContext, PropagatorKind::Baggage]
    );
    assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(c.otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(c.otlp.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(c.otlp.timeout, Duration::from_secs(10));
    assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
    assert!(c.langsmith.is_none());
    assert!(c.warnings.is_empty());
}

#[test]
fn good_values() {
    type Check = fn(&Config);
    let table: Vec<(&[(&str, &str)], Check)> = vec![
        (&[("OTEL_SDK_DISABLED", "true")], |c| assert!(c.disabled)),
        (&[("OTEL_SDK_DISABLED", "TRUE")], |c| assert!(c.disabled)),
        (&[("OTEL_ENABLED", "false")], |c| assert!(c.disabled)),
        (&[("OTEL_ENABLED", "1")], |c| assert!(!c.disabled)),
        (&[("OTEL_SERVICE_NAME", "api")], |c| {
            assert_eq!(c.service_name.as_deref(), Some("api"))
        }),
        (
            &[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,team=a%20b",
            )],
            |c| {
                assert_eq!(c.service_name.as_deref(), Some("from-attrs"));
                assert!(c.resource_pairs().contains(&("team".into(), "a b".into())));
            },
        ),
        (
            &[
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=x"),
                ("OTEL_SERVICE_NAME", "y"),
            ],
            |c| assert_eq!(c.service_name.as_deref(), Some("y")),
        ),
        (&[("OTEL_SERVICE_VERSION", "1.11")], |c| {
            assert!(c
                .resource_pairs()
                .contains(&("service.version".into(), "1.11".into())))
        }),
        (&[("OTEL_ENVIRONMENT", "production")], |c| {
            assert_eq!(c.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.1));
            assert!(c
                .resource_pairs()
                .contains(&("deployment.environment.name".into(), "production".into())));
        }),
        (&[("OTEL_ENVIRONMENT", "development")], |c| {
            assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn)
        }),
        (
            &[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=production",
            )],
            |c| assert_eq!(c.sampler.root_ratio(), 0.1),
        ),
        (
            &[
                ("OTEL_ENVIRONMENT", "production"),
                ("OTEL_SAMPLING_RATIO", "0.5"),
            ],
            |c| assert_eq!(c.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.5)),
        ),
        (
            &[
                ("OTEL_SAMPLING_RATIO", "0.5"),
                ("OTEL_TRACES_SAMPLER", "always_off"),
            ],
            |c| assert_eq!(c.sampler, SamplerConfig::AlwaysOff),
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            |c| assert_eq!(c.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.25)),
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ],
            |c| {
                assert_eq!(c.sampler, SamplerConfig::TraceIdRatio(1.0));
                assert!(c.warnings[0].contains("OTEL_TRACES_SAMPLER_ARG"));
            },
        ),
        (&[("OTEL_PROPAGATORS", "b3,tracecontext,b3")], |c| {
            assert_eq!(
                c.propagators,
                vec![PropagatorKind::B3, PropagatorKind::TraceContext]
            )
        }),
        (&[("OTEL_PROPAGATORS", "none")], |c| {
            assert!(c.propagators.is_empty())
        }),
        (&[("OTEL_PROPAGATORS", "tracecontext,xray")], |c| {
            assert_eq!(c.propagators, vec![PropagatorKind::TraceContext]);
            assert!(c.warnings[0].contains("OTEL_PROPAGATORS"));
        }),
        (&[("OTEL_TRACES_EXPORTER", "console, file,otlp")], |c| {
            assert_eq!(
                c.exporters,
                vec![
                    ExporterKind::Console,
                    ExporterKind::File,
                    ExporterKind::Otlp
                ]
            )
        }),
        (&[("OTEL_TRACES_EXPORTER", "none")], |c| {
            assert!(c.exporters.is_empty())
        }),
        (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], |c| {
            assert_eq!(c.otlp.protocol, Protocol::Grpc);
            assert_eq!(c.otlp.endpoint, "http://localhost:4317");
        }),
        (
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ],
            |c| assert_eq!(c.otlp.endpoint, "https://collector:4317"),
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ],
            |c| {
                assert_eq!(c.otlp.endpoint, "http://collector:4317");
                assert!(c.otlp.insecure);
            },
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
                ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"),
            ],
            // an explicit scheme wins over INSECURE
            |c| assert_eq!(c.otlp.endpoint, "https://collector:4317"),
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
            ],
            |c| {
                assert_eq!(c.otlp.protocol, Protocol::HttpJson);
                assert_eq!(c.otlp.endpoint, "http://c:4318/v1/traces");
            },
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ],
            |c| {
                assert_eq!(c.otlp.endpoint, "http://t:1/custom");
                assert_eq!(c.otlp.protocol, Protocol::HttpProtobuf);
            },
        ),
        (
            &[
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "Authorization=Basic%20abc,x-a=1",
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-a=2"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ],
            |c| {
                assert_eq!(
                    c.otlp.headers,
                    vec![
                        ("Authorization".into(), "Basic abc".into()),
                        ("x-a".into(), "2".into())
                    ]
                );
                assert_eq!(c.otlp.timeout, Duration::from_millis(2500));
                assert!(c.otlp.gzip);
            },
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"),
                ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/c.pem"),
            ],
            |c| {
                assert_eq!(
                    c.otlp.certificate.as_deref(),
                    Some(std::path::Path::new("/ca.pem"))
                );
                assert!(c.otlp.client_key.is_some() && c.otlp.client_certificate.is_some());
            },
        ),
        (
            &[
                ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
                ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
                ("OTEL_SPAN_EVENT_COUNT_LIMIT", "5"),
            ],
            |c| {
                assert_eq!(c.limits.attribute_value_length, Some(64));
                assert_eq!(c.limits.attribute_count, 10);
                assert_eq!(c.limits.event_count, 5);
            },
        ),
        (
            &[
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
            ],
            |c| {
                assert_eq!(c.batch.schedule_delay, Duration::from_millis(100));
                assert_eq!(c.batch.max_queue_size, 10);
            },
        ),
        (
            &[
                ("LANGCHAIN_TRACING_V2", "true"),
                ("LANGCHAIN_API_KEY", "k"),
                ("LANGCHAIN_PROJECT", "p"),
            ],
            |c| {
                let ls = c.langsmith.as_ref().unwrap();
                assert_eq!((ls.api_key.as_str(), ls.project.as_str()), ("k", "p"));
                assert_eq!(ls.endpoint, "https://api.smith.langchain.com");
                assert!(c.exporters.contains(&ExporterKind::LangSmith));
            },
        ),
        (
            &[
                ("LANGSMITH_TRACING", "true"),
                ("LANGSMITH_API_KEY", "new"),
                ("LANGCHAIN_API_KEY", "old"),
                ("LANGSMITH_ENDPOINT", "http://127.0.0.1:9/"),
            ],
            |c| {
                let ls = c.langsmith.as_ref().unwrap();
                assert_eq!(ls.api_key, "new");
                assert_eq!(ls.project, "default");
                assert_eq!(ls.endpoint, "http://127.0.0.1:9");
            },
        ),
        (
            &[("LANGSMITH_TRACING", "false"), ("LANGSMITH_API_KEY", "k")],
            |c| assert!(c.langsmith.is_none()),
        ),
        (
            &[("WEFT_KEEP_ERRORS", "true"), ("WEFT_KEEP_SLOW_MS", "250")],
            |c| {
                assert!(c.keep.errors);
                assert_eq!(c.keep.slow, Some(Duration::from_millis(250)));
            },
        ),
        (&[("OTEL_SERVICE_NAME", "  ")], |c| {
            assert_eq!(c.service_name, None)
        }),
    ];
    for (vars, check) in table {
        let c = Config::from_env_map(&env(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
        check(&c);
    }
}

#[test]
fn bad_values_name_the_variable() {
    let table: &[(&[(&str, &str)], &str)] = &[
        (&[("OTEL_ENABLED", "maybe")], "OTEL_ENABLED"),
        (&[("OTEL_SAMPLING_RATIO", "1.5")], "OTEL_SAMPLING_RATIO"),
        (&[("OTEL_SAMPLING_RATIO", "ten")], "OTEL_SAMPLING_RATIO"),
        (
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            &[("OTEL_TRACES_EXPORTER", "jaeger")],
            "OTEL_TRACES_EXPORTER",
        ),
        (
            &[("OTEL_TRACES_EXPORTER", "none,otlp")],
            "OTEL_TRACES_EXPORTER",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp")],
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
        (
            // without a scheme only gRPC endpoints are accepted (http/protobuf is the default)
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "maybe"),
            ],
            "OTEL_EXPORTER_OTLP_INSECURE",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem")],
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_INSECURE", "perhaps")],
            "OTEL_EXPORTER_OTLP_INSECURE",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "=x")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1")],
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ),
        (
            &[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "lots")],
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        ),
        (
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
            "OTEL_BSP_MAX_QUEUE_SIZE",
        ),
        (
            &[("OTEL_BSP_SCHEDULE_DELAY", "soon")],
            "OTEL_BSP_SCHEDULE_DELAY",
        ),
        (&[("LANGSMITH_TRACING", "yes please")], "LANGSMITH_TRACING"),
        (&[("LANGCHAIN_TRACING_V2", "true")], "LANGCHAIN_TRACING_V2"),
        (
            &[("OTEL_TRACES_EXPORTER", "langsmith")],
            "LANGSMITH_API_KEY",
        ),
        (
            &[
                ("LANGSMITH_TRACING", "true"),
                ("LANGSMITH_API_KEY", "k"),
                ("LANGSMITH_ENDPOINT", "smith"),
            ],
            "LANGSMITH_ENDPOINT",
        ),
        (&[("WEFT_KEEP_SLOW_MS", "fast")], "WEFT_KEEP_SLOW_MS"),
        (
            &[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "sure")],
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        ),
    ];
    for (vars, var) in table {
        match Config::from_env_map(&env(vars)) {
            Ok(c) => panic!("{vars:?} should fail, got {c:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(var), "{vars:?}: {msg:?} does not name {var}");
                assert!(
                    msg.chars().next().unwrap().is_lowercase()
                        || msg.starts_with("OTEL")
                        || msg.starts_with("LANG")
                        || msg.starts_with("WEFT"),
                    "{msg}"
                );
            }
        }
    }
}

#[test]
fn spec_boolean_warns_instead_of_failing() {
    let c = Config::from_env_map(&env(&[("OTEL_SDK_DISABLED", "yes")])).unwrap();
    assert!(!c.disabled);
    assert!(c.warnings[0].contains("OTEL_SDK_DISABLED"));
}

#[test]
fn every_variable_is_documented_in_the_readme() {
    let readme = include_str!("../README.md");
    for var in VARIABLES {
        assert!(readme.contains(var), "README.md does not document {var}");
    }
}
