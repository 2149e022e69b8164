//! Accounting for the load generator: the payload layout (sequence, publisher id, send
//! time), per-publisher sequence tracking (losses, duplicates, reordering) and a log-linear
//! latency histogram. Pure data, no I/O, so every rule here is unit-tested.

use std::collections::VecDeque;

/// The fixed header every bench payload starts with: sequence, publisher id, send time.
pub const HEADER_LEN: usize = 24;

/// The parsed header of a bench payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Per-publisher sequence number, from 0.
    pub seq: u64,
    /// The publisher's index in the scenario.
    pub publisher: u64,
    /// Send time in nanoseconds since the run's shared epoch.
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`; the rest is left as
    /// padding. Does nothing if `out` is too short (payload sizes are validated up front).
    pub fn write(&self, out: &mut [u8]) {
        if let Some(h) = out.get_mut(..HEADER_LEN) {
            h[0..8].copy_from_slice(&self.seq.to_be_bytes());
            h[8..16].copy_from_slice(&self.publisher.to_be_bytes());
            h[16..24].copy_from_slice(&self.sent_ns.to_be_bytes());
        }
    }

    /// Reads a header; `None` for a payload that is not ours (too short).
    pub fn read(payload: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<u64> {
            let b: [u8; 8] = payload.get(i..i + 8)?.try_into().ok()?;
            Some(u64::from_be_bytes(b))
        };
        Some(Self {
            seq: word(0)?,
            publisher: word(8)?,
            sent_ns: word(16)?,
        })
    }
}

/// Sequence numbers further than this ahead of the oldest missing one declare it lost, so
/// a real loss costs bounded memory.
const REORDER_WINDOW: u64 = 1 << 16;

/// Tracks the sequence numbers one subscriber received from one publisher.
///
/// Everything below `base` was seen (or declared lost); `pending[i]` says whether
/// `base + i` was seen. Losses are counted at the end against the publisher's sent count.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    base: u64,
    pending: VecDeque<bool>,
    /// Distinct sequence numbers received.
    pub unique: u64,
    /// Copies of a sequence number already received.
    pub dups: u64,
    /// Messages that arrived after a higher sequence number.
    pub reordered: u64,
    /// Missing numbers given up on because the window moved past them.
    pub skipped: u64,
}

impl SeqTracker {
    pub fn record(&mut self, seq: u64) {
        if seq < self.base {
            // Seen before, or declared lost and arriving very late: either way not new.
            self.dups += 1;
            return;
        }
        let mut off = seq - self.base;
        while off >= REORDER_WINDOW {
            self.advance_one();
            off = seq - self.base;
        }
        let Ok(i) = usize::try_from(off) else {
            return;
        };
        if i >= self.pending.len() {
            self.pending.resize(i + 1, false);
        } else if self.pending[i] {
            self.dups += 1;
            return;
        } else {
            self.reordered += 1;
        }
        self.pending[i] = true;
        self.unique += 1;
        while self.pending.front() == Some(&true) {
            self.pending.pop_front();
            self.base += 1;
        }
    }

    fn advance_one(&mut self) {
        match self.pending.pop_front() {
            Some(true) => {}
            Some(false) | None => self.skipped += 1,
        }
        self.base += 1;
    }

    /// Messages the publisher sent that never arrived.
    pub fn losses(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }
}

/// Sub-buckets per power of two: 2^7 = 128, so a value is kept within 1/128 (< 0.8 %).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanosecond values (the HDR idea, fixed 0.8 % precision).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    min: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            min: u64::MAX,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    let mantissa = (v >> shift) as usize - SUB; // 0..SUB
    (shift as usize + 1) * SUB + mantissa
}

/// The largest value that falls into bucket `b`.
fn bucket_high(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let shift = (b / SUB - 1) as u32;
    let mantissa = (b % SUB + SUB) as u128;
    // The top bucket's bound is 2^64 - 1: compute in u128 so it cannot overflow.
    u64::try_from(((mantissa + 1) << shift) - 1).unwrap_or(u64::MAX)
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.counts[bucket_of(v)] += n;
        self.total += n;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0), rounded up to its bucket's upper bound and
    /// clamped to the exact maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank within the count; the precision lost above 2^53 is irrelevant"
        )]
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(b).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip_and_short_payload() {
        let s = Stamp {
            seq: 7,
            publisher: 3,
            sent_ns: 123_456_789,
        };
        let mut buf = vec![0u8; 64];
        s.write(&mut buf);
        assert_eq!(Stamp::read(&buf), Some(s));
        assert_eq!(Stamp::read(&buf[..23]), None);
    }

    #[test]
    fn in_order_stream_has_no_anomalies() {
        let mut t = SeqTracker::default();
        for s in 0..1000 {
            t.record(s);
        }
        assert_eq!(
            (t.unique, t.dups, t.reordered, t.losses(1000)),
            (1000, 0, 0, 0)
        );
        assert!(t.pending.is_empty());
    }

    #[test]
    fn gaps_are_losses_and_late_arrivals_are_reorders() {
        let mut t = SeqTracker::default();
        for s in [0, 1, 3, 4, 6] {
            t.record(s);
        }
        assert_eq!(t.losses(7), 2);
        t.record(2); // late
        assert_eq!((t.unique, t.reordered, t.losses(7)), (6, 1, 1));
        assert_eq!(t.dups, 0);
    }

    #[test]
    fn duplicates_are_counted_once_each() {
        let mut t = SeqTracker::default();
        for s in [0, 1, 1, 2, 5, 5, 0] {
            t.record(s);
        }
        assert_eq!(t.unique, 4);
        assert_eq!(t.dups, 3);
        assert_eq!(t.losses(6), 2);
    }

    #[test]
    fn a_far_jump_bounds_memory_and_skips_the_gap() {
        let mut t = SeqTracker::default();
        t.record(0);
        t.record(REORDER_WINDOW + 10);
        assert!(t.pending.len() as u64 <= REORDER_WINDOW);
        assert_eq!(t.skipped, 10);
        assert_eq!(t.losses(REORDER_WINDOW + 11), REORDER_WINDOW + 11 - 2);
        // A message from before the window counts as not new.
        t.record(1);
        assert_eq!(t.dups, 1);
    }

    #[test]
    fn buckets_cover_values_with_bounded_error() {
        for v in [0u64, 1, 127, 128, 129, 1000, 65_535, 1 << 40, u64::MAX] {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            let hi = bucket_high(b);
            assert!(hi >= v, "{v} > {hi}");
            assert!(hi - v <= v / 128 + 1, "{v} vs {hi}");
        }
    }

    #[test]
    fn percentiles_of_a_uniform_range() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 100;
        assert!(near(h.quantile(0.5), 5_000_000), "{}", h.quantile(0.5));
        assert!(near(h.quantile(0.99), 9_900_000), "{}", h.quantile(0.99));
        assert!(near(h.quantile(0.999), 9_990_000), "{}", h.quantile(0.999));
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn percentiles_see_the_tail_and_merge() {
        let mut a = Histogram::default();
        a.record_n(100, 990);
        let mut b = Histogram::default();
        b.record_n(1_000_000, 10);
        a.merge(&b);
        assert_eq!(a.quantile(0.5), 100);
        assert_eq!(a.quantile(0.99), 100);
        assert!(a.quantile(0.995) >= 1_000_000);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }
}
