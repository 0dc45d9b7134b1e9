//! Bad input gets the right status and a message, is not stored, and loses nothing that was
//! accepted before it; the server keeps serving.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use weft_testkit::{
    admin, fetch_trace, get_json, gzip, hex, post_protobuf, random_trace_id, sample_trace, Server,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

struct Case {
    what: &'static str,
    ctype: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        bin(),
        dir.path(),
        &[
            "--max-request-bytes",
            "1MiB",
            "--max-decompressed-bytes",
            "4MiB",
        ],
    );
    let client = reqwest::Client::new();
    let good = random_trace_id();
    post_protobuf(&client, &server, &sample_trace("good", &good)).await;

    let bad_id = random_trace_id();
    let full = sample_trace("bad", &bad_id).encode_to_vec();
    let mut short_ids = sample_trace("bad", &bad_id);
    for s in &mut short_ids.resource_spans[0].scope_spans[0].spans {
        s.trace_id = vec![1, 2, 3];
    }
    let mut zero_ids = sample_trace("bad", &bad_id);
    for s in &mut zero_ids.resource_spans[0].scope_spans[0].spans {
        s.trace_id = vec![0; 16];
    }
    let bomb = gzip(&vec![0u8; 64 << 20]); // 64 MiB of zeros in ~64 KiB
    let cases = vec![
        Case { what: "truncated protobuf", ctype: "application/x-protobuf", encoding: None, body: full[..full.len() - 7].to_vec(), status: 400, message: "ExportTraceServiceRequest" },
        Case { what: "broken JSON", ctype: "application/json", encoding: None, body: br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"#.to_vec(), status: 400, message: "invalid OTLP/JSON" },
        Case { what: "JSON id not hex", ctype: "application/json", encoding: None, body: br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708","name":"x"}]}]}]}"#.to_vec(), status: 400, message: "traceId" },
        Case { what: "oversized body", ctype: "application/x-protobuf", encoding: None, body: vec![0x0a; 2 << 20], status: 413, message: "exceeds" },
        Case { what: "gzip bomb", ctype: "application/x-protobuf", encoding: Some("gzip"), body: bomb, status: 413, message: "decompressed" },
        Case { what: "not gzip", ctype: "application/x-protobuf", encoding: Some("gzip"), body: b"plain".to_vec(), status: 400, message: "gzip" },
        Case { what: "wrong content type", ctype: "text/plain", encoding: None, body: b"hello".to_vec(), status: 415, message: "content type" },
        Case { what: "unknown encoding", ctype: "application/x-protobuf", encoding: Some("br"), body: full.clone(), status: 415, message: "content encoding" },
    ];
    for c in cases {
        let mut rb = client
            .post(server.otlp_http_url())
            .header("content-type", c.ctype)
            .body(c.body);
        if let Some(e) = c.encoding {
            rb = rb.header("content-encoding", e);
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.what));
        assert_eq!(r.status().as_u16(), c.status, "{}", c.what);
        let json = r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json");
        let body = r.bytes().await.unwrap();
        let message = if json {
            let v: Value = serde_json::from_slice(&body).unwrap();
            v["message"].as_str().unwrap().to_string()
        } else {
            weft_ingest_status(&body)
        };
        assert!(
            message.contains(c.message),
            "{}: message {message:?} should mention {:?}",
            c.what,
            c.message
        );
    }
    // invalid ids inside an otherwise valid request: partial success, nothing stored
    for (what, req) in [
        ("short trace ids", short_ids),
        ("all-zero trace ids", zero_ids),
    ] {
        let r = client
            .post(server.otlp_http_url())
            .header("content-type", "application/x-protobuf")
            .body(req.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{what}");
        let resp =
            weft_proto::ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
        let ps = resp
            .partial_success
            .unwrap_or_else(|| panic!("{what}: expected partial success"));
        assert_eq!(ps.rejected_spans, 3, "{what}");
        assert!(
            ps.error_message.contains("traceId"),
            "{what}: {}",
            ps.error_message
        );
    }
    // gRPC: a malformed parent id rejects that span only
    let mut c = TraceServiceClient::connect(server.otlp_grpc_url())
        .await
        .unwrap();
    let mut bad = sample_trace("bad", &bad_id);
    bad.resource_spans[0].scope_spans[0].spans[0].parent_span_id = vec![9; 3];
    let resp = c.export(bad).await.unwrap().into_inner();
    assert_eq!(resp.partial_success.unwrap().rejected_spans, 1);

    // nothing of the bad requests is stored; the good one is intact; the server still serves
    let services: Value = get_json(&client, &server, "/api/v1/services").await;
    assert_eq!(
        services["services"],
        serde_json::json!(["bad", "good"]),
        "only the valid spans of the partially accepted gRPC request are stored"
    );
    let got = fetch_trace(&client, &server, &hex(&good))
        .await
        .expect("good trace kept");
    assert_eq!(got.span_count(), 3);
    let stored_bad = fetch_trace(&client, &server, &hex(&bad_id))
        .await
        .expect("partial gRPC request stored");
    assert_eq!(stored_bad.span_count(), 2);
}

#[tokio::test]
async fn grpc_gzip_bomb_and_oversized_message_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &["--max-decompressed-bytes", "1MiB"]);
    let mut c = TraceServiceClient::connect(server.otlp_grpc_url())
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_encoding_message_size(usize::MAX);
    let tid = random_trace_id();
    let mut req = sample_trace("big", &tid);
    // a 4 MiB string of one letter compresses to almost nothing
    req.resource_spans[0].scope_spans[0].spans[0].name = "a".repeat(4 << 20);
    let err = c.export(req).await.expect_err("must be refused");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    // still serving
    let ok = c.export(sample_trace("small", &random_trace_id())).await;
    assert!(ok.is_ok(), "{ok:?}");
}

/// Decodes a `google.rpc.Status` body (OTLP/HTTP protobuf errors) and returns its message.
fn weft_ingest_status(body: &[u8]) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    RpcStatus::decode(body)
        .expect("google.rpc.Status body")
        .message
}

#[tokio::test]
async fn chunked_bodies_without_content_length_are_read_with_the_same_cap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &["--max-request-bytes", "64KiB"]);
    let client = reqwest::Client::new();
    let tid = random_trace_id();
    let body = sample_trace("chunked", &tid).encode_to_vec();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let r = client
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(fetch_trace(&client, &server, &hex(&tid)).await.is_some());
    // a chunked body over the cap: 413, even though no Content-Length announced it
    let big: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![0x0a; 1024])).collect();
    let r = client
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(big)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn overload_gets_429_and_resource_exhausted_with_retry_information() {
    let dir = tempfile::tempdir().unwrap();
    // a memory budget smaller than one request: the first is taken, the next are refused
    let server = Server::start(
        bin(),
        dir.path(),
        &["--max-memory", "100B", "--maintenance-interval", "1h"],
    );
    let client = reqwest::Client::new();
    let send = || {
        client
            .post(server.otlp_http_url())
            .header("content-type", "application/json")
            .body(weft_proto::json::encode_traces_data(
                &weft_proto::otlp::batch_from_request(sample_trace("busy", &random_trace_id())).0,
            ))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let r = send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("retry"), "{v}");
    // load is checked before the body is decoded: while overloaded even a malformed body is
    // refused for load (decoding it would only waste the CPU the server is short of)
    let r = client
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(vec![0x0a, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let mut c = TraceServiceClient::connect(server.otlp_grpc_url())
        .await
        .unwrap();
    let err = c
        .export(sample_trace("busy", &random_trace_id()))
        .await
        .expect_err("overloaded");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    use tonic_types::StatusExt;
    let retry = err
        .get_details_retry_info()
        .expect("google.rpc.RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
    // a cut frees memory; writes are accepted again
    admin(&client, &server, "flush").await;
    assert_eq!(send().await.unwrap().status(), 200);
}

/// Request bytes count against `--max-inflight-bytes` from their first byte: a client
/// part-way through a large upload holds its share, so that many such clients cannot hold
/// unbounded memory. Over the budget, OTLP/HTTP gets 429 and OTLP/gRPC RESOURCE_EXHAUSTED,
/// both with retry information; when the slow client goes, its share comes back.
#[tokio::test]
async fn request_bytes_count_against_the_budget_while_they_arrive() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        bin(),
        dir.path(),
        &[
            "--max-inflight-bytes",
            "1MiB",
            "--maintenance-interval",
            "1h",
        ],
    );
    let client = reqwest::Client::new();
    // a request of about 600 KiB, valid OTLP
    let tid = random_trace_id();
    let mut big = sample_trace("budget", &tid);
    while big.encoded_len() < 600 << 10 {
        big.resource_spans
            .extend(sample_trace("budget", &tid).resource_spans);
    }
    let body = big.encode_to_vec();

    // a slow client: headers and 700 KiB of a 900 KiB body, then nothing more
    let mut slow = tokio::net::TcpStream::connect(server.otlp_http)
        .await
        .unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        server.otlp_http,
        900 << 10
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&vec![0u8; 700 << 10]).await.unwrap();
    slow.flush().await.unwrap();
    // its bytes reach the server's budget
    tokio::time::sleep(Duration::from_millis(300)).await;

    let r = client
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let msg = weft_ingest_status(&r.bytes().await.unwrap());
    assert!(
        msg.contains("more than 1048576 bytes of requests are in flight"),
        "{msg}"
    );
    let mut c = TraceServiceClient::connect(server.otlp_grpc_url())
        .await
        .unwrap();
    let err = c.export(big.clone()).await.expect_err("over the budget");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    use tonic_types::StatusExt;
    assert!(err.get_details_retry_info().is_some(), "{err:?}");
    assert!(fetch_trace(&client, &server, &hex(&tid)).await.is_none());

    // a message larger than the whole budget is refused while it arrives, and the client
    // reads the status (not a reset stream)
    let mut huge = big.clone();
    while huge.encoded_len() < 1536 << 10 {
        huge.resource_spans.extend(big.resource_spans.clone());
    }
    let err = c.export(huge).await.expect_err("larger than the budget");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("bytes of requests are in flight"),
        "{err:?}"
    );

    // the slow client goes away: its share comes back, and the same requests are taken
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c.export(big).await.expect("taken once the budget is free");
    assert!(fetch_trace(&client, &server, &hex(&tid)).await.is_some());
}

/// A connection that does not finish sending a request's headers within
/// `--header-read-timeout` is closed, on the OTLP/HTTP port as on the API's; the server goes
/// on serving.
#[tokio::test]
async fn a_client_too_slow_with_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin(), dir.path(), &["--header-read-timeout", "1s"]);
    for addr in [server.otlp_http, server.http] {
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"POST /v1/traces HTTP/1.1\r\nhost: weft\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        // the server closes the connection (it may say 408 first); a server that waited
        // for the rest of the headers would leave this read hanging until the deadline
        let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf))
            .await
            .expect("the connection was closed");
        assert!(read.is_ok() || buf.is_empty(), "{read:?}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "closed after {waited:?}"
        );
        let head = String::from_utf8_lossy(&buf);
        assert!(
            head.is_empty() || head.starts_with("HTTP/1.1 408"),
            "{head}"
        );
    }
    let client = reqwest::Client::new();
    let tid = random_trace_id();
    post_protobuf(&client, &server, &sample_trace("on-time", &tid)).await;
    assert!(fetch_trace(&client, &server, &hex(&tid)).await.is_some());
}
