//! Propagation over HTTP: the axum layer and the reqwest middleware, and the LangSmith
//! exporter against a strict fake.

mod common;
use common::*;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use opentelemetry::trace::Status;
use parking_lot::Mutex;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use weft::http_server::WeftLayer;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    tokio::spawn(async move { server.await });
    addr
}

fn str_attr(s: &opentelemetry_sdk::trace::SpanData, k: &str) -> String {
    attr(s, k)
        .map(|v| v.as_str().to_string())
        .unwrap_or_else(|| panic!("{} has no {k}: {:?}", s.name, s.attributes))
}

#[tokio::test(flavor = "current_thread")]
async fn client_and_server_spans_form_one_trace() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(guard.layer()));

    let app = Router::new()
        .route(
            "/items/{id}",
            get(|| async {
                // a handler's own tracing span nests under the server span
                tracing::info_span!("load item").in_scope(|| "ok")
            }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        )
        .route("/health", get(|| async { "up" }))
        .layer(WeftLayer::new().traceparent_in_response(true));
    let addr = serve(app).await;
    let client = weft::http_client::client(reqwest::Client::new());

    let resp = client
        .get(format!("http://{addr}/items/42"))
        .header("x-request-id", "req-abc")
        .header("user-agent", "weft-test/1")
        .send()
        .instrument(tracing::info_span!("caller"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-abc");
    let tp = resp.headers()["traceparent"].to_str().unwrap().to_string();

    let resp = client
        .get(format!("http://{addr}/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32);
    assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));

    client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    drop(_sub);
    drop(guard);

    let spans = mem.spans();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name} in {:?}", mem.names()))
    };
    let caller = find("caller");
    let server = find("GET /items/{id}");
    let client_span = spans
        .iter()
        .find(|s| s.name == "GET" && s.parent_span_id == caller.span_context.span_id())
        .expect("client span under caller");
    let tid = caller.span_context.trace_id();
    assert_eq!(client_span.span_context.trace_id(), tid);
    assert_eq!(server.span_context.trace_id(), tid);
    assert_eq!(server.parent_span_id, client_span.span_context.span_id());
    assert!(server.parent_span_is_remote);
    assert_eq!(server.span_kind, opentelemetry::trace::SpanKind::Server);
    assert_eq!(
        client_span.span_kind,
        opentelemetry::trace::SpanKind::Client
    );
    assert!(tp.contains(&tid.to_string()), "{tp}");

    assert_eq!(str_attr(server, "http.request.method"), "GET");
    assert_eq!(str_attr(server, "url.path"), "/items/42");
    assert_eq!(str_attr(server, "http.route"), "/items/{id}");
    assert_eq!(str_attr(server, "user_agent.original"), "weft-test/1");
    assert_eq!(str_attr(server, "client.address"), "127.0.0.1");
    assert_eq!(
        str_attr(server, "http.request.header.x-request-id"),
        "req-abc"
    );
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(&opentelemetry::Value::I64(200))
    );
    assert_eq!(
        attr(client_span, "http.response.status_code"),
        Some(&opentelemetry::Value::I64(200))
    );
    assert_eq!(
        str_attr(client_span, "url.full"),
        format!("http://{addr}/items/42")
    );

    let handler = find("load item");
    assert_eq!(handler.parent_span_id, server.span_context.span_id());
    assert_eq!(handler.span_context.trace_id(), tid);

    let failed = find("GET /fail");
    assert!(
        matches!(failed.status, Status::Error { .. }),
        "{:?}",
        failed.status
    );
    assert_eq!(
        str_attr(failed, "http.request.header.x-request-id"),
        generated
    );
    assert!(
        !mem.names().iter().any(|n| n.contains("/health")),
        "{:?}",
        mem.names()
    );
}

/// Every method and route gets its own span name (the layer interns them), methods outside
/// the standard set keep their own name, and a request dropped before its response (a
/// timeout, a client gone) still ends its span, marked as cancelled.
#[tokio::test(flavor = "current_thread")]
async fn span_names_per_method_and_route_and_cancelled_requests() {
    use tower::ServiceExt;
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let app = Router::new()
        .route(
            "/orders/{id}",
            get(|| async { "got" })
                .post(|| async { "posted" })
                .fallback(|| async { "other" }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(WeftLayer::new().tracer_provider(guard.tracer_provider()));
    let call = |method: &str, path: &str| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    for (method, path) in [
        ("GET", "/orders/1"),
        ("POST", "/orders/2"),
        ("GET", "/orders/3"),
        ("PURGE", "/orders/4"),
    ] {
        let resp = app.clone().oneshot(call(method, path)).await.unwrap();
        assert_eq!(resp.status(), 200, "{method} {path}");
        assert!(resp.headers().contains_key("x-request-id"));
    }
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        app.clone().oneshot(call("GET", "/slow")),
    )
    .await;
    assert!(cut.is_err(), "the slow handler should not have answered");
    drop(guard);

    let spans = mem.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "GET /orders/{id}",
            "POST /orders/{id}",
            "GET /orders/{id}",
            "PURGE /orders/{id}",
            "GET /slow"
        ]
    );
    let purge = &spans[3];
    assert_eq!(str_attr(purge, "http.request.method"), "_OTHER");
    assert_eq!(str_attr(purge, "http.request.method_original"), "PURGE");
    assert_eq!(str_attr(&spans[1], "http.route"), "/orders/{id}");
    assert_eq!(str_attr(&spans[1], "url.path"), "/orders/2");
    let slow = &spans[4];
    assert_eq!(str_attr(slow, "error.type"), "cancelled");
    assert!(
        matches!(slow.status, Status::Error { .. }),
        "{:?}",
        slow.status
    );
    assert!(attr(slow, "http.response.status_code").is_none());
    // request ids are generated per request
    let ids: std::collections::HashSet<String> = spans
        .iter()
        .map(|s| str_attr(s, "http.request.header.x-request-id"))
        .collect();
    assert_eq!(ids.len(), spans.len());
}

/// With head sampling off and errors kept, a request that fails is exported whole from its
/// record-only span (what the response adds is set on any span that records, not only on
/// sampled ones), and a request that succeeds is not exported at all.
#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_request_that_fails_is_kept_with_everything_the_layer_records() {
    use tower::ServiceExt;
    let mem = Memory::default();
    let guard = builder(&mem, &[])
        .sampler(weft::SamplerConfig::AlwaysOff)
        .keep_errors(true)
        .init()
        .unwrap();
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/broken/{id}",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        .layer(WeftLayer::new().tracer_provider(guard.tracer_provider()));
    let mut ids = Vec::new();
    for (path, given) in [
        ("/ok", None),
        ("/broken/1", None),
        ("/broken/2", Some("given-3")),
    ] {
        let mut r = http::Request::get(path);
        if let Some(id) = given {
            r = r.header("x-request-id", id);
        }
        let resp = app
            .clone()
            .oneshot(r.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        ids.push(resp.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    assert_eq!(ids[2], "given-3");
    drop(guard);

    let spans = mem.spans();
    assert_eq!(mem.names(), ["GET /broken/{id}", "GET /broken/{id}"]);
    for (s, id) in spans.iter().zip(&ids[1..]) {
        assert!(
            s.span_context.is_sampled(),
            "kept spans are exported as sampled"
        );
        assert_eq!(str_attr(s, "weft.sampling.kept"), "error");
        assert_eq!(&str_attr(s, "http.request.header.x-request-id"), id);
        assert_eq!(str_attr(s, "error.type"), "503");
        assert_eq!(
            attr(s, "http.response.status_code").map(|v| v.to_string()),
            Some("503".to_string())
        );
        assert!(matches!(s.status, Status::Error { .. }), "{:?}", s.status);
    }
}

/// One layered service mounted on two routes (its clones share what the layer caches per
/// service), and the request headers the layer reads, whether the request has a few headers
/// (read in one pass) or many (looked up).
#[tokio::test(flavor = "current_thread")]
async fn one_service_on_many_routes_and_the_headers_it_reads() {
    use tower::{Layer, ServiceExt};
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    // the handler echoes the request id it sees in its own request headers
    let echo = tower::service_fn(|req: http::Request<axum::body::Body>| async move {
        let id = req.headers()["x-request-id"].to_str().unwrap().to_string();
        Ok::<_, std::convert::Infallible>(id.into_response())
    });
    let layered = WeftLayer::new()
        .tracer_provider(guard.tracer_provider())
        .layer(echo);
    let app = Router::new()
        .route_service("/a", layered.clone())
        .route_service("/b/{id}", layered);
    let call = |path: &str, headers: &[(&str, &str)]| {
        let mut r = http::Request::get(path);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(axum::body::Body::empty()).unwrap()
    };
    let many: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-filler-{i}"), i.to_string()))
        .collect();
    let mut requests: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/a", vec![("user-agent", "ua-1")]),
        (
            "/b/7",
            vec![
                ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
                ("x-forwarded-for", "198.51.100.1"),
                ("user-agent", "ua-2"),
                ("x-request-id", "given-1"),
            ],
        ),
        ("/a", vec![]),
    ];
    // past the one-pass limit: the same answers from lookups
    let mut big: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    big.extend([
        ("user-agent", "ua-3"),
        ("x-forwarded-for", "192.0.2.4"),
        ("x-request-id", "given-2"),
    ]);
    requests.push(("/b/8", big));
    let mut echoed = Vec::new();
    for (path, headers) in &requests {
        let resp = app.clone().oneshot(call(path, headers)).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        // a response of this test's own handler, capped; weft_ingest's helper is not a
        // dependency of weft
        #[allow(clippy::disallowed_methods)]
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(
            body,
            id.as_bytes(),
            "the handler saw the id the response echoes"
        );
        echoed.push(id);
    }
    drop(guard);

    let spans = mem.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["GET /a", "GET /b/{id}", "GET /a", "GET /b/{id}"]);
    let ids: Vec<String> = spans
        .iter()
        .map(|s| str_attr(s, "http.request.header.x-request-id"))
        .collect();
    assert_eq!(ids, echoed);
    assert_eq!(ids[1], "given-1");
    assert_eq!(ids[3], "given-2");
    assert_eq!(ids[0].len(), 32);
    assert_ne!(ids[0], ids[2]);
    assert_eq!(str_attr(&spans[0], "user_agent.original"), "ua-1");
    assert!(attr(&spans[2], "user_agent.original").is_none());
    assert_eq!(str_attr(&spans[1], "user_agent.original"), "ua-2");
    assert_eq!(str_attr(&spans[3], "user_agent.original"), "ua-3");
    // the first address of the first X-Forwarded-For
    assert_eq!(str_attr(&spans[1], "client.address"), "203.0.113.9");
    assert_eq!(str_attr(&spans[3], "client.address"), "192.0.2.4");
    assert!(attr(&spans[0], "client.address").is_none());
    assert_eq!(str_attr(&spans[1], "http.route"), "/b/{id}");
    assert_eq!(str_attr(&spans[1], "url.path"), "/b/7");
    assert_eq!(str_attr(&spans[2], "url.path"), "/a");
}

/// The layer interns user agents and client addresses (a server sees the same few over and
/// over) up to a bound per kind. Past the bound (more distinct values than it keeps, or a
/// value longer than it keeps) each request's own value is still the one recorded. The same
/// holds for peer addresses axum reports, interned by address.
#[tokio::test(flavor = "current_thread")]
async fn user_agents_and_addresses_past_the_interning_bounds_are_recorded_exactly() {
    use tower::ServiceExt;
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let app = Router::new()
        .route("/a", get(|| async { "ok" }))
        .layer(WeftLayer::new().tracer_provider(guard.tracer_provider()));
    // more distinct values than either bound keeps (1,024 agents, 4,096 addresses), each
    // seen twice, some too long to keep
    let n = 4_500usize;
    let mut expected = Vec::new();
    for round in 0..2 {
        for i in 0..n {
            let agent = if i % 500 == 0 {
                format!("long-{i}-{}", "x".repeat(300))
            } else {
                format!("agent-{i}")
            };
            // every request has a peer; all but every 7th also came through a proxy, whose
            // X-Forwarded-For is what the layer records then
            let peer = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5000));
            let forwarded = format!("198.{}.{}.{}", (i >> 16) as u8, (i >> 8) as u8, i as u8);
            let mut req = http::Request::get("/a").header("user-agent", &agent);
            let address = if i % 7 == 0 {
                peer.ip().to_string()
            } else {
                req = req.header("x-forwarded-for", format!("{forwarded}, 10.0.0.1"));
                forwarded
            };
            let mut req = req.body(axum::body::Body::empty()).unwrap();
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 200, "round {round}");
            expected.push((agent, address));
        }
    }
    drop(guard);
    let spans = mem.spans();
    assert_eq!(spans.len(), expected.len());
    for (span, (agent, address)) in spans.iter().zip(&expected) {
        assert_eq!(&str_attr(span, "user_agent.original"), agent);
        assert_eq!(&str_attr(span, "client.address"), address);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn spawn_and_queue_helpers_carry_the_context() {
    let mem = Memory::default();
    let guard = builder(&mem, &[]).init().unwrap();
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(guard.layer()));

    let root = tracing::info_span!("root");
    let headers = async {
        weft::spawn(async { tracing::info_span!("in-task").in_scope(|| ()) })
            .await
            .unwrap();
        let producer = weft::messaging::producer_span("kafka", "orders");
        let mut headers = std::collections::HashMap::new();
        weft::messaging::inject(&producer, &mut headers);
        drop(producer);
        headers
    }
    .instrument(root)
    .await;
    assert!(headers.contains_key("traceparent"));
    // the consumer side, with no span around it
    weft::messaging::consumer_span("kafka", "orders", &headers).in_scope(|| ());
    drop(_sub);
    drop(guard);

    let spans = mem.spans();
    let get = |n: &str| {
        spans
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("{n}: {:?}", mem.names()))
    };
    let root = get("root");
    let task = get("in-task");
    let send = get("send orders");
    let process = get("process orders");
    assert_eq!(task.parent_span_id, root.span_context.span_id());
    assert_eq!(send.parent_span_id, root.span_context.span_id());
    assert_eq!(process.parent_span_id, send.span_context.span_id());
    assert_eq!(
        process.span_context.trace_id(),
        root.span_context.trace_id()
    );
    assert_eq!(send.span_kind, opentelemetry::trace::SpanKind::Producer);
    assert_eq!(process.span_kind, opentelemetry::trace::SpanKind::Consumer);
    assert_eq!(str_attr(process, "messaging.system"), "kafka");
}

#[derive(Default)]
struct FakeLangSmith {
    violations: Vec<String>,
    requests: Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langsmith_exporter_speaks_its_otlp_endpoint() {
    use prost::Message;
    let state = Arc::new(Mutex::new(FakeLangSmith::default()));
    let st = state.clone();
    let app = Router::new().fallback(move |req: axum::extract::Request| {
        let st = st.clone();
        async move {
            let (parts, body) = req.into_parts();
            // a test fake, capped at 1 MiB; weft_ingest's helper is not a dependency of weft
            #[allow(clippy::disallowed_methods)]
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let mut v = Vec::new();
            if parts.method != http::Method::POST {
                v.push(format!("method {}", parts.method));
            }
            if parts.uri.path() != "/otel/v1/traces" {
                v.push(format!("path {}", parts.uri.path()));
            }
            let h = |n: &str| parts.headers.get(n).and_then(|x| x.to_str().ok()).unwrap_or("").to_string();
            if h("content-type") != "application/x-protobuf" {
                v.push(format!("content-type {:?}", h("content-type")));
            }
            if h("x-api-key") != "lsv2_pt_test" {
                v.push(format!("x-api-key {:?}", h("x-api-key")));
            }
            if h("langsmith-project") != "weft-tests" {
                v.push(format!("langsmith-project {:?}", h("langsmith-project")));
            }
            let mut s = st.lock();
            match opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body) {
                Ok(req) => {
                    for rs in &req.resource_spans {
                        for ss in &rs.scope_spans {
                            for sp in &ss.spans {
                                if sp.trace_id.len() != 16 || sp.span_id.len() != 8 {
                                    v.push("bad ids".into());
                                }
                                if sp.end_time_unix_nano < sp.start_time_unix_nano {
                                    v.push("end before start".into());
                                }
                            }
                        }
                    }
                    s.requests.push(req);
                }
                Err(e) => v.push(format!("body is not an ExportTraceServiceRequest: {e}")),
            }
            let ok = v.is_empty();
            s.violations.extend(v);
            if ok {
                (StatusCode::OK, axum::body::Bytes::new())
            } else {
                (StatusCode::BAD_REQUEST, axum::body::Bytes::new())
            }
        }
    });
    let addr = serve(app).await;

    let guard = weft::builder()
        .env(env(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("LANGSMITH_TRACING", "true"),
            ("LANGSMITH_API_KEY", "lsv2_pt_test"),
            ("LANGSMITH_PROJECT", "weft-tests"),
            ("LANGSMITH_ENDPOINT", &format!("http://{addr}")),
            ("OTEL_SERVICE_NAME", "agent"),
        ]))
        .install_subscriber(false)
        .set_global(false)
        .init()
        .unwrap();
    let stats = guard.stats_handle();
    {
        let sub = tracing_subscriber::registry().with(guard.layer());
        tracing::subscriber::with_default(sub, || {
            weft::genai::set_capture_content(true);
            let span = weft::genai::model_span("openai", "chat", "gpt-4o");
            weft::genai::record_input(&span, r#"[{"role":"user","content":"hi"}]"#);
            weft::genai::record_output(&span, r#"[{"role":"assistant","content":"hello"}]"#);
            weft::genai::record_response(&span, "gpt-4o-2024-08-06", 10, 5);
            span.in_scope(|| ());
        });
    }
    drop(guard);
    let s = state.lock();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert_eq!(stats.snapshot().exported, 1);
    let req = &s.requests[0];
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "chat gpt-4o");
    assert_eq!(span.kind, 3, "client kind");
    let get = |k: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    assert_eq!(get("gen_ai.provider.name"), V::StringValue("openai".into()));
    assert_eq!(get("gen_ai.operation.name"), V::StringValue("chat".into()));
    assert_eq!(get("gen_ai.usage.input_tokens"), V::IntValue(10));
    assert_eq!(get("gen_ai.usage.output_tokens"), V::IntValue(5));
    assert!(matches!(get("gen_ai.input.messages"), V::StringValue(m) if m.contains("hi")));
    assert!(
        matches!(get("weft.gen_ai.cost_usd"), V::DoubleValue(c) if (c - 0.000075).abs() < 1e-12)
    );
    let svc = req.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .unwrap();
    assert_eq!(
        svc.value.clone().unwrap().value.unwrap(),
        V::StringValue("agent".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_retries_after_429_honouring_retry_after() {
    let hits: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let h = hits.clone();
    let app = Router::new().route(
        "/v1/traces",
        axum::routing::post(move || {
            let h = h.clone();
            async move {
                let mut h = h.lock();
                h.push(std::time::Instant::now());
                if h.len() == 1 {
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response()
                } else {
                    (StatusCode::OK, [("content-type", "application/x-protobuf")]).into_response()
                }
            }
        }),
    );
    let addr = serve(app).await;
    let guard = weft::builder()
        .env(env(&[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}")),
        ]))
        .install_subscriber(false)
        .set_global(false)
        .init()
        .unwrap();
    let stats = guard.stats_handle();
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    guard.tracer_provider().tracer("t").start("retried").end();
    drop(guard);
    let hits = hits.lock();
    assert_eq!(hits.len(), 2, "one 429, then one success");
    let gap = hits[1] - hits[0];
    assert!(
        gap >= std::time::Duration::from_millis(900),
        "retried after {gap:?}, before Retry-After"
    );
    assert_eq!(stats.snapshot().exported, 1);
}
