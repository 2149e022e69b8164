//! The fsync latency histogram: fixed buckets of atomic counters, so the writer thread
//! records a duration with two relaxed adds (no lock on the commit path) and a scrape
//! reads it without stopping the writer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the buckets, in microseconds: 100 µs (a fast NVMe fdatasync) to 5 s (a
/// stalled disk). A duration above the last falls into `+Inf` only.
pub const BOUNDS_MICROS: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

/// Counts per bucket (not cumulative: each duration lands in exactly one), the last one
/// being `+Inf`, and the sum of all durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

/// What a scrape reads: cumulative counts per upper bound (`None` = `+Inf`), the count
/// (equal to the `+Inf` bucket) and the sum in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cumulative: Vec<(Option<f64>, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, micros: u64) {
        let i = BOUNDS_MICROS.partition_point(|&le| le < micros);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    /// The buckets as Prometheus wants them. Read bucket by bucket while the writer may
    /// record: the count is the sum read, so buckets, `+Inf` and count always agree.
    pub fn snapshot(&self) -> Snapshot {
        let mut total = 0;
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Relaxed);
            #[expect(clippy::cast_precision_loss, reason = "bounds are below 2^52")]
            let le = BOUNDS_MICROS.get(i).map(|&m| m as f64 / 1e6);
            cumulative.push((le, total));
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "a sum of µs below 2^52 is exact"
        )]
        let sum_seconds = self.sum_micros.load(Relaxed) as f64 / 1e6;
        Snapshot {
            cumulative,
            count: total,
            sum_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_their_bucket_and_buckets_are_cumulative() {
        let h = Histogram::default();
        for micros in [0, 100, 101, 4_000, 9_000_000] {
            h.record(micros);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.cumulative.len(), BOUNDS_MICROS.len() + 1);
        // le is inclusive: 0 and 100 µs are in the first bucket.
        assert_eq!(s.cumulative[0], (Some(0.0001), 2));
        assert_eq!(s.cumulative[1], (Some(0.00025), 3));
        assert_eq!(s.cumulative[5], (Some(0.005), 4));
        assert_eq!(s.cumulative[14], (Some(5.0), 4));
        assert_eq!(s.cumulative[15], (None, 5));
        assert!(
            (s.sum_seconds - 9.004_201).abs() < 1e-9,
            "{}",
            s.sum_seconds
        );
    }
}
