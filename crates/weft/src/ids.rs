//! Random ids for spans and requests from a fast per-thread generator.
//!
//! The SDK's `RandomIdGenerator` draws every id from `rand`'s thread-local ChaCha generator:
//! a thread-local lookup, a reference count taken and dropped, a cipher block now and then.
//! Trace, span and request ids must be unique and uniformly random, not secret (the
//! OpenTelemetry Go SDK uses a seeded non-cryptographic generator for them too), so weft
//! uses wyrand: one multiply per 64 bits, its state one thread-local word, seeded from the
//! operating system's randomness the first time a thread draws.

use std::cell::Cell;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::IdGenerator;

thread_local! {
    /// 0 until the thread's first draw seeds it
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// 64 random bits.
pub(crate) fn random_u64() -> u64 {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = rand::random::<u64>() | 1;
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s).wrapping_mul(u128::from(s ^ 0xe703_7ed1_a0b4_28db));
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// 128 random bits.
pub(crate) fn random_u128() -> u128 {
    (u128::from(random_u64()) << 64) | u128::from(random_u64())
}

/// The id generator weft's tracer provider uses.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastIds;

impl IdGenerator for FastIds {
    fn new_trace_id(&self) -> TraceId {
        loop {
            let id = random_u128();
            if id != 0 {
                return TraceId::from(id);
            }
        }
    }

    fn new_span_id(&self) -> SpanId {
        loop {
            let id = random_u64();
            if id != 0 {
                return SpanId::from(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_distinct_across_threads_and_bits_are_balanced() {
        let draw = || {
            (0..10_000)
                .map(|_| FastIds.new_trace_id())
                .collect::<Vec<_>>()
        };
        let a = std::thread::spawn(draw).join().unwrap();
        let b = std::thread::spawn(draw).join().unwrap();
        let all: HashSet<TraceId> = a.iter().chain(&b).copied().collect();
        assert_eq!(
            all.len(),
            20_000,
            "no trace id repeats, within or across threads"
        );
        // each of the 128 bit positions is set in about half the ids (binomial, n = 20000:
        // sd ≈ 71, so ±600 is more than 8 sd)
        for bit in 0..128 {
            let ones = a
                .iter()
                .chain(&b)
                .filter(|id| u128::from_be_bytes(id.to_bytes()) >> bit & 1 == 1)
                .count();
            assert!(
                (9_400..=10_600).contains(&ones),
                "bit {bit} set in {ones} of 20000 ids"
            );
        }
        let spans: HashSet<SpanId> = (0..10_000).map(|_| FastIds.new_span_id()).collect();
        assert_eq!(spans.len(), 10_000);
        assert!(!spans.contains(&SpanId::INVALID));
    }
}
