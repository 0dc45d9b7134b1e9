//! The opt-in file archive: every trace as OTLP/JSON in `<dir>/YYYY/MM/DD/<trace_id>.json`.
//!
//! [`ArchivingWriter`] wraps the store's writer: after a batch is stored it records the batch's
//! trace ids with the time they were touched. A background task ([`Archive::run`]) writes a
//! trace once no span of it has arrived for the idle time: it reads the whole trace back through
//! the [`TraceReader`] and writes it atomically (a temporary file, then a rename) to the day of
//! the trace's start (UTC). Spans that arrive later touch the trace again, so it is rewritten.
//! The map of touched traces is bounded: when it is full, the trace touched longest ago is
//! archived early. On shutdown every pending trace is written.
//!
//! Retention: files written longer ago than the retention are deleted (the file's modification
//! time counts, never the span timestamps, so a client with a skewed clock cannot get a trace
//! deleted at once), then empty day, month and year directories of old dates. Only files of the
//! archive layout are touched.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{watch, Notify};
use weft_model::{Batch, TraceId};
use weft_store::{TraceReader, TraceWriter, WriteRequest};

/// Settings of the archive (see `weft serve --help`).
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveOptions {
    pub dir: PathBuf,
    /// Files written longer ago than this are deleted.
    pub retention: Duration,
    /// A trace is written once no span of it arrived for this long.
    pub idle: Duration,
    /// At most this many traces wait to be written; beyond it the oldest is written early.
    pub max_pending: usize,
}

impl crate::ServerConfig {
    /// The archive's settings, when `--archive-dir` is set.
    pub fn archive_options(&self) -> Option<ArchiveOptions> {
        self.archive_dir.as_ref().map(|dir| ArchiveOptions {
            dir: dir.clone(),
            retention: self.archive_retention,
            idle: self.archive_idle,
            max_pending: self.archive_max_pending,
        })
    }
}

#[derive(Default)]
struct Pending {
    /// trace → (last touch, sequence number)
    last: HashMap<TraceId, (Instant, u64)>,
    /// (last touch, sequence number) → trace: the order in which traces fall idle
    order: BTreeMap<(Instant, u64), TraceId>,
    seq: u64,
    /// Traces pushed out of a full map, to be written at once (at most as many as the map).
    due: Vec<TraceId>,
    /// Traces pushed out while `due` was full too: never archived.
    dropped: u64,
}

impl Pending {
    fn touch(&mut self, id: TraceId, now: Instant, cap: usize) {
        match self.last.get(&id) {
            Some(k) => {
                self.order.remove(k);
            }
            None if self.last.len() >= cap => {
                if let Some((_, oldest)) = self.order.pop_first() {
                    self.last.remove(&oldest);
                    if self.due.len() < cap {
                        self.due.push(oldest);
                    } else {
                        self.dropped += 1;
                    }
                }
            }
            None => {}
        }
        self.seq += 1;
        self.last.insert(id, (now, self.seq));
        self.order.insert((now, self.seq), id);
    }

    fn remove(&mut self, id: &TraceId) {
        if let Some(k) = self.last.remove(id) {
            self.order.remove(&k);
        }
    }

    /// Traces idle since `cutoff` (or pushed out early), removed from the map: a span that
    /// arrives while they are written touches them again.
    fn take_ready(&mut self, cutoff: Instant) -> Vec<TraceId> {
        let mut out = std::mem::take(&mut self.due);
        while let Some(entry) = self.order.first_entry() {
            if entry.key().0 > cutoff {
                break;
            }
            let id = entry.remove();
            self.last.remove(&id);
            out.push(id);
        }
        out
    }

    fn take_all(&mut self) -> Vec<TraceId> {
        let mut out = std::mem::take(&mut self.due);
        out.extend(std::mem::take(&mut self.order).into_values());
        self.last.clear();
        out
    }
}

/// The archive: pending traces, the reader to load them, counters.
pub struct Archive {
    opts: ArchiveOptions,
    reader: Arc<dyn TraceReader>,
    pending: Mutex<Pending>,
    wake: Notify,
    tmp_seq: AtomicU64,
    /// Files written (first writes and rewrites).
    pub written: AtomicU64,
    /// Write or read failures.
    pub errors: AtomicU64,
    /// Traces never archived because the archive fell behind by more than `max_pending`.
    pub dropped: AtomicU64,
}

impl Archive {
    pub fn new(opts: ArchiveOptions, reader: Arc<dyn TraceReader>) -> Archive {
        Archive {
            opts,
            reader,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            tmp_seq: AtomicU64::new(0),
            written: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn options(&self) -> &ArchiveOptions {
        &self.opts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that spans of these traces were stored now.
    pub fn touch(&self, ids: impl IntoIterator<Item = TraceId>) {
        let now = Instant::now();
        let mut p = self.lock();
        for id in ids {
            p.touch(id, now, self.opts.max_pending);
        }
        let early = !p.due.is_empty();
        let dropped = std::mem::take(&mut p.dropped);
        drop(p);
        if dropped > 0 {
            let before = self.dropped.fetch_add(dropped, Ordering::Relaxed);
            // one warning per thousand, not one per trace
            if before / 1000 != (before + dropped) / 1000 || before == 0 {
                tracing::warn!(
                    dropped = before + dropped,
                    "the archive falls behind: traces were not archived (raise --archive-max-pending or use faster disks)"
                );
            }
        }
        if early {
            self.wake.notify_one();
        }
    }

    /// The file of a trace that started at `start_unix_nano`.
    pub fn path_for(&self, id: &TraceId, start_unix_nano: u64) -> PathBuf {
        let days = (start_unix_nano / 86_400_000_000_000) as i64;
        day_dir(&self.opts.dir, days).join(format!("{}.json", id.to_hex()))
    }

    /// Writes one trace now (it leaves the pending map). `Ok(false)` when the store does not
    /// have it.
    pub async fn archive_now(&self, id: TraceId) -> Result<bool, String> {
        self.lock().remove(&id);
        self.write_trace(id).await
    }

    async fn write_trace(&self, id: TraceId) -> Result<bool, String> {
        let batch = match self.reader.trace(id).await {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                return Err(format!("cannot read trace {id} to archive it: {e}"));
            }
        };
        let start = batch
            .spans()
            .map(|s| s.span.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let path = self.path_for(&id, start);
        let tmp = path.with_file_name(format!(
            ".{}.{}.tmp",
            id.to_hex(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let body = weft_proto::json::encode_traces_data(&batch);
        let days = (start / 86_400_000_000_000) as i64;
        let dir = self.opts.dir.clone();
        let name = format!("{}.json", id.to_hex());
        let res = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            write_atomically(&path, &tmp, &body)?;
            // a late span can move the start to another day: drop the copy of the old day
            for d in [days - 1, days + 1] {
                let old = day_dir(&dir, d).join(&name);
                if old.exists() {
                    std::fs::remove_file(&old)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        match res {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                Err(format!(
                    "cannot archive trace {id} in {}: {e}",
                    self.opts.dir.display()
                ))
            }
        }
    }

    /// Writes traces, a few at a time.
    async fn write_all(self: &Arc<Self>, ids: Vec<TraceId>) {
        const CONCURRENCY: usize = 4;
        let mut set = tokio::task::JoinSet::new();
        for id in ids {
            if set.len() >= CONCURRENCY {
                set.join_next().await;
            }
            let me = self.clone();
            set.spawn(async move {
                if let Err(e) = me.write_trace(id).await {
                    tracing::warn!(error = %e, "archive write failed");
                }
            });
        }
        while set.join_next().await.is_some() {}
    }

    /// Writes every pending trace (on shutdown, after the receivers stopped).
    pub async fn flush_all(self: &Arc<Self>) {
        let ids = self.lock().take_all();
        let n = ids.len();
        self.write_all(ids).await;
        if n > 0 {
            tracing::info!(traces = n, "archived the pending traces");
        }
    }

    /// The background task: writes idle traces, and applies retention at start and then
    /// periodically, until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let tick = (self.opts.idle / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let cleanup_every =
            (self.opts.retention / 24).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        let mut last_cleanup: Option<Instant> = None;
        loop {
            if last_cleanup.is_none_or(|t| t.elapsed() >= cleanup_every) {
                self.apply_retention().await;
                last_cleanup = Some(Instant::now());
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|v| *v) => return,
            }
            let cutoff = Instant::now().checked_sub(self.opts.idle);
            let ids = {
                let mut p = self.lock();
                match cutoff {
                    Some(c) => p.take_ready(c),
                    None => std::mem::take(&mut p.due),
                }
            };
            self.write_all(ids).await;
        }
    }

    /// Deletes archive files written longer ago than the retention, then empty directories
    /// of days that ended before it. Returns (files, directories) removed.
    pub async fn apply_retention(&self) -> (u64, u64) {
        let dir = self.opts.dir.clone();
        let retention = self.opts.retention;
        let res = tokio::task::spawn_blocking(move || remove_old(&dir, retention)).await;
        match res {
            Ok((files, dirs, errors)) => {
                if files > 0 || dirs > 0 {
                    tracing::info!(
                        files,
                        dirs,
                        dir = %self.opts.dir.display(),
                        "archive retention removed old traces"
                    );
                }
                for e in errors.iter().take(3) {
                    tracing::warn!(error = %e, "archive retention could not remove an entry");
                }
                (files, dirs)
            }
            Err(e) => {
                tracing::warn!(error = %e, "archive retention task failed");
                (0, 0)
            }
        }
    }
}

/// A [`TraceWriter`] that stores through `inner` and then tells the archive which traces
/// were touched.
pub struct ArchivingWriter {
    inner: Arc<dyn TraceWriter>,
    archive: Arc<Archive>,
}

impl ArchivingWriter {
    pub fn new(inner: Arc<dyn TraceWriter>, archive: Arc<Archive>) -> ArchivingWriter {
        ArchivingWriter { inner, archive }
    }
}

#[async_trait]
impl TraceWriter for ArchivingWriter {
    fn admit(&self) -> weft_store::Result<()> {
        self.inner.admit()
    }
    async fn write(&self, req: WriteRequest) -> weft_store::Result<()> {
        let ids = trace_ids(&req.batch);
        self.inner.write(req).await?;
        self.archive.touch(ids);
        Ok(())
    }
}

fn trace_ids(b: &Batch) -> Vec<TraceId> {
    let mut seen = HashSet::new();
    b.spans()
        .map(|s| s.span.trace_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

fn write_atomically(path: &Path, tmp: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let res = (|| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(body)?;
        f.sync_data()?;
        std::fs::rename(tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    res
}

/// `<dir>/YYYY/MM/DD` of a day counted from 1970-01-01.
fn day_dir(dir: &Path, days: i64) -> PathBuf {
    let (y, m, d) = civil_from_days(days);
    dir.join(format!("{y:04}"))
        .join(format!("{m:02}"))
        .join(format!("{d:02}"))
}

/// (year, month, day) of a day counted from 1970-01-01 (proleptic Gregorian, UTC).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days from 1970-01-01 to (year, month, day).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn numeric(name: &std::ffi::OsStr, len: usize) -> Option<u32> {
    let s = name.to_str()?;
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn subdirs(dir: &Path, len: usize) -> Vec<(u32, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| numeric(&e.file_name(), len).map(|n| (n, e.path())))
        .collect()
}

fn remove_empty_dir(dir: &Path, dirs: &mut u64, errors: &mut Vec<String>) {
    let empty = std::fs::read_dir(dir).is_ok_and(|mut r| r.next().is_none());
    if empty {
        match std::fs::remove_dir(dir) {
            Ok(()) => *dirs += 1,
            Err(e) => errors.push(format!("{}: {e}", dir.display())),
        }
    }
}

/// Retention over the archive layout; returns (files, dirs, errors).
fn remove_old(root: &Path, retention: Duration) -> (u64, u64, Vec<String>) {
    let now = SystemTime::now();
    let cutoff = now.checked_sub(retention).unwrap_or(SystemTime::UNIX_EPOCH);
    let cutoff_days = cutoff
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0);
    let (mut files, mut dirs, mut errors) = (0u64, 0u64, Vec::new());
    for (y, ydir) in subdirs(root, 4) {
        for (m, mdir) in subdirs(&ydir, 2) {
            for (d, ddir) in subdirs(&mdir, 2) {
                if let Ok(rd) = std::fs::read_dir(&ddir) {
                    for e in rd.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if !(name.ends_with(".json") || name.ends_with(".tmp")) {
                            continue;
                        }
                        let old = e
                            .metadata()
                            .and_then(|md| md.modified())
                            .is_ok_and(|t| t < cutoff);
                        if old {
                            match std::fs::remove_file(e.path()) {
                                Ok(()) => files += 1,
                                Err(err) => errors.push(format!("{}: {err}", e.path().display())),
                            }
                        }
                    }
                }
                // a directory is removed only when empty and its whole day lies before the
                // cutoff, so a day being written to is never pulled from under a writer
                if days_from_civil(y.into(), m, d) < cutoff_days {
                    remove_empty_dir(&ddir, &mut dirs, &mut errors);
                }
            }
            let next_month = if m == 12 {
                days_from_civil(i64::from(y) + 1, 1, 1)
            } else {
                days_from_civil(y.into(), m + 1, 1)
            };
            if next_month <= cutoff_days {
                remove_empty_dir(&mdir, &mut dirs, &mut errors);
            }
        }
        if days_from_civil(i64::from(y) + 1, 1, 1) <= cutoff_days {
            remove_empty_dir(&ydir, &mut dirs, &mut errors);
        }
    }
    (files, dirs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        for (days, ymd) in [
            (0, (1970, 1, 1)),
            (19_675, (2023, 11, 14)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
        ] {
            assert_eq!(civil_from_days(days), ymd, "{days}");
            assert_eq!(days_from_civil(ymd.0, ymd.1, ymd.2), days);
        }
    }

    fn id(n: u8) -> TraceId {
        TraceId([n; 16])
    }

    #[test]
    fn pending_is_bounded_and_orders_by_last_touch() {
        let mut p = Pending::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        p.touch(id(1), at(0), 2);
        p.touch(id(2), at(1), 2);
        p.touch(id(1), at(2), 2); // 1 is now the most recent
        p.touch(id(3), at(3), 2); // full: 2, touched longest ago, goes early
        assert_eq!(p.due, vec![id(2)]);
        assert_eq!(p.last.len(), 2);
        assert_eq!(p.take_ready(at(2)), vec![id(2), id(1)]);
        assert_eq!(p.take_ready(at(2)), vec![]);
        assert_eq!(p.take_all(), vec![id(3)]);
        assert!(p.last.is_empty() && p.order.is_empty());
    }

    #[test]
    fn traces_pushed_out_wait_in_a_bounded_list() {
        let mut p = Pending::default();
        let t0 = Instant::now();
        p.touch(id(1), t0, 1);
        p.touch(id(2), t0, 1); // 1 is pushed out and waits
        p.touch(id(3), t0, 1); // 2 is pushed out, but the waiting list is full
        assert_eq!((p.due.clone(), p.dropped), (vec![id(1)], 1));
        assert_eq!(p.take_all(), vec![id(1), id(3)]);
    }

    #[test]
    fn retention_removes_old_files_and_empty_old_dirs_only() {
        let root = tempfile::tempdir().unwrap();
        let old_day = root.path().join("2020/01/02");
        let new_day = day_dir(
            root.path(),
            (SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                / 86_400) as i64,
        );
        std::fs::create_dir_all(&old_day).unwrap();
        std::fs::create_dir_all(&new_day).unwrap();
        let old = old_day.join("a.json");
        let recent_in_old_day = root.path().join("2020/01/02/b.json");
        let foreign = root.path().join("2020/01/02/notes.txt");
        std::fs::write(&old, "{}").unwrap();
        std::fs::write(&recent_in_old_day, "{}").unwrap();
        std::fs::write(&foreign, "mine").unwrap();
        let backdate = |p: &Path| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(40 * 86_400))
                .unwrap()
        };
        backdate(&old);
        backdate(&foreign);
        let (files, dirs, errors) = remove_old(root.path(), Duration::from_secs(30 * 86_400));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((files, dirs), (1, 0));
        assert!(!old.exists() && recent_in_old_day.exists() && foreign.exists());
        std::fs::remove_file(&recent_in_old_day).unwrap();
        std::fs::remove_file(&foreign).unwrap();
        let (files, dirs, _) = remove_old(root.path(), Duration::from_secs(30 * 86_400));
        assert_eq!((files, dirs), (0, 3), "day, month and year of 2020 go");
        assert!(!root.path().join("2020").exists());
        assert!(new_day.exists(), "today's empty directory stays");
    }
}
