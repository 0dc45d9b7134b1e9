//! A small split-free bloom filter over trace ids, one per block, kept in memory so that a
//! trace-by-id lookup touches only the blocks that may hold the trace.

use weft_model::TraceId;

#[derive(Clone, Debug, PartialEq)]
pub struct Bloom {
    bits: Vec<u64>,
    k: u32,
}

const MAGIC: &[u8; 8] = b"WEFTBLM1";

impl Bloom {
    /// Sized for `n` ids at roughly 1% false positives (10 bits per id, 7 hashes).
    pub fn with_capacity(n: usize) -> Bloom {
        let bits = (n.max(1) * 10).next_power_of_two().max(64);
        Bloom {
            bits: vec![0; bits / 64],
            k: 7,
        }
    }

    fn positions(&self, id: &TraceId) -> impl Iterator<Item = usize> + '_ {
        // Trace ids are random: their two halves are independent hashes already.
        let h1 = u64::from_le_bytes(id.0[0..8].try_into().expect("8 bytes"));
        let h2 = u64::from_le_bytes(id.0[8..16].try_into().expect("8 bytes")) | 1;
        let mask = (self.bits.len() * 64 - 1) as u64;
        (0..self.k as u64).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) & mask) as usize)
    }

    pub fn insert(&mut self, id: &TraceId) {
        let pos: Vec<usize> = self.positions(id).collect();
        for p in pos {
            self.bits[p / 64] |= 1 << (p % 64);
        }
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.positions(id)
            .all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.bits.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.k.to_le_bytes());
        for w in &self.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Option<Bloom> {
        if b.len() < 12 || &b[..8] != MAGIC || !(b.len() - 12).is_multiple_of(8) {
            return None;
        }
        let k = u32::from_le_bytes(b[8..12].try_into().ok()?);
        let bits: Vec<u64> = b[12..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if bits.is_empty() || !bits.len().is_power_of_two() || k == 0 || k > 32 {
            return None;
        }
        Some(Bloom { bits, k })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u64) -> TraceId {
        // a cheap mix so ids look random
        let a = i.wrapping_mul(0x9E3779B97F4A7C15);
        let b = a.rotate_left(17) ^ 0xD6E8FEB86659FD93;
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&a.to_le_bytes());
        t[8..].copy_from_slice(&b.to_le_bytes());
        TraceId(t)
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::with_capacity(10_000);
        for i in 0..10_000 {
            b.insert(&id(i));
        }
        assert!((0..10_000).all(|i| b.may_contain(&id(i))));
        let fp = (1_000_000..1_100_000)
            .filter(|&i| b.may_contain(&id(i)))
            .count();
        assert!(fp < 3_000, "false positive rate too high: {fp} / 100000");
        let back = Bloom::from_bytes(&b.to_bytes()).unwrap();
        assert_eq!(back, b);
        assert!(Bloom::from_bytes(b"garbage").is_none());
    }
}
