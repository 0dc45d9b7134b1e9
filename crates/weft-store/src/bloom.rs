//! A small split-free bloom filter over trace ids, one per block, kept in memory so that a
//! trace-by-id lookup touches only the blocks that may hold the trace.

use weft_model::TraceId;

#[derive(Clone, Debug, PartialEq)]
pub struct Bloom {
    bits: Vec<u64>,
    k: u32,
    /// Sized exactly (a multiple of 64 bits), positions by multiply-shift; older filters are
    /// a power of two in size, positions by mask (up to twice the bits for the same rate).
    exact: bool,
}

/// Power-of-two filters (read only).
const MAGIC_POW2: &[u8; 8] = b"WEFTBLM1";
/// Exactly sized filters.
const MAGIC: &[u8; 8] = b"WEFTBLM2";

impl Bloom {
    /// Sized for `n` ids at roughly 1% false positives (10 bits per id, 7 hashes).
    pub fn with_capacity(n: usize) -> Bloom {
        Self::with_bits_per_item(n, 10, 7)
    }

    /// Sized for `n` attribute terms at roughly 0.1% false positives (14 bits per term, 9
    /// hashes): a search probes every typed form of a value (up to six terms) in every row
    /// group, so the per-term rate must be well below the per-search rate wanted.
    pub fn for_terms(n: usize) -> Bloom {
        Self::with_bits_per_item(n, 14, 9)
    }

    fn with_bits_per_item(n: usize, bits_per_item: usize, k: u32) -> Bloom {
        let words = (n.max(1) * bits_per_item).div_ceil(64).max(1);
        Bloom {
            bits: vec![0; words],
            k,
            exact: true,
        }
    }

    fn positions(&self, (h1, h2): (u64, u64)) -> impl Iterator<Item = usize> + '_ {
        let h2 = h2 | 1;
        let n = (self.bits.len() * 64) as u64;
        let exact = self.exact;
        (0..self.k as u64).map(move |i| {
            let x = h1.wrapping_add(i.wrapping_mul(h2));
            if exact {
                // the position scales the hash's top bits (x * n / 2^64); mix the low bits up
                // first, as consecutive i differ in them most
                let x = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                ((u128::from(x) * u128::from(n)) >> 64) as usize
            } else {
                (x & (n - 1)) as usize
            }
        })
    }

    /// Trace ids are random: their two halves are independent hashes already.
    fn id_hashes(id: &TraceId) -> (u64, u64) {
        (
            u64::from_le_bytes(id.0[0..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(id.0[8..16].try_into().expect("8 bytes")),
        )
    }

    pub fn insert(&mut self, id: &TraceId) {
        self.insert_hashes(Self::id_hashes(id));
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.may_contain_hashes(Self::id_hashes(id))
    }

    /// Inserts a byte string (an attribute term).
    pub fn insert_bytes(&mut self, b: &[u8]) {
        self.insert_hashes(bytes_hashes(b));
    }

    pub fn may_contain_bytes(&self, b: &[u8]) -> bool {
        self.may_contain_hashes(bytes_hashes(b))
    }

    fn insert_hashes(&mut self, h: (u64, u64)) {
        let pos: Vec<usize> = self.positions(h).collect();
        for p in pos {
            self.bits[p / 64] |= 1 << (p % 64);
        }
    }

    fn may_contain_hashes(&self, h: (u64, u64)) -> bool {
        self.positions(h)
            .all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.bits.len() * 8);
        out.extend_from_slice(if self.exact { MAGIC } else { MAGIC_POW2 });
        out.extend_from_slice(&self.k.to_le_bytes());
        for w in &self.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Option<Bloom> {
        let exact = match &b.get(..8)? {
            m if *m == MAGIC => true,
            m if *m == MAGIC_POW2 => false,
            _ => return None,
        };
        if b.len() < 12 || !(b.len() - 12).is_multiple_of(8) {
            return None;
        }
        let k = u32::from_le_bytes(b[8..12].try_into().ok()?);
        let bits: Vec<u64> = b[12..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if bits.is_empty() || (!exact && !bits.len().is_power_of_two()) || k == 0 || k > 32 {
            return None;
        }
        Some(Bloom { bits, k, exact })
    }
}

/// Two hashes of a byte string, stable across versions and platforms (they are stored on
/// disk): 64-bit FNV-1a, and a splitmix64 finalization of it with the length mixed in.
fn bytes_hashes(b: &[u8]) -> (u64, u64) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h ^ (b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (h, z ^ (z >> 31))
}

/// One bloom filter per row group over the attribute terms its spans and their resources hold
/// (the `terms.bin` sidecar of a block): a search for `key=value` reads only the row groups
/// whose filter may hold the term.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RowGroupTerms {
    pub groups: Vec<Bloom>,
}

const TERMS_MAGIC: &[u8; 8] = b"WEFTTRM1";

impl RowGroupTerms {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(TERMS_MAGIC);
        out.extend_from_slice(&(self.groups.len() as u32).to_le_bytes());
        for g in &self.groups {
            let b = g.to_bytes();
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Option<RowGroupTerms> {
        let rest = b.strip_prefix(TERMS_MAGIC)?;
        let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let mut rest = &rest[4..];
        let mut groups = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            groups.push(Bloom::from_bytes(rest.get(4..4 + len)?)?);
            rest = &rest[4 + len..];
        }
        rest.is_empty().then_some(RowGroupTerms { groups })
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
        // exactly sized: 10 bits per id rounded up to a word, not up to a power of two
        assert_eq!(b.bits.len(), 100_000_usize.div_ceil(64));
    }

    /// Filters of older blocks (power-of-two sized, positions by mask) still read and answer.
    #[test]
    fn power_of_two_filters_of_older_blocks_still_answer() {
        let mut old = Bloom {
            bits: vec![0; 2048],
            k: 7,
            exact: false,
        };
        for i in 0..10_000 {
            old.insert(&id(i));
        }
        let bytes = old.to_bytes();
        assert_eq!(&bytes[..8], b"WEFTBLM1");
        let back = Bloom::from_bytes(&bytes).unwrap();
        assert_eq!(back, old);
        assert!((0..10_000).all(|i| back.may_contain(&id(i))));
        let fp = (1_000_000..1_100_000)
            .filter(|&i| back.may_contain(&id(i)))
            .count();
        assert!(fp < 3_000, "false positive rate too high: {fp} / 100000");
        // an old filter must be a power of two long
        let mut bad = bytes.clone();
        bad.truncate(bytes.len() - 8);
        assert!(Bloom::from_bytes(&bad).is_none());
    }

    #[test]
    fn term_filters_round_trip_and_have_no_false_negatives() {
        let mut g1 = Bloom::for_terms(1000);
        for i in 0..1000 {
            g1.insert_bytes(format!("s:user.id\0user-{i}").as_bytes());
        }
        let mut g2 = Bloom::for_terms(10);
        g2.insert_bytes(b"i:http.response.status_code\x00500");
        let t = RowGroupTerms {
            groups: vec![g1, g2],
        };
        let back = RowGroupTerms::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(back, t);
        assert!((0..1000)
            .all(|i| back.groups[0].may_contain_bytes(format!("s:user.id\0user-{i}").as_bytes())));
        let fp = (1000..101_000)
            .filter(|i| back.groups[0].may_contain_bytes(format!("s:user.id\0user-{i}").as_bytes()))
            .count();
        assert!(fp < 400, "false positive rate too high: {fp} / 100000");
        assert!(back.groups[1].may_contain_bytes(b"i:http.response.status_code\x00500"));
        assert!(!back.groups[1].may_contain_bytes(b"s:user.id\0user-1"));
        // the hash is part of the on-disk format: it must never change
        assert_eq!(bytes_hashes(b"s:k\0v").0, 0xd1ec_9da7_0dbe_a537);
        let mut bad = t.to_bytes();
        bad.pop();
        assert!(RowGroupTerms::from_bytes(&bad).is_none());
    }
}
