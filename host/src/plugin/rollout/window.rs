//! A sliding window of call outcomes, for a canary's guard and a plugin's breaker: ten slices
//! of a tenth of the window each, so the figures cover between nine and ten tenths of it and
//! old calls fall out without a timer. Kept under the caller's lock.

use std::time::{Duration, Instant};

use crate::plugin::account::histogram::{self, BUCKETS};

/// Slices per window.
const SLICES: u64 = 10;

/// What the window holds, summed over its live slices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Requests answered.
    pub answered: u64,
    /// Requests answered with a 5xx.
    pub errors: u64,
}

impl Totals {
    /// The share of calls that failed (0 without calls).
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// The share of answers that were 5xx (0 without answers).
    pub fn error_rate(&self) -> f64 {
        ratio(self.errors, self.answered)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[derive(Clone)]
struct Slice {
    /// Which tenth of time since `origin` it holds.
    epoch: u64,
    totals: Totals,
    times: Option<Box<[u32; BUCKETS]>>,
}

/// Outcomes of the last `window`.
pub struct Window {
    slices: Vec<Slice>,
    width: Duration,
    origin: Instant,
    keep_times: bool,
}

impl Window {
    /// A window of `length`, keeping call times when `keep_times` (for a p99).
    pub fn new(length: Duration, keep_times: bool) -> Self {
        let width = (length / SLICES as u32).max(Duration::from_millis(1));
        let empty = Slice {
            epoch: u64::MAX,
            totals: Totals::default(),
            times: None,
        };
        Self {
            slices: vec![empty; SLICES as usize],
            width,
            origin: Instant::now(),
            keep_times,
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos() / self.width.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    /// The slice of `now`, emptied if it held an older tenth.
    fn slice(&mut self, now: Instant) -> &mut Slice {
        let epoch = self.epoch(now);
        let keep_times = self.keep_times;
        let slice = &mut self.slices[(epoch % SLICES) as usize];
        if slice.epoch != epoch {
            slice.epoch = epoch;
            slice.totals = Totals::default();
            if let Some(times) = slice.times.as_mut() {
                times.fill(0);
            }
        }
        if keep_times && slice.times.is_none() {
            slice.times = Some(Box::new([0; BUCKETS]));
        }
        slice
    }

    /// Counts a call that took `elapsed` and failed or not.
    pub fn call(&mut self, now: Instant, elapsed: Duration, failed: bool) {
        let slice = self.slice(now);
        slice.totals.calls += 1;
        slice.totals.failures += u64::from(failed);
        if let Some(times) = slice.times.as_mut() {
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            let bucket = &mut times[histogram::bucket(nanos)];
            *bucket = bucket.saturating_add(1);
        }
    }

    /// Counts an answered request, a 5xx or not.
    pub fn answer(&mut self, now: Instant, error: bool) {
        let slice = self.slice(now);
        slice.totals.answered += 1;
        slice.totals.errors += u64::from(error);
    }

    fn live(&self, now: Instant) -> impl Iterator<Item = &Slice> + Clone {
        let current = self.epoch(now);
        self.slices
            .iter()
            .filter(move |s| s.epoch <= current && current - s.epoch < SLICES)
    }

    /// The sums over the window.
    pub fn totals(&self, now: Instant) -> Totals {
        self.live(now).fold(Totals::default(), |mut sum, s| {
            sum.calls += s.totals.calls;
            sum.failures += s.totals.failures;
            sum.answered += s.totals.answered;
            sum.errors += s.totals.errors;
            sum
        })
    }

    /// The `q` quantile of call times in the window (`None` without times).
    pub fn quantile(&self, now: Instant, q: f64) -> Option<Duration> {
        let mut counts = [0u64; BUCKETS];
        for slice in self.live(now) {
            if let Some(times) = &slice.times {
                for (sum, count) in counts.iter_mut().zip(times.iter()) {
                    *sum += u64::from(*count);
                }
            }
        }
        histogram::quantile(counts.iter().copied(), q)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        for slice in &mut self.slices {
            slice.epoch = u64::MAX;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_fall_out_of_the_window_as_time_passes() {
        let mut window = Window::new(Duration::from_secs(10), true);
        let start = Instant::now();
        for _ in 0..4 {
            window.call(start, Duration::from_micros(10), false);
        }
        window.call(start, Duration::from_micros(10), true);
        window.answer(start, true);
        let totals = window.totals(start);
        assert_eq!(
            (
                totals.calls,
                totals.failures,
                totals.answered,
                totals.errors
            ),
            (5, 1, 1, 1)
        );
        assert!((totals.failure_rate() - 0.2).abs() < 1e-9);

        let later = start + Duration::from_secs(5);
        window.call(later, Duration::from_millis(1), false);
        assert_eq!(window.totals(later).calls, 6);
        let p99 = window.quantile(later, 0.99).unwrap();
        assert!(p99 > Duration::from_micros(800), "{p99:?}");

        let gone = start + Duration::from_secs(11);
        assert_eq!(
            window.totals(gone).calls,
            1,
            "only the call made 5 s in is left"
        );
        window.clear();
        assert_eq!(window.totals(gone), Totals::default());
    }
}
