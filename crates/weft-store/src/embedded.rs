//! The embedded storage engine.
//!
//! Threads: the WAL writer (group commit, then apply to the head, in order), the cutter (cut
//! the head into a block) and the compactor (retention, compaction). Cuts never wait for a
//! compaction, so a long merge cannot stall ingest. Readers take
//! the in-memory parts under locks in the fixed order `sealed` → `head`, the same order the
//! writer takes them when it swaps the head out, so a span is always visible in one place.

use crate::block::{stage_block, write_block, Block, Origin, StagedBlock};
use crate::head::Head;
use crate::wal::{self, SegmentWriter};
use crate::{
    Capabilities, Operation, Result, SearchQuery, SearchResult, StoreError, StoreStats,
    TraceReader, TraceWriter, WriteRequest,
};
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use weft_model::{Batch, FlatSpan, SpanKind, TraceId, TraceSummary};

/// When the WAL is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fdatasync` once per group commit, before any request in the group is acknowledged.
    #[default]
    Always,
    /// Never `fsync`; acknowledged data survives a crash of weft but not of the machine.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            _ => Err(format!(
                "unknown fsync policy {s:?}: use \"always\" or \"never\""
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// Cut the head into a block when it holds this many spans...
    pub block_max_spans: usize,
    /// ...or when its oldest data is this old.
    pub block_max_age: Duration,
    /// Refuse writes (overloaded) while the spans in memory exceed this many bytes.
    pub max_memory_bytes: usize,
    /// Delete blocks ingested longer ago than this.
    pub retention: Duration,
    /// Delete the oldest blocks while blocks and WAL use more than this.
    pub max_disk_bytes: Option<u64>,
    /// Merge this many blocks of one level into one block of the next level.
    pub compaction_fan_in: usize,
    /// Never build a block larger than this by compaction.
    pub compaction_max_spans: usize,
    /// How often compaction and retention run (cuts are checked at least every 200 ms).
    pub maintenance_interval: Duration,
    /// How many sealed heads a cut writes at once, each on its own thread. Under sustained
    /// load several wait, and one thread writing them in turn is what limits ingest; when
    /// the receivers wait on refused clients, the other CPUs would sit idle.
    pub cut_parallelism: usize,
}

impl StoreOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> StoreOptions {
        StoreOptions {
            data_dir: data_dir.into(),
            fsync: FsyncPolicy::Always,
            block_max_spans: 250_000,
            block_max_age: Duration::from_secs(120),
            max_memory_bytes: 2 << 30,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_disk_bytes: None,
            compaction_fan_in: 4,
            compaction_max_spans: 1_000_000,
            maintenance_interval: Duration::from_secs(1),
            cut_parallelism: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, 4),
        }
    }
}

enum WalCmd {
    Append {
        payload: Bytes,
        batch: Batch,
        done: tokio::sync::oneshot::Sender<Result<()>>,
    },
    Rotate {
        done: std::sync::mpsc::Sender<Result<u64>>,
    },
    Shutdown,
}

struct SealedHead {
    head: Head,
    wal_through: u64,
}

#[derive(Default)]
struct Counters {
    compactions: AtomicU64,
    retention_deleted: AtomicU64,
    wal_corrupt_frames: AtomicU64,
    queued_bytes: AtomicU64,
    head_storage_reused: AtomicU64,
    heads_cut_in_parallel: AtomicU64,
}

struct Shared {
    opts: StoreOptions,
    wal_dir: PathBuf,
    blocks_dir: PathBuf,
    sealed: RwLock<Vec<Arc<SealedHead>>>,
    head: RwLock<Head>,
    /// The storage of the last head cut under load, for the next head the WAL writer seals
    /// one for (see [`crate::head::Storage`]); released when the store goes idle.
    spare: Mutex<Option<crate::head::Storage>>,
    blocks: RwLock<Vec<Arc<Block>>>,
    catalog: RwLock<BTreeMap<String, BTreeSet<Operation>>>,
    counters: Counters,
    shutdown: AtomicBool,
    block_seq: AtomicU64,
    /// Serializes cuts (the cutter thread and the admin API may both ask for one).
    cut_lock: Mutex<()>,
    /// Set (and `cutter_cv` notified) when the cutter has work before its next tick: a head
    /// was sealed, the head passed a quarter of the memory limit, or the store is closing.
    cutter_wake: Mutex<bool>,
    cutter_cv: Condvar,
    /// Serializes compaction and retention, which both replace or delete blocks. Cuts only
    /// add blocks, so they never wait for a compaction.
    maintenance: Mutex<()>,
}

/// The embedded store. Cheap to clone; the last clone's drop does not stop the threads:
/// call [`EmbeddedStore::close`].
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    wal_tx: mpsc::Sender<WalCmd>,
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

/// What opening the store found.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    pub blocks: usize,
    pub replayed_segments: usize,
    pub replayed_frames: u64,
    pub replayed_spans: u64,
    /// Human-readable descriptions of WAL damage that was skipped.
    pub wal_damage: Vec<String>,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl EmbeddedStore {
    /// Opens (or creates) the store under `opts.data_dir`, replays the WAL and starts the
    /// writer and maintenance threads.
    pub fn open(opts: StoreOptions) -> Result<(EmbeddedStore, OpenReport)> {
        let wal_dir = opts.data_dir.join("wal");
        let blocks_dir = opts.data_dir.join("blocks");
        for d in [&opts.data_dir, &wal_dir, &blocks_dir] {
            std::fs::create_dir_all(d).map_err(|e| {
                if d.exists() && !d.is_dir() {
                    // create_dir_all only says "File exists"
                    StoreError::io(
                        d,
                        std::io::Error::other(
                            "it is a file, not a directory; pick another data directory",
                        ),
                    )
                } else {
                    StoreError::io(d, e)
                }
            })?;
        }
        let mut report = OpenReport::default();
        let blocks = load_blocks(&blocks_dir)?;
        report.blocks = blocks.len();
        let wal_through = blocks.iter().map(|b| b.meta.wal_through).max().unwrap_or(0);

        let mut head = Head::new();
        let mut last_seq = wal_through;
        let mut corrupt_frames = 0;
        for (seq, path) in wal::list_segments(&wal_dir)? {
            last_seq = last_seq.max(seq);
            if seq <= wal_through {
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                continue;
            }
            let r = wal::replay_segment(&path, |payload| {
                let (batch, _) =
                    weft_proto::otlp::decode_batch(payload).map_err(|e| StoreError::Corrupt {
                        path: path.display().to_string(),
                        message: format!("a frame with a valid checksum does not decode: {e}"),
                    })?;
                report.replayed_spans += batch.span_count() as u64;
                head.push_batch(batch, payload.len());
                Ok(())
            })?;
            report.replayed_segments += 1;
            report.replayed_frames += r.frames;
            for d in &r.damage {
                corrupt_frames += 1;
                report.wal_damage.push(format!(
                    "{}: {} at byte {} ({} bytes skipped)",
                    path.display(),
                    d.reason,
                    d.offset,
                    d.skipped_bytes
                ));
            }
        }
        let mut catalog: BTreeMap<String, BTreeSet<Operation>> = BTreeMap::new();
        for b in &blocks {
            for (svc, ops) in &b.meta.operations {
                let e = catalog.entry(svc.clone()).or_default();
                for (name, kind) in ops {
                    e.insert(Operation {
                        name: name.clone(),
                        kind: SpanKind::from_i32(*kind).unwrap_or_default(),
                    });
                }
            }
        }
        let catalog = RwLock::new(catalog);
        update_catalog(
            &catalog,
            head.spans.iter().map(|fs| {
                (
                    fs.resource.service_name(),
                    fs.span.name.as_str(),
                    fs.span.kind,
                )
            }),
        );
        let shared = Arc::new(Shared {
            wal_dir: wal_dir.clone(),
            blocks_dir,
            sealed: RwLock::new(Vec::new()),
            head: RwLock::new(head),
            blocks: RwLock::new(blocks),
            catalog,
            counters: Counters::default(),
            shutdown: AtomicBool::new(false),
            block_seq: AtomicU64::new(0),
            cut_lock: Mutex::new(()),
            cutter_wake: Mutex::new(false),
            cutter_cv: Condvar::new(),
            maintenance: Mutex::new(()),
            spare: Mutex::new(None),
            opts,
        });
        shared
            .counters
            .wal_corrupt_frames
            .store(corrupt_frames, Ordering::Relaxed);
        let segment = SegmentWriter::create(&wal_dir, last_seq + 1)?;
        let (wal_tx, wal_rx) = mpsc::channel();
        let mut threads = Vec::new();
        {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("weft-wal".into())
                    .spawn(move || wal_writer(shared, segment, wal_rx))
                    .map_err(|e| StoreError::io("wal thread", e))?,
            );
        }
        {
            let shared = shared.clone();
            let tx = wal_tx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("weft-cutter".into())
                    .spawn(move || cutter(shared, tx))
                    .map_err(|e| StoreError::io("cutter thread", e))?,
            );
        }
        {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("weft-compactor".into())
                    .spawn(move || compactor(shared))
                    .map_err(|e| StoreError::io("compactor thread", e))?,
            );
        }
        Ok((
            EmbeddedStore {
                shared,
                wal_tx,
                threads: Arc::new(Mutex::new(threads)),
            },
            report,
        ))
    }

    /// Stops the threads after the WAL has committed what it holds. Idempotent.
    pub fn close(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        wake_cutter(&self.shared);
        let _ = self.wal_tx.send(WalCmd::Shutdown);
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    pub fn stats(&self) -> StoreStats {
        let s = &self.shared;
        let (head_spans, sealed_spans) = {
            let sealed = s.sealed.read();
            let head = s.head.read();
            (
                head.len() as u64,
                sealed.iter().map(|h| h.head.len() as u64).sum::<u64>(),
            )
        };
        let blocks = s.blocks.read();
        StoreStats {
            head_spans: head_spans + sealed_spans,
            block_count: blocks.len() as u64,
            block_spans: blocks.iter().map(|b| b.meta.span_count).sum(),
            block_bytes: blocks.iter().map(|b| b.meta.bytes).sum(),
            wal_bytes: wal_bytes(&s.wal_dir),
            compactions: s.counters.compactions.load(Ordering::Relaxed),
            blocks_deleted_by_retention: s.counters.retention_deleted.load(Ordering::Relaxed),
            wal_corrupt_frames_skipped: s.counters.wal_corrupt_frames.load(Ordering::Relaxed),
            head_storage_reused: s.counters.head_storage_reused.load(Ordering::Relaxed),
            heads_cut_in_parallel: s.counters.heads_cut_in_parallel.load(Ordering::Relaxed),
        }
    }

    /// Cuts the head into a block now (for tests and for `weft bench`).
    pub fn flush(&self) -> Result<()> {
        cut_head(&self.shared, &self.wal_tx, true).map(|_| ())
    }

    /// Runs one round of compaction now; returns whether it merged anything.
    pub fn compact(&self) -> Result<bool> {
        compact_once(&self.shared)
    }

    /// Applies retention now.
    pub fn apply_retention(&self) -> Result<usize> {
        apply_retention(&self.shared)
    }

    fn memory_spans_of(&self, id: &TraceId) -> Vec<FlatSpan> {
        let sealed = self.shared.sealed.read();
        let head = self.shared.head.read();
        let mut out: Vec<FlatSpan> = sealed.iter().flat_map(|s| s.head.trace(id)).collect();
        out.extend(head.trace(id));
        out
    }
}

fn wal_bytes(dir: &Path) -> u64 {
    wal::list_segments(dir)
        .map(|segs| {
            segs.iter()
                .filter_map(|(_, p)| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn load_blocks(dir: &Path) -> Result<Vec<Arc<Block>>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") {
            // an unfinished block write: its data is still in the WAL or in its source blocks
            std::fs::remove_dir_all(&p).map_err(|e| StoreError::io(&p, e))?;
        } else if p.is_dir() {
            dirs.push(p);
        }
    }
    let mut blocks = Vec::new();
    for d in dirs {
        let block = Block::open(&d).map_err(|e| {
            let damaged = match &e {
                StoreError::Corrupt { .. } | StoreError::Parquet { .. } => true,
                StoreError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
                _ => false,
            };
            if !damaged {
                return e;
            }
            StoreError::Corrupt {
                path: d.display().to_string(),
                message: format!(
                    "{e}; the block is damaged: move its directory out of {} to start without \
                     its spans (or restore it from a backup)",
                    dir.display()
                ),
            }
        })?;
        blocks.push(Arc::new(block));
    }
    // blocks that a finished compaction replaced, if the crash came before their deletion
    let replaced: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.compacted_from.iter().cloned())
        .collect();
    let mut kept = Vec::new();
    for b in blocks {
        if replaced.contains(&b.meta.id) {
            std::fs::remove_dir_all(&b.dir).map_err(|e| StoreError::io(&b.dir, e))?;
        } else {
            kept.push(b);
        }
    }
    kept.sort_by_key(|b| (b.meta.min_start_unix_nano, b.meta.id.clone()));
    Ok(kept)
}

/// Adds the (service, span name, kind) triples of `spans` that the catalog lacks. Looks at
/// each distinct triple once, and takes the write lock only when something is new.
fn update_catalog<'a>(
    catalog: &RwLock<BTreeMap<String, BTreeSet<Operation>>>,
    spans: impl Iterator<Item = (&'a str, &'a str, SpanKind)>,
) {
    // on the WAL writer's path to acknowledging: ahash, not SipHash (names come from
    // clients, so a hasher that resists crafted collisions)
    let keys: HashSet<(&str, &str, SpanKind), ahash::RandomState> = spans.collect();
    let missing: Vec<(&str, Operation)> = {
        let cat = catalog.read();
        keys.into_iter()
            .map(|(svc, name, kind)| {
                (
                    svc,
                    Operation {
                        name: name.to_string(),
                        kind,
                    },
                )
            })
            .filter(|(svc, op)| !cat.get(*svc).is_some_and(|ops| ops.contains(op)))
            .collect()
    };
    if missing.is_empty() {
        return;
    }
    let mut cat = catalog.write();
    for (svc, op) in missing {
        cat.entry(svc.to_string()).or_default().insert(op);
    }
}

/// (service, span name, kind) of each span: the service looked up once per resource.
fn span_keys(b: &Batch) -> impl Iterator<Item = (&str, &str, SpanKind)> {
    b.resource_spans.iter().flat_map(|rs| {
        let svc = rs.resource.service_name();
        rs.scope_spans
            .iter()
            .flat_map(move |ss| ss.spans.iter().map(move |s| (svc, s.name.as_str(), s.kind)))
    })
}

/// A failure that repeats, reported at most once per [`RepeatedFailure::EVERY`].
#[derive(Default)]
struct RepeatedFailure {
    last_report: Option<Instant>,
    /// failures since the last report
    unreported: u64,
    /// failures since the last success
    run: u64,
}

impl RepeatedFailure {
    const EVERY: Duration = Duration::from_secs(10);

    /// Counts a failure; `Some(failures not reported since the last report)` when this one
    /// is to be reported.
    fn failed(&mut self, now: Instant) -> Option<u64> {
        self.run += 1;
        if self
            .last_report
            .is_some_and(|t| now.duration_since(t) < Self::EVERY)
        {
            self.unreported += 1;
            return None;
        }
        self.last_report = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }

    /// A success: `Some(failures in the run it ends)` after a run of failures.
    fn recovered(&mut self) -> Option<u64> {
        let run = std::mem::take(&mut self.run);
        self.last_report = None;
        self.unreported = 0;
        (run > 0).then_some(run)
    }
}

/// The WAL writer: takes every command queued, writes the appends as one group, makes them
/// durable, applies them to the head, then acknowledges them.
fn wal_writer(shared: Arc<Shared>, mut segment: SegmentWriter, rx: mpsc::Receiver<WalCmd>) {
    const GROUP_BYTES: usize = 32 << 20;
    let fsync = shared.opts.fsync == FsyncPolicy::Always;
    // each batch with the size of its encoding (what it adds to the head's memory estimate)
    let mut batches: Vec<(Batch, usize)> = Vec::new();
    let mut waiters: Vec<tokio::sync::oneshot::Sender<Result<()>>> = Vec::new();
    let mut queued: u64 = 0;
    // a disk that refuses one commit usually refuses the next hundreds (a full disk, with
    // clients retrying): the first failure is logged, then one line per interval with the count
    let failures = std::cell::RefCell::new(RepeatedFailure::default());
    let commit = |segment: &mut SegmentWriter,
                  batches: &mut Vec<(Batch, usize)>,
                  waiters: &mut Vec<tokio::sync::oneshot::Sender<Result<()>>>,
                  queued: &mut u64| {
        if waiters.is_empty() {
            return;
        }
        let res = segment.commit(fsync);
        shared
            .counters
            .queued_bytes
            .fetch_sub(*queued, Ordering::Relaxed);
        *queued = 0;
        match res {
            Ok(()) => {
                if let Some(n) = failures.borrow_mut().recovered() {
                    tracing::info!(failed = n, "wal commits succeed again");
                }
                update_catalog(
                    &shared.catalog,
                    batches.iter().flat_map(|(b, _)| span_keys(b)),
                );
                let over_quarter = {
                    let mut head = shared.head.write();
                    for (b, encoded) in batches.drain(..) {
                        head.push_batch(b, encoded);
                    }
                    head.approx_bytes > shared.opts.max_memory_bytes / 4
                };
                if over_quarter {
                    wake_cutter(&shared);
                }
                for w in waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                batches.clear();
                let msg = e.to_string();
                if let Some(unreported) = failures.borrow_mut().failed(Instant::now()) {
                    tracing::error!(
                        error = %msg,
                        failures_not_reported = unreported,
                        "wal commit failed; its requests were told to retry later (reported at \
                         most every 10 s while it keeps failing)"
                    );
                }
                for w in waiters.drain(..) {
                    let _ = w.send(Err(StoreError::Io {
                        path: "wal".into(),
                        source: std::io::Error::other(msg.clone()),
                    }));
                }
            }
        }
    };
    while let Ok(first) = rx.recv() {
        let mut cmd = Some(first);
        let mut group_bytes = 0usize;
        // spans appended to this group and not yet applied to the head
        let mut group_spans = 0usize;
        let mut stop = false;
        while let Some(c) = cmd.take() {
            match c {
                WalCmd::Append {
                    payload,
                    batch,
                    done,
                } => {
                    // a batch that would take the head past `block_max_spans` starts the
                    // next head (and WAL segment): what is queued before it is committed to
                    // the current one first. The head is sealed here, not when the cutter
                    // comes back for it: under load the cutter is busy with the previous
                    // head, and a head left to grow until then makes a bigger block, each of
                    // whose spans costs more to cut, which slows the cutter further (ADR 0009).
                    // Blocks hold at most `block_max_spans` spans, so `compaction_fan_in` of
                    // them fit in one compacted block. Sealed heads wait for the cutter in
                    // order.
                    let spans = batch.span_count();
                    let in_head = shared.head.read().len() + group_spans;
                    if in_head > 0 && in_head + spans > shared.opts.block_max_spans {
                        commit(&mut segment, &mut batches, &mut waiters, &mut queued);
                        group_spans = 0;
                        if shared.head.read().len() > 0 {
                            if let Err(e) = rotate(&shared, &mut segment) {
                                tracing::error!(error = %e, "sealing a full head failed; the cutter will");
                            }
                        }
                    }
                    group_spans += spans;
                    segment.append(&payload);
                    group_bytes += payload.len();
                    queued += payload.len() as u64;
                    batches.push((batch, payload.len()));
                    waiters.push(done);
                }
                WalCmd::Rotate { done } => {
                    commit(&mut segment, &mut batches, &mut waiters, &mut queued);
                    group_spans = 0;
                    let res = rotate(&shared, &mut segment);
                    let _ = done.send(res);
                }
                WalCmd::Shutdown => {
                    stop = true;
                    break;
                }
            }
            if group_bytes < GROUP_BYTES {
                cmd = rx.try_recv().ok();
            }
        }
        commit(&mut segment, &mut batches, &mut waiters, &mut queued);
        if stop {
            break;
        }
    }
}

/// Seals the current segment and the head with it; returns the sealed segment's number.
fn rotate(shared: &Shared, segment: &mut SegmentWriter) -> Result<u64> {
    let sealed_seq = segment.seq();
    let next = SegmentWriter::create(&shared.wal_dir, sealed_seq + 1)?;
    *segment = next;
    let mut sealed = shared.sealed.write();
    let mut head = shared.head.write();
    let next = match shared.spare.lock().take() {
        Some(storage) => {
            shared
                .counters
                .head_storage_reused
                .fetch_add(1, Ordering::Relaxed);
            Head::with_storage(storage, head.len(), head.trace_count())
        }
        None => Head::with_capacity(head.len(), head.trace_count()),
    };
    let old = std::mem::replace(&mut *head, next);
    sealed.push(Arc::new(SealedHead {
        head: old,
        wal_through: sealed_seq,
    }));
    drop(head);
    drop(sealed);
    wake_cutter(shared);
    Ok(sealed_seq)
}

fn new_block_id(shared: &Shared) -> String {
    format!(
        "{:016x}-{:04x}",
        now_nanos(),
        shared.block_seq.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// Cuts the sealed heads into level-0 blocks, and the head too when `with_head` (or when no
/// head is sealed: the cutter came because the head is old or big). Returns whether a block
/// was written.
fn cut_head(shared: &Shared, wal_tx: &mpsc::Sender<WalCmd>, with_head: bool) -> Result<bool> {
    let _one_at_a_time = shared.cut_lock.lock();
    if shared.head.read().len() == 0 && shared.sealed.read().is_empty() {
        return Ok(false);
    }
    // the cutter decided before it had the lock: a cut on demand may have taken the work
    // meanwhile, and a head begun since then is not due yet
    if !with_head && !cut_due(shared) {
        return Ok(false);
    }
    let with_head = with_head || shared.sealed.read().is_empty();
    if with_head {
        // not under load (the head is cut for its age, or on demand): the next head need not
        // come fast, and an idle store should not keep a head's worth of memory
        drop(shared.spare.lock().take());
    }
    if with_head && shared.head.read().len() > 0 {
        let (tx, rx) = mpsc::channel();
        wal_tx
            .send(WalCmd::Rotate { done: tx })
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.recv().map_err(|_| StoreError::ShuttingDown)??;
    }
    // write every sealed head (normally one; under sustained load several wait): up to
    // `cut_parallelism` at once, staged in parallel, published in WAL order
    let mut sealed: Vec<Arc<SealedHead>> = shared.sealed.read().clone();
    while !sealed.is_empty() {
        let sizes: Vec<usize> = sealed.iter().map(|s| s.head.approx_bytes).collect();
        let n = heads_at_once(
            &sizes,
            shared.opts.cut_parallelism,
            shared.opts.max_memory_bytes / 4,
        );
        let heads: Vec<Arc<SealedHead>> = sealed.drain(..n).collect();
        let staged = stage_heads(shared, &heads);
        if heads.len() > 1 {
            shared
                .counters
                .heads_cut_in_parallel
                .fetch_add(heads.len() as u64, Ordering::Relaxed);
        }
        publish_in_order(
            staged,
            |i, (id, st)| {
                let s = &heads[i];
                let block = st.publish()?;
                {
                    let mut blocks = shared.blocks.write();
                    let mut sealed = shared.sealed.write();
                    blocks.push(Arc::new(block));
                    blocks.sort_by_key(|b| (b.meta.min_start_unix_nano, b.meta.id.clone()));
                    sealed.retain(|x| !Arc::ptr_eq(x, s));
                }
                for (seq, path) in wal::list_segments(&shared.wal_dir)? {
                    if seq <= s.wal_through {
                        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                    }
                }
                tracing::debug!(block = %id, spans = s.head.len(), "cut head into block");
                Ok(())
            },
            |(_, st)| st.discard(),
        )?;
        // under load, the WAL writer seals the next head soon: it gets this one's memory
        // (unless a query still reads this head; then the memory goes with the query)
        if !with_head {
            for s in heads {
                if let Ok(done) = Arc::try_unwrap(s) {
                    *shared.spare.lock() = Some(done.head.into_storage());
                }
            }
        }
    }
    Ok(true)
}

/// How many of the oldest sealed heads (of these estimated sizes) to write at once: up to
/// `parallelism`, while together they hold at most `budget` bytes, and always one. Writing a
/// block takes memory of its own, in proportion to its head; heads of large spans (an LLM
/// span's prompt) are sealed at a quarter of the memory limit, and several written at once
/// would hold several times that on top of the limit.
fn heads_at_once(sizes: &[usize], parallelism: usize, budget: usize) -> usize {
    let mut total = 0usize;
    let n = sizes
        .iter()
        .take(parallelism.max(1))
        .take_while(|&&b| {
            total = total.saturating_add(b);
            total <= budget
        })
        .count();
    n.clamp(1.min(sizes.len()), sizes.len())
}

/// Publishes staged blocks in the order given (the WAL's), until one failed to stage or fails
/// to publish; the blocks after it are discarded. A block is never published before an older
/// head's: a restart skips the WAL segments up to the newest block's `wal_through`, so an
/// older head still only in the WAL would be lost.
fn publish_in_order<T>(
    staged: Vec<Result<T>>,
    mut publish: impl FnMut(usize, T) -> Result<()>,
    mut discard: impl FnMut(T),
) -> Result<()> {
    let mut staged = staged.into_iter().enumerate();
    while let Some((i, st)) = staged.next() {
        if let Err(e) = st.and_then(|t| publish(i, t)) {
            staged.flat_map(|(_, st)| st).for_each(&mut discard);
            return Err(e);
        }
    }
    Ok(())
}

/// Writes each head's block under a temporary name, the first on this thread and each other
/// on a thread of its own; the results in the order of `heads`.
fn stage_heads(shared: &Shared, heads: &[Arc<SealedHead>]) -> Vec<Result<(String, StagedBlock)>> {
    let stage = |s: &SealedHead| {
        let id = new_block_id(shared);
        let origin = Origin {
            wal_through: s.wal_through,
            level: 0,
            created_unix_nano: now_nanos(),
            compacted_from: Vec::new(),
        };
        stage_block(
            &shared.blocks_dir,
            &id,
            s.head.spans.iter().collect(),
            origin,
        )
        .map(|st| (id, st))
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = heads[1..]
            .iter()
            .map(|s| {
                std::thread::Builder::new()
                    .name("weft-cutter".into())
                    .spawn_scoped(scope, || stage(s))
            })
            .collect();
        let mut out = vec![stage(&heads[0])];
        for h in others {
            out.push(match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(StoreError::io(
                        "cutter thread",
                        std::io::Error::other("writing a block panicked"),
                    ))
                }),
                Err(e) => Err(StoreError::io("cutter thread", e)),
            });
        }
        out
    })
}

fn compact_once(shared: &Shared) -> Result<bool> {
    let _one_at_a_time = shared.maintenance.lock();
    let fan_in = shared.opts.compaction_fan_in.max(2);
    let candidates: Vec<Arc<Block>> = {
        let blocks = shared.blocks.read();
        let mut by_level: BTreeMap<u32, Vec<Arc<Block>>> = BTreeMap::new();
        for b in blocks.iter() {
            by_level.entry(b.meta.level).or_default().push(b.clone());
        }
        pick_compaction(
            by_level,
            fan_in,
            shared.opts.compaction_max_spans as u64,
            // as much as the head may hold before the cutter takes it
            shared.opts.max_memory_bytes as u64 / 4,
        )
    };
    if candidates.is_empty() {
        return Ok(false);
    }
    let mut spans = Vec::new();
    for b in &candidates {
        spans.extend(b.read_all()?);
    }
    let id = new_block_id(shared);
    let level = candidates.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1;
    let block = write_block(
        &shared.blocks_dir,
        &id,
        spans.iter().collect(),
        candidates
            .iter()
            .map(|b| b.meta.wal_through)
            .max()
            .unwrap_or(0),
        level,
        candidates
            .iter()
            .map(|b| b.meta.created_unix_nano)
            .max()
            .unwrap_or(0),
        candidates.iter().map(|b| b.meta.id.clone()).collect(),
    )?;
    {
        let mut blocks = shared.blocks.write();
        blocks.retain(|b| !candidates.iter().any(|c| Arc::ptr_eq(b, c)));
        blocks.push(Arc::new(block));
        blocks.sort_by_key(|b| (b.meta.min_start_unix_nano, b.meta.id.clone()));
    }
    for b in &candidates {
        std::fs::remove_dir_all(&b.dir).map_err(|e| StoreError::io(&b.dir, e))?;
    }
    shared.counters.compactions.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(block = %id, inputs = candidates.len(), "compacted blocks");
    Ok(true)
}

fn apply_retention(shared: &Shared) -> Result<usize> {
    let _one_at_a_time = shared.maintenance.lock();
    let cutoff = now_nanos().saturating_sub(shared.opts.retention.as_nanos() as u64);
    let mut doomed: Vec<Arc<Block>> = shared
        .blocks
        .read()
        .iter()
        .filter(|b| b.meta.created_unix_nano < cutoff)
        .cloned()
        .collect();
    if let Some(max) = shared.opts.max_disk_bytes {
        let blocks = shared.blocks.read();
        let mut used: u64 =
            blocks.iter().map(|b| b.meta.bytes).sum::<u64>() + wal_bytes(&shared.wal_dir);
        used -= doomed.iter().map(|b| b.meta.bytes).sum::<u64>();
        let mut oldest: Vec<&Arc<Block>> = blocks
            .iter()
            .filter(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)))
            .collect();
        oldest.sort_by_key(|b| b.meta.created_unix_nano);
        for b in oldest {
            if used <= max {
                break;
            }
            used -= b.meta.bytes;
            doomed.push(b.clone());
        }
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    shared
        .blocks
        .write()
        .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)));
    for b in &doomed {
        std::fs::remove_dir_all(&b.dir).map_err(|e| StoreError::io(&b.dir, e))?;
    }
    shared
        .counters
        .retention_deleted
        .fetch_add(doomed.len() as u64, Ordering::Relaxed);
    tracing::info!(blocks = doomed.len(), "retention deleted blocks");
    Ok(doomed.len())
}

/// Sleeps up to `d`, waking early at shutdown; returns whether to go on.
fn pause(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if shared.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    !shared.shutdown.load(Ordering::SeqCst)
}

/// Ends the cutter's wait now (see [`cutter_wait`]).
fn wake_cutter(shared: &Shared) {
    *shared.cutter_wake.lock() = true;
    shared.cutter_cv.notify_one();
}

/// Waits up to `d`, or until [`wake_cutter`] is called; returns whether to go on.
///
/// A head sealed, or memory passing a quarter of the limit, ends the wait at once: a fixed
/// sleep left a sealed head holding its memory for up to the whole interval.
fn cutter_wait(shared: &Shared, d: Duration) -> bool {
    let mut woken = shared.cutter_wake.lock();
    if !*woken && !shared.shutdown.load(Ordering::SeqCst) {
        shared.cutter_cv.wait_for(&mut woken, d);
    }
    *woken = false;
    !shared.shutdown.load(Ordering::SeqCst)
}

/// Cuts the head into a block when it is big (in spans or in memory) or old enough.
fn cutter(shared: Arc<Shared>, wal_tx: mpsc::Sender<WalCmd>) {
    let interval = shared
        .opts
        .maintenance_interval
        .min(Duration::from_millis(200));
    let mut failed = false;
    // no pause while sealed heads wait (the WAL writer seals full heads as they fill), unless
    // the last cut failed (then a full interval before the retry); otherwise a wait that a
    // sealed head or memory pressure ends early
    while (!failed && !shared.sealed.read().is_empty())
        || if failed {
            pause(&shared, interval)
        } else {
            cutter_wait(&shared, interval)
        }
    {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        failed = false;
        // memory counts too: spans big enough (LLM prompts and completions) fill the memory
        // limit long before the head holds `block_max_spans` of them, and writers are refused
        // until the head is cut
        if cut_due(&shared) {
            if let Err(e) = cut_head(&shared, &wal_tx, false) {
                tracing::error!(error = %e, "cutting the head into a block failed; will retry");
                failed = true;
            }
        }
    }
}

/// Which blocks to merge next, from the blocks of each level (lowest level first). A run of
/// blocks fits when together they hold at most `max_spans` spans and `max_bytes` of
/// uncompressed column data: compaction holds the run in memory, and spans with large
/// attribute values (an LLM span's prompt) make few spans many bytes.
///
/// - the oldest `fan_in` consecutive blocks of a level, while the run fits;
/// - or, when the next block would not fit, the run so far if it holds at least two blocks
///   (merging what fits, instead of waiting for small blocks that will never come once the
///   cutter makes big ones);
/// - or else the oldest level-0 block that no neighbour can join (the run broke at it):
///   rewritten alone one level up, so it gets the stronger compression of compacted blocks.
///   Blocks over `max_spans` are left as they are.
fn pick_compaction(
    by_level: BTreeMap<u32, Vec<Arc<Block>>>,
    fan_in: usize,
    max_spans: u64,
    max_bytes: u64,
) -> Vec<Arc<Block>> {
    let mut stuck: Option<Arc<Block>> = None;
    for (level, mut group) in by_level {
        group.sort_by_key(|b| b.meta.min_start_unix_nano);
        let mut run: Vec<Arc<Block>> = Vec::new();
        let (mut spans, mut bytes) = (0u64, 0u64);
        for b in group {
            let b_bytes = b.uncompressed_bytes();
            if (spans + b.meta.span_count > max_spans || bytes + b_bytes > max_bytes)
                && !run.is_empty()
            {
                if run.len() >= 2 {
                    return run;
                }
                // a lone block that its successor cannot join
                if level == 0 && stuck.is_none() && spans <= max_spans {
                    stuck = run.pop();
                }
                run.clear();
                (spans, bytes) = (0, 0);
            }
            spans += b.meta.span_count;
            bytes += b_bytes;
            run.push(b);
            if run.len() == fan_in {
                return run;
            }
        }
    }
    stuck.into_iter().collect()
}

/// Whether the cutter should cut now: [`cut_pending`], or the head is old enough.
fn cut_due(shared: &Shared) -> bool {
    cut_pending(shared) || {
        let head = shared.head.read();
        head.len() > 0 && head.created.elapsed() >= shared.opts.block_max_age
    }
}

/// Whether the in-memory spans need the cutter now: a sealed head waits, the head is full,
/// or more than a quarter of the memory limit is in use.
fn cut_pending(shared: &Shared) -> bool {
    let sealed = shared.sealed.read();
    let head = shared.head.read();
    !sealed.is_empty()
        || head.len() >= shared.opts.block_max_spans
        || head.approx_bytes > shared.opts.max_memory_bytes / 4
}

/// How much lower than the server's other threads the compactor runs (a nice increment).
/// Compaction only makes stored data smaller and faster to read, so when the CPU is short
/// it waits for the work a client is waiting on (receiving, the WAL, cutting the head), as
/// RocksDB runs its compactions at a lower CPU priority. It still runs whenever a CPU is
/// idle, and queries never wait for it.
pub const COMPACTOR_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority by `increment` (Linux: the nice value is a
/// per-thread attribute). Failing is harmless: the thread runs at the server's priority.
fn lower_thread_priority(increment: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread, no pointers involved
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        let now = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
        let nice = (now + increment).min(19);
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "could not lower the compactor's CPU priority"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = increment;
}

/// Applies retention and compacts, every maintenance interval.
fn compactor(shared: Arc<Shared>) {
    lower_thread_priority(COMPACTOR_NICE);
    while pause(&shared, shared.opts.maintenance_interval) {
        if let Err(e) = apply_retention(&shared) {
            tracing::error!(error = %e, "retention failed; will retry");
        }
        // merge while there is work, yielding between rounds; cuts come first: while the head
        // waits to be written (ingest faster than the cutter), merging would take the CPU the
        // cutter needs and writers would be refused sooner
        loop {
            if cut_pending(&shared) {
                break;
            }
            match compact_once(&shared) {
                Ok(true) if !shared.shutdown.load(Ordering::SeqCst) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, "compaction failed; will retry");
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl TraceWriter for EmbeddedStore {
    /// Refuses while the spans in memory (head, sealed heads, queued for the WAL) exceed
    /// `max_memory_bytes`: the cutter is behind.
    fn admit(&self) -> Result<()> {
        let in_memory = {
            let sealed = self.shared.sealed.read();
            let head = self.shared.head.read();
            head.approx_bytes + sealed.iter().map(|s| s.head.approx_bytes).sum::<usize>()
        } as u64
            + self.shared.counters.queued_bytes.load(Ordering::Relaxed);
        if in_memory > self.shared.opts.max_memory_bytes as u64 {
            return Err(StoreError::Overloaded(format!(
                "{in_memory} bytes of spans wait to be written to blocks (limit {})",
                self.shared.opts.max_memory_bytes
            )));
        }
        Ok(())
    }

    async fn write(&self, req: WriteRequest) -> Result<()> {
        if self.shared.shutdown.load(Ordering::Relaxed) {
            return Err(StoreError::ShuttingDown);
        }
        self.admit()?;
        let payload = match req.otlp_protobuf {
            Some(b) => b,
            None => Bytes::from(weft_proto::otlp::encode_request(&req.batch)),
        };
        self.shared
            .counters
            .queued_bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.wal_tx
            .send(WalCmd::Append {
                payload,
                batch: req.batch,
                done: tx,
            })
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::io("query task", std::io::Error::other(e.to_string())))?
}

#[async_trait]
impl TraceReader for EmbeddedStore {
    async fn trace(&self, id: TraceId) -> Result<Option<Batch>> {
        let mut spans = self.memory_spans_of(&id);
        let blocks: Vec<Arc<Block>> = self
            .shared
            .blocks
            .read()
            .iter()
            .filter(|b| b.may_contain(&id))
            .cloned()
            .collect();
        if !blocks.is_empty() {
            let from_blocks = blocking(move || {
                let mut out = Vec::new();
                for b in blocks {
                    out.extend(b.trace(&id)?);
                }
                Ok(out)
            })
            .await?;
            spans.extend(from_blocks);
        }
        if spans.is_empty() {
            return Ok(None);
        }
        spans.sort_by_key(|s| (s.span.start_time_unix_nano, s.span.span_id));
        // a span stored twice (an exporter's retry) is returned once
        spans.dedup_by(|a, b| {
            a.span.span_id == b.span.span_id
                && a.span.start_time_unix_nano == b.span.start_time_unix_nano
        });
        Ok(Some(Batch::from_flat_grouped(spans)))
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchResult> {
        let q = q.clone();
        let shared = self.shared.clone();
        blocking(move || search(&shared, &q)).await
    }

    async fn services(&self) -> Result<Vec<String>> {
        Ok(self.shared.catalog.read().keys().cloned().collect())
    }

    async fn operations(&self, service: &str) -> Result<Vec<Operation>> {
        Ok(self
            .shared
            .catalog
            .read()
            .get(service)
            .map(|ops| ops.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
}

/// The whole summary of one trace: merged from memory and from every block that may hold it.
fn summarize(shared: &Shared, id: TraceId) -> Result<TraceSummary> {
    let mut summary = TraceSummary::new(id);
    {
        let sealed = shared.sealed.read();
        let head = shared.head.read();
        for s in sealed.iter() {
            if let Some(x) = s.head.summary(&id) {
                summary.merge(&x);
            }
        }
        if let Some(x) = head.summary(&id) {
            summary.merge(&x);
        }
    }
    let blocks: Vec<Arc<Block>> = shared.blocks.read().clone();
    for b in blocks.iter().filter(|b| b.may_contain(&id)) {
        if let Some(x) = b.summary(&id)? {
            summary.merge(&x);
        }
    }
    Ok(summary)
}

/// Summarizes candidates newest first until no other candidate can enter the newest `limit`,
/// and returns the start of the `limit`-th newest trace (when there are that many).
///
/// A candidate's key is the start of one of its matching spans, and a trace starts no later
/// than any of its spans: once a key is below the `limit`-th trace start found, neither it
/// nor any later candidate can beat that.
fn settle(
    shared: &Shared,
    candidates: &HashMap<TraceId, u64>,
    summaries: &mut HashMap<TraceId, TraceSummary>,
    limit: usize,
) -> Result<Option<u64>> {
    let mut order: Vec<(u64, TraceId)> = candidates.iter().map(|(id, st)| (*st, *id)).collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    let mut best: std::collections::BinaryHeap<std::cmp::Reverse<u64>> = Default::default();
    for (key, id) in order {
        if best.len() >= limit && best.peek().is_some_and(|k| key < k.0) {
            break;
        }
        let start = match summaries.get(&id) {
            Some(s) => s.start_unix_nano,
            None => {
                let s = summarize(shared, id)?;
                let start = s.start_unix_nano;
                summaries.insert(id, s);
                start
            }
        };
        best.push(std::cmp::Reverse(start));
        if best.len() > limit {
            best.pop();
        }
    }
    Ok((best.len() >= limit)
        .then(|| best.peek().map(|k| k.0))
        .flatten())
}

fn search(shared: &Shared, q: &SearchQuery) -> Result<SearchResult> {
    let limit = q.limit.max(1);
    // trace id -> the start of a matching span (an upper bound of the trace's start)
    let mut candidates: HashMap<TraceId, u64> = HashMap::new();
    let add = |hits: Vec<(TraceId, u64)>, candidates: &mut HashMap<TraceId, u64>| {
        for (id, start) in hits {
            let e = candidates.entry(id).or_insert(start);
            *e = (*e).max(start);
        }
    };
    // memory first (the newest data)
    let mut hits = Vec::new();
    {
        let sealed = shared.sealed.read();
        let head = shared.head.read();
        for s in sealed.iter() {
            s.head.search(q, &mut hits);
        }
        head.search(q, &mut hits);
    }
    add(hits, &mut candidates);
    let mut summaries: HashMap<TraceId, TraceSummary> = HashMap::new();
    // then blocks, newest first, stopping when older blocks cannot change the newest `limit`
    let mut blocks: Vec<Arc<Block>> = shared.blocks.read().clone();
    blocks.sort_by_key(|b| std::cmp::Reverse(b.meta.max_start_unix_nano));
    let mut skipped = false;
    for (i, b) in blocks.iter().enumerate() {
        if candidates.len() >= limit {
            if let Some(kth) = settle(shared, &candidates, &mut summaries, limit)? {
                if b.meta.max_start_unix_nano < kth {
                    skipped = blocks[i..].iter().any(|x| x.meta.span_count > 0);
                    break;
                }
            }
        }
        let mut hits = Vec::new();
        b.search(q, &mut hits)?;
        add(hits, &mut candidates);
    }
    settle(shared, &candidates, &mut summaries, limit)?;
    let mut traces: Vec<TraceSummary> = summaries.into_values().collect();
    traces.sort_by(|a, b| {
        b.start_unix_nano
            .cmp(&a.start_unix_nano)
            .then(a.trace_id.cmp(&b.trace_id))
    });
    let truncated = candidates.len() > limit || skipped;
    traces.truncate(limit);
    Ok(SearchResult { traces, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_reported_once_per_interval_with_the_count() {
        let t0 = Instant::now();
        let mut f = RepeatedFailure::default();
        assert_eq!(f.failed(t0), Some(0), "the first is reported");
        assert_eq!(f.failed(t0 + Duration::from_secs(1)), None);
        assert_eq!(f.failed(t0 + Duration::from_secs(9)), None);
        assert_eq!(
            f.failed(t0 + RepeatedFailure::EVERY),
            Some(2),
            "then one report per interval, with those left out"
        );
        assert_eq!(f.recovered(), Some(4), "the run's length");
        assert_eq!(f.recovered(), None, "a success after a success is no news");
        assert_eq!(f.failed(t0 + Duration::from_secs(11)), Some(0), "a new run");
    }

    fn failed() -> StoreError {
        StoreError::io("test", std::io::Error::other("staging failed"))
    }

    /// Heads are written several at once only while together they fit a quarter of the
    /// memory limit (always at least one, however large).
    #[test]
    fn heads_written_at_once_fit_the_budget() {
        assert_eq!(heads_at_once(&[10, 10, 10, 10, 10], 2, 100), 2);
        assert_eq!(heads_at_once(&[10, 10, 10, 10, 10], 4, 100), 4);
        assert_eq!(heads_at_once(&[10, 10, 10], 4, 100), 3);
        assert_eq!(heads_at_once(&[40, 40, 40], 4, 100), 2);
        assert_eq!(heads_at_once(&[60, 60], 4, 100), 1);
        assert_eq!(heads_at_once(&[500, 10], 4, 100), 1);
        assert_eq!(heads_at_once(&[10, 10], 0, 100), 1);
        assert_eq!(heads_at_once(&[usize::MAX, usize::MAX], 4, 100), 1);
        assert_eq!(heads_at_once(&[], 4, 100), 0);
    }

    /// Heads cut in parallel are published oldest first, and nothing after a head that failed
    /// is published: it is discarded (its spans stay in the WAL for the next cut).
    #[test]
    fn blocks_after_a_failed_head_are_discarded_not_published() {
        let mut published = Vec::new();
        let mut discarded = Vec::new();
        let r = publish_in_order(
            vec![Ok(0), Ok(1), Err(failed()), Ok(3), Ok(4)],
            |_, b| {
                published.push(b);
                Ok(())
            },
            |b| discarded.push(b),
        );
        assert!(r.is_err());
        assert_eq!(published, [0, 1]);
        assert_eq!(discarded, [3, 4]);

        // a publication that fails stops the rest the same way
        let (mut published, mut discarded) = (Vec::new(), Vec::new());
        let r = publish_in_order(
            vec![Ok(0), Ok(1), Ok(2)],
            |i, b| {
                if i == 1 {
                    return Err(failed());
                }
                published.push(b);
                Ok(())
            },
            |b| discarded.push(b),
        );
        assert!(r.is_err());
        assert_eq!(published, [0]);
        assert_eq!(discarded, [2]);

        let mut published = Vec::new();
        publish_in_order(
            vec![Ok(0), Ok(1), Ok(2)],
            |i, b| {
                assert_eq!(i, b);
                published.push(b);
                Ok(())
            },
            |_: usize| panic!("nothing to discard"),
        )
        .unwrap();
        assert_eq!(published, [0, 1, 2]);
    }
}
