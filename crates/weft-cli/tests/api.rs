//! The query API and the receivers, against the real `weft serve` binary over real sockets.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use serde_json::Value;
use std::path::Path;
use weft_testkit::{
    fetch_trace, get_json, gzip, hex, metric, normalized, random_trace_id, sample_trace, Server,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    ctype: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("POST")
}

async fn post_gzip(
    client: &reqwest::Client,
    url: &str,
    ctype: &str,
    body: &[u8],
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", ctype)
        .header("content-encoding", "gzip")
        .body(gzip(body))
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn protobuf_over_http_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let tid = random_trace_id();
    let req = sample_trace("checkout", &tid);
    let r = post(
        &client,
        &server.otlp_http_url(),
        "application/x-protobuf",
        req.encode_to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let resp = weft_proto::ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(resp.partial_success, None);

    let got = fetch_trace(&client, &server, &hex(&tid))
        .await
        .expect("stored");
    let (sent, _) = weft_proto::otlp::batch_from_request(req);
    assert_eq!(normalized(&got), normalized(&sent));
    // the answer is exactly OTLP/JSON: lowercase hex ids, 64-bit integers as strings
    let raw: Value = client
        .get(server.api(&format!("/api/v1/traces/{}", hex(&tid))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let span = &raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], hex(&tid));
    assert!(span["startTimeUnixNano"].is_string(), "{span}");
}

#[tokio::test]
async fn json_and_protobuf_are_stored_identically() {
    let tid = random_trace_id();
    let req = sample_trace("checkout", &tid);
    let (model, _) = weft_proto::otlp::batch_from_request(req.clone());
    let json = weft_proto::json::encode_traces_data(&model);
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    for (ctype, body) in [
        ("application/x-protobuf", req.encode_to_vec()),
        ("application/json", json),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(bin(), dir.path(), &[]);
        let r = post(&client, &server.otlp_http_url(), ctype, body).await;
        assert_eq!(r.status(), 200, "{ctype}");
        assert_eq!(r.headers()["content-type"], ctype);
        results.push(normalized(
            &fetch_trace(&client, &server, &hex(&tid)).await.unwrap(),
        ));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], normalized(&model));
}

#[tokio::test]
async fn grpc_export_with_gzip_and_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let mut c = TraceServiceClient::connect(server.otlp_grpc_url())
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let tid = random_trace_id();
    let mut req = sample_trace("payments", &tid);
    // one span with an all-zero span id: rejected, the others kept
    req.resource_spans[0].scope_spans[0].spans[2].span_id = vec![0; 8];
    let resp = c.export(req.clone()).await.expect("export").into_inner();
    let ps = resp.partial_success.expect("partial success");
    assert_eq!(ps.rejected_spans, 1);
    assert!(ps.error_message.contains("spanId"), "{}", ps.error_message);
    let client = reqwest::Client::new();
    let got = fetch_trace(&client, &server, &hex(&tid))
        .await
        .expect("stored");
    assert_eq!(got.span_count(), 2);
}

#[tokio::test]
async fn search_services_operations_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for svc in ["checkout", "checkout", "payments"] {
        let tid = random_trace_id();
        let body = sample_trace(svc, &tid).encode_to_vec();
        let r = if svc == "payments" {
            post_gzip(
                &client,
                &server.otlp_http_url(),
                "application/x-protobuf",
                &body,
            )
            .await
        } else {
            post(
                &client,
                &server.otlp_http_url(),
                "application/x-protobuf",
                body,
            )
            .await
        };
        assert_eq!(r.status(), 200);
        ids.push(hex(&tid));
    }
    let search = |q: &str| {
        let url = server.api(&format!("/api/v1/search?{q}"));
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let ids_of = |v: &Value| -> Vec<String> {
        v["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceId"].as_str().unwrap().to_string())
            .collect()
    };

    let (s, v) = search("service=checkout").await;
    assert_eq!(s, 200);
    let mut got = ids_of(&v);
    got.sort();
    let mut want = vec![ids[0].clone(), ids[1].clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(v["truncated"], false);
    let t = &v["traces"][0];
    assert_eq!(t["rootServiceName"], "checkout");
    assert_eq!(t["rootSpanName"], "GET /orders/{id}");
    assert_eq!(t["spanCount"], 3);
    assert_eq!(t["errorCount"], 1);
    assert_eq!(t["durationNanos"], "50000000");

    // no service needed; limit truncates; newest first
    let (_, v) = search("limit=2").await;
    assert_eq!(ids_of(&v).len(), 2);
    assert_eq!(v["truncated"], true);
    let starts: Vec<u64> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["startTimeUnixNano"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(starts[0] >= starts[1]);

    // span-level conditions: name, attribute (typed value compared as text), duration, status
    assert_eq!(
        ids_of(
            &search("service=payments&name=SELECT%20orders&status=error")
                .await
                .1
        ),
        vec![ids[2].clone()]
    );
    assert_eq!(
        ids_of(
            &search("attr=int=-9007199254740993&service=payments")
                .await
                .1
        ),
        vec![ids[2].clone()]
    );
    assert_eq!(ids_of(&search("attr=host.name=box-1").await.1).len(), 3); // resource attribute
    assert_eq!(ids_of(&search("minDuration=45ms").await.1).len(), 3);
    assert_eq!(ids_of(&search("minDuration=51ms").await.1).len(), 0);
    assert_eq!(
        ids_of(
            &search("service=payments&name=lock%20wait&status=error")
                .await
                .1
        )
        .len(),
        0
    );

    let (s, v) = search("minDuration=fast").await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("minDuration"), "{v}");

    let v: Value = get_json(&client, &server, "/api/v1/services").await;
    assert_eq!(v["services"], serde_json::json!(["checkout", "payments"]));
    let v: Value = get_json(&client, &server, "/api/v1/services/payments/operations").await;
    let names: Vec<&str> = v["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"SELECT orders") && names.contains(&"GET /orders/{id}"),
        "{v}"
    );

    let r = client
        .get(server.api(&format!("/api/v1/traces/{}", "ab".repeat(16))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("not found"));
    let r = client
        .get(server.api("/api/v1/traces/xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        client
            .get(server.api("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(server.api("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        metric(&client, &server, "weft_receiver_accepted_spans_total").await,
        9.0
    );
}

#[tokio::test]
async fn cli_trace_and_search_print_what_the_api_holds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let tid = random_trace_id();
    post(
        &client,
        &server.otlp_http_url(),
        "application/x-protobuf",
        sample_trace("checkout", &tid).encode_to_vec(),
    )
    .await;
    let api = format!("http://{}", server.http);
    let out = std::process::Command::new(bin())
        .args(["trace", &hex(&tid), "--server", &api])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains(&hex(&tid)) && lines[0].contains("3 spans"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("checkout GET /orders/{id}  50ms"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("  checkout SELECT orders  20ms")
            && lines[2].contains("ERROR: deadlock detected"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("    checkout lock wait  18ms"),
        "{text}"
    );

    let out = std::process::Command::new(bin())
        .args([
            "search",
            "--service",
            "checkout",
            "--status",
            "error",
            "--server",
            &api,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&hex(&tid)) && text.contains("checkout: GET /orders/{id}"),
        "{text}"
    );
    let out = std::process::Command::new(bin())
        .args(["trace", &"cd".repeat(16), "--server", &api])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[tokio::test]
async fn environment_and_config_file_configure_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("weft.toml");
    // the file asks for a fixed API port; the environment overrides it with an ephemeral one
    std::fs::write(&cfg, "http = \"127.0.0.1:1\"\nretention = \"1h\"\n").unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(
        bin(),
        &data,
        &["--config", cfg.to_str().unwrap()],
        &[("WEFT_HTTP", "127.0.0.1:0")],
    );
    assert_ne!(server.http.port(), 1);
    assert!(data.join("wal").is_dir());
    drop(server);
    let out = Server::run_to_exit(bin(), &data, &[], &[("WEFT_RETENTION", "soon")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--retention"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a data directory that is a file: said so, not "File exists"
    let out = Server::run_to_exit(bin(), &cfg, &[], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("it is a file, not a directory; pick another data directory"),
        "{err}"
    );
}

/// `/proc/<pid>/stat`'s fields from field 3 (after the parenthesised command name), as the
/// kernel documents them (proc(5)).
fn proc_stat(pid: u32) -> Vec<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 1..];
    after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(f64::NAN))
        .collect()
}

/// The server's threads by name, read from outside: (name, nice value).
#[cfg(target_os = "linux")]
fn threads(pid: u32) -> Vec<(String, i64)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // fields after the name: state is field 3, nice is field 19
            let nice = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .nth(19 - 3)?
                .parse()
                .ok()?;
            Some((name.trim().to_string(), nice))
        })
        .collect()
}

/// Compaction yields the CPU to ingest: the compactor thread runs at a lower priority (a
/// higher nice value) than the threads that receive, log and cut spans.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_compactor_runs_below_the_ingest_threads() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let pid = server.child.id();
    let nice_of = |name: &str| {
        let all = threads(pid);
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, nice)| *nice)
            .unwrap_or_else(|| panic!("no thread {name} among {all:?}"))
    };
    // a thread names itself when it first runs (until then it has the name of the thread
    // that spawned it), and the compactor then lowers its own priority
    let named = |name: &str| threads(pid).iter().any(|(n, _)| n == name);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(named("weft-cutter") && named("weft-wal") && named("weft-compactor"))
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    while nice_of("weft-compactor") == nice_of("weft-wal") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ingest = nice_of("weft-wal");
    assert_eq!(nice_of("weft-cutter"), ingest);
    assert_eq!(
        nice_of("weft-compactor"),
        (ingest + i64::from(weft_store::COMPACTOR_NICE)).min(19)
    );
}

/// The standard Prometheus process metrics agree with what the kernel says of the server
/// process, read from outside it: CPU time between two outside readings, memory, start time,
/// open and maximum file descriptors.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn process_metrics_agree_with_proc() {
    let dir = tempfile::tempdir().unwrap();
    let before_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let server = Server::start(bin(), dir.path(), &[]);
    let after_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let pid = server.child.id();
    let client = reqwest::Client::new();
    let ticks = 100.0; // USER_HZ, 100 on every Linux architecture weft builds for
    let cpu = |stat: &[f64]| (stat[14 - 3] + stat[15 - 3]) / ticks;
    // work until the kernel has counted some CPU time (it counts in ticks of 10 ms: twenty
    // small requests can take less than one)
    for _ in 0..2000 {
        post(
            &client,
            &server.otlp_http_url(),
            "application/x-protobuf",
            sample_trace("checkout", &random_trace_id()).encode_to_vec(),
        )
        .await;
        if cpu(&proc_stat(pid)) >= 0.02 {
            break;
        }
    }
    let outside_before = proc_stat(pid);
    let reported = metric(&client, &server, "process_cpu_seconds_total").await;
    let outside_after = proc_stat(pid);
    assert!(
        cpu(&outside_before) <= reported && reported <= cpu(&outside_after),
        "CPU {reported} s, outside {} .. {} s",
        cpu(&outside_before),
        cpu(&outside_after)
    );
    assert!(reported > 0.0);

    let page = 4096.0;
    let rss = metric(&client, &server, "process_resident_memory_bytes").await;
    let outside_rss = proc_stat(pid)[24 - 3] * page;
    assert!(
        (rss - outside_rss).abs() <= outside_rss * 0.2,
        "RSS {rss} vs {outside_rss} from outside"
    );
    let vsize = metric(&client, &server, "process_virtual_memory_bytes").await;
    let outside_vsize = proc_stat(pid)[23 - 3];
    assert!(
        (vsize - outside_vsize).abs() <= outside_vsize * 0.2,
        "virtual memory {vsize} vs {outside_vsize} from outside"
    );
    let started = metric(&client, &server, "process_start_time_seconds").await;
    assert!(
        before_start - 2.0 <= started && started <= after_start + 2.0,
        "start time {started}, the test started it between {before_start} and {after_start}"
    );
    let fds = metric(&client, &server, "process_open_fds").await;
    let outside_fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as f64;
    assert!(
        (fds - outside_fds).abs() <= 4.0,
        "{fds} open fds, {outside_fds} from outside"
    );
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft: f64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(
        metric(&client, &server, "process_max_fds").await,
        soft,
        "{limits}"
    );
}

/// The OTLP/gRPC receiver's HTTP/2 flow control fits export requests of hundreds of
/// kilobytes, many in flight on one connection: read off the wire, the server's SETTINGS
/// frame offers a 4 MiB stream window and 1 MiB frames, and it opens the connection window to
/// 16 MiB (hyper's defaults, 1 MiB and 16 KiB frames, made a busy client wait for window
/// updates several times per request).
#[test]
fn the_grpc_receiver_offers_http2_windows_and_frames_sized_for_export_requests() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let mut tcp = std::net::TcpStream::connect(server.otlp_grpc).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // the client preface and an empty SETTINGS frame
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let (mut stream_window, mut max_frame, mut connection_window) = (None, None, 65_535u64);
    let mut window_updated = false;
    while stream_window.is_none() || !window_updated {
        let mut header = [0u8; 9];
        tcp.read_exact(&mut header)
            .expect("the server's SETTINGS and WINDOW_UPDATE frames");
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let stream = u32::from_be_bytes(header[5..9].try_into().unwrap()) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).unwrap();
        match kind {
            // SETTINGS, not the ACK of ours
            4 if flags & 1 == 0 => {
                for p in payload.chunks_exact(6) {
                    let value = u32::from_be_bytes(p[2..6].try_into().unwrap());
                    match u16::from_be_bytes([p[0], p[1]]) {
                        4 => stream_window = Some(value),
                        5 => max_frame = Some(value),
                        _ => {}
                    }
                }
                if stream_window.is_none() {
                    stream_window = Some(65_535);
                }
            }
            // WINDOW_UPDATE of the connection
            8 if stream == 0 => {
                connection_window +=
                    u64::from(u32::from_be_bytes(payload[..4].try_into().unwrap()) & 0x7fff_ffff);
                window_updated = true;
            }
            _ => {}
        }
    }
    assert_eq!(stream_window, Some(4 << 20), "SETTINGS_INITIAL_WINDOW_SIZE");
    assert_eq!(max_frame, Some(1 << 20), "SETTINGS_MAX_FRAME_SIZE");
    assert_eq!(connection_window, 16 << 20, "connection window");
}
