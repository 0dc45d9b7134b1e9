//! A Parquet `ChunkReader` over positional reads (`pread`).
//!
//! parquet's own `ChunkReader for File` seeks a cloned descriptor, and cloned descriptors share
//! one file offset: two queries reading the same block at once would read each other's bytes
//! (seen as zstd "Unknown frame descriptor" errors). Positional reads share no state.

use bytes::Bytes;
use parquet::errors::{ParquetError, Result};
use parquet::file::reader::{ChunkReader, Length};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct PreadFile {
    file: Arc<File>,
    len: u64,
}

impl PreadFile {
    pub fn new(file: File) -> std::io::Result<PreadFile> {
        let len = file.metadata()?.len();
        Ok(PreadFile {
            file: Arc::new(file),
            len,
        })
    }
}

impl Length for PreadFile {
    fn len(&self) -> u64 {
        self.len
    }
}

pub struct PreadReader {
    file: Arc<File>,
    pos: u64,
}

impl Read for PreadReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl ChunkReader for PreadFile {
    type T = PreadReader;

    fn get_read(&self, start: u64) -> Result<PreadReader> {
        Ok(PreadReader {
            file: self.file.clone(),
            pos: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut buf = vec![0; length];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_positional_reads_do_not_interfere() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        std::fs::write(&p, &data).unwrap();
        let f = PreadFile::new(File::open(&p).unwrap()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let f = f.clone();
                let data = &data;
                s.spawn(move || {
                    for i in 0..200u64 {
                        let start = (t * 7919 + i * 104_729) % ((1 << 20) - 4096);
                        let got = f.get_bytes(start, 4096).unwrap();
                        assert_eq!(&got[..], &data[start as usize..start as usize + 4096]);
                        let mut r = f.get_read(start).unwrap();
                        let mut buf = [0u8; 512];
                        r.read_exact(&mut buf).unwrap();
                        assert_eq!(&buf[..], &data[start as usize..start as usize + 512]);
                    }
                });
            }
        });
    }
}
