//! Write-ahead log segments.
//!
//! A segment is a file `NNNNNNNNNNNNNNNNNNNN.wal` (its sequence number) that starts with the
//! 8-byte magic `WEFTWAL1`, followed by frames: `len: u32 LE | crc32: u32 LE | payload`.
//! The payload is an OTLP protobuf `ExportTraceServiceRequest`. Frames are appended in groups
//! (group commit) and the group is made durable with one `fdatasync` before any request in it
//! is acknowledged. A group whose write or sync fails is undone (the segment is cut back to
//! its length before the group): a failed group leaves neither a torn frame nor the frames
//! of its requests, which were told they failed, behind in the segment.
//!
//! Replay reads frames until the end; a frame whose length runs past the end of the file or
//! whose checksum does not match is reported, and replay resumes at the next offset where a
//! whole, valid frame starts (so one corrupt frame does not cost the frames after it). A torn
//! tail (no valid frame after the damage) is cut off so the next start does not report it again.

use crate::{Result, StoreError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const SEGMENT_MAGIC: &[u8; 8] = b"WEFTWAL1";
const FRAME_HEADER: usize = 8;
/// The largest frame a segment may hold; larger lengths are treated as corruption.
pub const MAX_FRAME: usize = 512 << 20;

pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// Segments in `dir`, sorted by sequence number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(num) = name.strip_suffix(".wal") {
            if let Ok(seq) = num.parse::<u64>() {
                out.push((seq, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Appends frames to one segment.
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    seq: u64,
    /// The segment's committed length: everything before it was written (and synced, when
    /// asked) by a commit that succeeded.
    bytes: u64,
    buf: Vec<u8>,
    /// A failed commit could not be undone yet (see [`SegmentWriter::commit`]).
    undo_pending: bool,
}

impl SegmentWriter {
    pub fn create(dir: &Path, seq: u64) -> Result<SegmentWriter> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        file.write_all(SEGMENT_MAGIC)
            .and_then(|_| file.sync_all())
            .map_err(|e| StoreError::io(&path, e))?;
        sync_dir(dir)?;
        Ok(SegmentWriter {
            file,
            path,
            seq,
            bytes: SEGMENT_MAGIC.len() as u64,
            buf: Vec::new(),
            undo_pending: false,
        })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Buffers one frame; nothing reaches the file before [`SegmentWriter::commit`].
    pub fn append(&mut self, payload: &[u8]) {
        self.buf
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        self.buf.extend_from_slice(payload);
    }

    /// Writes the buffered frames with one `write` and, when `fsync`, makes them durable.
    ///
    /// A commit that fails (a full disk, a file-size limit, an I/O error) is undone: its
    /// frames are dropped and the segment is cut back to its committed length, so that
    /// neither a torn frame nor the frames of requests that were told they failed are written
    /// by a later commit or replayed after a restart. While the cut cannot be made, every
    /// commit fails without writing.
    pub fn commit(&mut self, fsync: bool) -> Result<()> {
        let res = self.undo_failed().and_then(|()| self.write_group(fsync));
        if res.is_err() {
            self.buf.clear();
            self.undo_pending = true;
            if let Err(e) = self.undo_failed() {
                tracing::error!(error = %e, "could not cut the WAL segment back after a failed commit; writes fail until it can be");
            }
        }
        res
    }

    fn write_group(&mut self, fsync: bool) -> Result<()> {
        let io = |e| StoreError::io(&self.path, e);
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf).map_err(io)?;
        }
        if fsync {
            self.file.sync_data().map_err(io)?;
        }
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Cuts the segment back to its committed length after a failed commit.
    fn undo_failed(&mut self) -> Result<()> {
        if self.undo_pending {
            self.file
                .set_len(self.bytes)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.bytes)))
                .and_then(|_| self.file.sync_data())
                .map_err(|e| StoreError::io(&self.path, e))?;
            self.undo_pending = false;
        }
        Ok(())
    }
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Damage found while replaying a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Damage {
    pub offset: u64,
    pub skipped_bytes: u64,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayReport {
    pub frames: u64,
    pub damage: Vec<Damage>,
    /// The segment was cut at this length because its tail was torn.
    pub truncated_to: Option<u64>,
}

fn frame_at(data: &[u8], off: usize) -> std::result::Result<(usize, &[u8]), String> {
    let rest = &data[off..];
    if rest.len() < FRAME_HEADER {
        return Err(format!(
            "torn frame header ({} of {FRAME_HEADER} bytes)",
            rest.len()
        ));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len > MAX_FRAME {
        return Err(format!(
            "frame length {len} exceeds the maximum {MAX_FRAME}"
        ));
    }
    if rest.len() < FRAME_HEADER + len {
        return Err(format!(
            "torn frame: header says {len} bytes, {} remain",
            rest.len() - FRAME_HEADER
        ));
    }
    let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".to_string());
    }
    Ok((FRAME_HEADER + len, payload))
}

/// Replays one segment, calling `f` for each valid frame in order.
pub fn replay_segment(path: &Path, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<ReplayReport> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    let mut data = Vec::new();
    #[allow(clippy::disallowed_methods)] // a local segment, bounded by the segment size
    file.read_to_end(&mut data)
        .map_err(|e| StoreError::io(path, e))?;
    let mut report = ReplayReport::default();
    if data.len() < SEGMENT_MAGIC.len() || &data[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        if data.is_empty() || SEGMENT_MAGIC.starts_with(&data) {
            // created but the magic never fully reached the disk: an empty segment
            report.truncated_to = Some(0);
            return Ok(report);
        }
        return Err(StoreError::Corrupt {
            path: path.display().to_string(),
            message: "not a weft WAL segment (bad magic); move it away to start".into(),
        });
    }
    let mut off = SEGMENT_MAGIC.len();
    while off < data.len() {
        match frame_at(&data, off) {
            Ok((n, payload)) => {
                f(payload)?;
                report.frames += 1;
                off += n;
            }
            Err(reason) => {
                // look for the next offset where a whole valid frame starts
                let next = (off + 1..data.len()).find(|&o| frame_at(&data, o).is_ok());
                match next {
                    Some(n) => {
                        report.damage.push(Damage {
                            offset: off as u64,
                            skipped_bytes: (n - off) as u64,
                            reason,
                        });
                        off = n;
                    }
                    None => {
                        report.damage.push(Damage {
                            offset: off as u64,
                            skipped_bytes: (data.len() - off) as u64,
                            reason,
                        });
                        file.set_len(off as u64)
                            .and_then(|_| file.seek(SeekFrom::End(0)).map(|_| ()))
                            .and_then(|_| file.sync_all())
                            .map_err(|e| StoreError::io(path, e))?;
                        report.truncated_to = Some(off as u64);
                        break;
                    }
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, frames: &[&[u8]]) -> PathBuf {
        let mut w = SegmentWriter::create(dir, 1).unwrap();
        for f in frames {
            w.append(f);
        }
        w.commit(true).unwrap();
        segment_path(dir, 1)
    }

    fn replay(path: &Path) -> (Vec<Vec<u8>>, ReplayReport) {
        let mut got = Vec::new();
        let r = replay_segment(path, |p| {
            got.push(p.to_vec());
            Ok(())
        })
        .unwrap();
        (got, r)
    }

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), &[b"one", b"", b"three"]);
        let (got, r) = replay(&p);
        assert_eq!(got, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
        assert_eq!(r.frames, 3);
        assert!(r.damage.is_empty());
    }

    #[test]
    fn torn_tail_is_reported_and_cut_keeping_earlier_frames() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), &[b"alpha", b"beta", b"gamma-gamma"]);
        let len = std::fs::metadata(&p).unwrap().len();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 4).unwrap();
        let (got, r) = replay(&p);
        assert_eq!(got, vec![b"alpha".to_vec(), b"beta".to_vec()]);
        assert_eq!(r.damage.len(), 1);
        assert!(r.damage[0].reason.contains("torn"), "{:?}", r.damage);
        let cut = r.truncated_to.unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), cut);
        // a second replay is clean
        let (got2, r2) = replay(&p);
        assert_eq!(got2.len(), 2);
        assert!(r2.damage.is_empty());
    }

    #[test]
    fn corrupt_middle_frame_is_skipped_and_later_frames_survive() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), &[b"first-frame", b"second-frame", b"third-frame"]);
        let mut data = std::fs::read(&p).unwrap();
        // flip a payload byte of the second frame
        let second = 8 + 8 + 11 + 8 + 2;
        data[second] ^= 0xff;
        std::fs::write(&p, &data).unwrap();
        let (got, r) = replay(&p);
        assert_eq!(got, vec![b"first-frame".to_vec(), b"third-frame".to_vec()]);
        assert_eq!(r.damage.len(), 1);
        assert_eq!(r.damage[0].reason, "checksum mismatch");
        assert_eq!(r.damage[0].offset, 8 + 8 + 11);
        assert!(r.truncated_to.is_none());
    }

    #[test]
    fn bad_magic_is_an_error_and_empty_segment_is_fine() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("00000000000000000001.wal");
        std::fs::write(&p, b"NOTAWAL!xxxx").unwrap();
        assert!(replay_segment(&p, |_| Ok(())).is_err());
        std::fs::write(&p, b"WEFT").unwrap();
        assert_eq!(replay_segment(&p, |_| Ok(())).unwrap().frames, 0);
        assert_eq!(list_segments(d.path()).unwrap().len(), 1);
    }
}
