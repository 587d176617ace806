//! Call times in log-linear buckets: four per power of two from 128 ns to about a minute, so
//! any quantile is known within 12% without keeping samples. Recording is one relaxed atomic
//! add, cheap enough for every plugin call; the windowed copy a guard or breaker keeps is the
//! same layout with plain counters under its own lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets: one below 128 ns, then four per power of two up to 2^37 ns (about 137 s), the
/// last one open.
pub const BUCKETS: usize = 122;

/// The bucket of a duration of `nanos`.
pub fn bucket(nanos: u64) -> usize {
    if nanos < 128 {
        return 0;
    }
    let power = 63 - nanos.leading_zeros() as usize; // 7 and up
    let quarter = ((nanos >> (power - 2)) & 3) as usize;
    ((power - 7) * 4 + quarter + 1).min(BUCKETS - 1)
}

/// The middle of bucket `index`, in nanoseconds.
pub fn middle(index: usize) -> u64 {
    if index == 0 {
        return 64;
    }
    let power = (index - 1) / 4 + 7;
    let quarter = ((index - 1) % 4) as u64;
    let low = (4 + quarter) << (power - 2);
    let width = 1u64 << (power - 2);
    low + width / 2
}

/// The upper bound of bucket `index`, in seconds (`+Inf` for the last).
pub fn upper_seconds(index: usize) -> f64 {
    if index + 1 >= BUCKETS {
        return f64::INFINITY;
    }
    if index == 0 {
        return 128e-9;
    }
    let power = (index - 1) / 4 + 7;
    let quarter = ((index - 1) % 4) as u64;
    ((5 + quarter) << (power - 2)) as f64 * 1e-9
}

/// The `q` quantile (0 to 1) of counts per bucket, `None` when there are none.
pub fn quantile(counts: impl Iterator<Item = u64> + Clone, q: f64) -> Option<Duration> {
    let total: u64 = counts.clone().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile, 1-based: p99 of 100 calls is the 99th.
    let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (index, count) in counts.enumerate() {
        seen += count;
        if seen >= rank {
            return Some(Duration::from_nanos(middle(index)));
        }
    }
    None
}

/// A histogram of call times shared by every thread that records into it.
pub struct Histogram {
    counts: Box<[AtomicU64; BUCKETS]>,
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").finish_non_exhaustive()
    }
}

impl Histogram {
    /// Records one call of `elapsed`.
    pub fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts now, per bucket.
    pub fn counts(&self) -> [u64; BUCKETS] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    /// The sum of every recorded time.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_falls_in_a_bucket_whose_middle_is_within_an_eighth_of_it() {
        for nanos in [
            128u64,
            200,
            1_000,
            1_500,
            12_345,
            1_000_000,
            33_000_000,
            5_000_000_000,
        ] {
            let m = middle(bucket(nanos)) as f64;
            let error = (m - nanos as f64).abs() / nanos as f64;
            assert!(error <= 0.125, "{nanos} ns -> {m} ({error})");
            assert!(upper_seconds(bucket(nanos)) * 1e9 > nanos as f64);
        }
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(upper_seconds(BUCKETS - 1), f64::INFINITY);
    }

    #[test]
    fn quantiles_are_read_from_the_counts() {
        let h = Histogram::default();
        for _ in 0..98 {
            h.record(Duration::from_micros(10));
        }
        h.record(Duration::from_millis(1));
        h.record(Duration::from_millis(1));
        let counts = h.counts();
        let p50 = quantile(counts.iter().copied(), 0.5).unwrap();
        let p99 = quantile(counts.iter().copied(), 0.99).unwrap();
        assert!((9_000..11_000).contains(&p50.as_nanos()), "{p50:?}");
        assert!((900_000..1_100_000).contains(&p99.as_nanos()), "{p99:?}");
        assert_eq!(quantile([0u64; 3].into_iter(), 0.5), None);
        assert_eq!(h.sum(), Duration::from_micros(980 + 2000));
    }
}
