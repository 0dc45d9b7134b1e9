//! Every acknowledged span survives a SIGKILL, exactly once.

use prost::Message;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft_testkit::{fetch_trace, hex, metric, random_trace_id, sample_trace, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weft"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // small blocks so that cuts (WAL -> block hand-offs) happen while we send and when we kill
    let flags = [
        "--block-max-spans",
        "300",
        "--maintenance-interval",
        "100ms",
        "--wal-fsync",
        "always",
    ];
    let mut server = Server::start(bin(), dir.path(), &flags);
    let url = server.otlp_http_url();
    let acked: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (url, acked, client) = (url.clone(), acked.clone(), client.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = 0;
            loop {
                // 10 traces of 3 spans per request
                let mut req = sample_trace("durable", &random_trace_id());
                for _ in 0..9 {
                    req.resource_spans
                        .extend(sample_trace("durable", &random_trace_id()).resource_spans);
                }
                let body = req.encode_to_vec();
                match client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        let mut a = acked.lock().unwrap();
                        for rs in &req.resource_spans {
                            for s in &rs.scope_spans[0].spans {
                                a.entry(hex(&s.trace_id)).or_default().push(hex(&s.span_id));
                            }
                        }
                        sent += 1;
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return sent, // the server is gone
                }
            }
        }));
    }
    // let load build up until blocks have been cut (WAL -> block hand-offs), and heads have
    // been cut several at once (published in WAL order, ADR 0012) if the cutter fell behind
    // within 20 s, then kill in the middle of it
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(60);
    let parallel = loop {
        let blocks = metric(&client, &server, "weft_store_blocks").await;
        let parallel = metric(&client, &server, "weft_store_heads_cut_in_parallel_total").await;
        if (blocks >= 3.0
            && acked.lock().unwrap().len() >= 2000
            && (parallel >= 1.0 || started.elapsed() > Duration::from_secs(20)))
            || std::time::Instant::now() > deadline
        {
            break parallel;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("killed after {parallel} heads were cut in parallel");
    server.kill();
    let mut requests = 0;
    for s in senders {
        requests += s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        requests > 0 && acked.len() >= 2000,
        "the load did not build up: {requests} requests"
    );

    // and the crash tore the WAL: garbage after the last whole frame of the newest segment
    let newest = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .expect("a WAL segment");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&newest)
            .unwrap();
        f.write_all(&[0x30, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
            .unwrap();
    }

    let server = Server::start(bin(), dir.path(), &flags);
    let client = reqwest::Client::new();
    assert_eq!(
        metric(&client, &server, "weft_store_wal_corrupt_frames_total").await,
        1.0,
        "the torn tail must be reported"
    );
    let mut checked = 0;
    for (tid, spans) in &acked {
        let got = fetch_trace(&client, &server, tid)
            .await
            .unwrap_or_else(|| panic!("acknowledged trace {tid} lost"));
        let mut counts: HashMap<String, usize> = HashMap::new();
        for s in got.spans() {
            *counts.entry(s.span.span_id.to_hex()).or_default() += 1;
        }
        for sid in spans {
            assert_eq!(
                counts.get(sid).copied(),
                Some(1),
                "span {sid} of trace {tid} should be stored exactly once"
            );
        }
        checked += spans.len();
    }
    eprintln!(
        "{checked} acknowledged spans in {} traces all found exactly once",
        acked.len()
    );
}

/// A write the disk refuses (here a file-size limit, as a full disk would) fails the request
/// with a message and a retry hint, and is undone: the server keeps serving, later requests
/// are stored, and neither the live server nor a restart from the WAL ever shows the spans of
/// the request that was told it failed, nor reports a torn frame.
#[tokio::test]
async fn a_write_the_disk_refuses_fails_its_request_and_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    const LIMIT: usize = 64 << 10;
    let mut cmd = std::process::Command::new("prlimit");
    // soft limit only, so that it can be raised again while the server runs
    cmd.arg(format!("--fsize={LIMIT}:")).arg("--").arg(bin());
    let flags = ["--maintenance-interval", "1h"];
    let mut server = Server::start_command(cmd, dir.path(), &flags, &[]);
    let client = reqwest::Client::new();
    let post = |req: &weft_proto::ExportTraceServiceRequest| {
        client
            .post(server.otlp_http_url())
            .header("content-type", "application/x-protobuf")
            .body(req.encode_to_vec())
            .send()
    };

    let before = random_trace_id();
    let r = post(&sample_trace("disk", &before)).await.unwrap();
    assert_eq!(r.status(), 200);
    // one request larger than what the limit leaves of the WAL segment
    let refused_id = random_trace_id();
    let mut refused = sample_trace("disk", &refused_id);
    while refused.encoded_len() <= LIMIT {
        refused
            .resource_spans
            .extend(sample_trace("disk", &refused_id).resource_spans);
    }
    let r = post(&refused).await.unwrap();
    assert_eq!(r.status(), 503, "a write the disk refuses is unavailable");
    assert!(r.headers().contains_key("retry-after"));
    let body = r.text().await.unwrap();
    assert!(body.contains("could not write"), "{body}");

    // the disk has room again
    let pid = server.child.id().to_string();
    let raised = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--fsize=unlimited:"])
        .status()
        .unwrap();
    assert!(raised.success(), "prlimit --pid failed");
    let after = random_trace_id();
    let r = post(&sample_trace("disk", &after)).await.unwrap();
    assert_eq!(r.status(), 200);

    let check = |server: &Server| {
        let (client, server_url) = (client.clone(), server.api(""));
        let (before, refused_id, after) = (hex(&before), hex(&refused_id), hex(&after));
        async move {
            let get = |id: String| {
                let (client, url) = (client.clone(), format!("{server_url}/api/v1/traces/{id}"));
                async move { client.get(url).send().await.unwrap().status().as_u16() }
            };
            assert_eq!(get(before).await, 200, "the request before the failure");
            assert_eq!(get(after).await, 200, "the request after the failure");
            assert_eq!(get(refused_id).await, 404, "the refused request");
        }
    };
    check(&server).await;
    server.kill();

    let server = Server::start(bin(), dir.path(), &flags);
    assert_eq!(
        metric(&client, &server, "weft_store_wal_corrupt_frames_total").await,
        0.0,
        "the WAL holds no torn frame"
    );
    check(&server).await;
    for id in [&before, &after] {
        let t = fetch_trace(&client, &server, &hex(id)).await.unwrap();
        assert_eq!(t.spans().count(), 3, "each span once");
    }
}

/// A block damaged on disk stops the start with a message that names the block and says what
/// to do; moving the block aside, as it says, starts the server with the other blocks' spans.
#[tokio::test]
async fn a_damaged_block_names_itself_and_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    let mut server = Server::start(bin(), dir.path(), &[]);
    for _ in 0..2 {
        let tid = random_trace_id();
        weft_testkit::post_protobuf(&client, &server, &sample_trace("disk", &tid)).await;
        weft_testkit::admin(&client, &server, "flush").await;
        ids.push(hex(&tid));
    }
    assert_eq!(server.terminate().code(), Some(0));
    let blocks = dir.path().join("blocks");
    let mut block_dirs: Vec<_> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    block_dirs.sort();
    assert_eq!(block_dirs.len(), 2);
    let damaged = &block_dirs[0];
    let spans = damaged.join("spans.parquet");
    let len = std::fs::metadata(&spans).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&spans)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let out = Server::run_to_exit(bin(), dir.path(), &[], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let name = damaged.file_name().unwrap().to_string_lossy();
    assert!(err.contains(&*name), "the block is named: {err}");
    assert!(
        err.contains("the block is damaged: move its directory out of"),
        "{err}"
    );
    // each cause once
    assert_eq!(err.matches("Corrupt footer").count(), 1, "{err}");

    let aside = dir.path().join("damaged");
    std::fs::create_dir(&aside).unwrap();
    std::fs::rename(damaged, aside.join(&*name)).unwrap();
    let server = Server::start(bin(), dir.path(), &[]);
    let found: Vec<bool> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(fetch_trace(&client, &server, id).await.is_some());
        }
        v
    };
    assert_eq!(found.iter().filter(|f| **f).count(), 1, "{found:?}");
}
