//! The idle instances of one configured plugin, as many as demand needs.
//!
//! A fixed bound was wrong both ways: at 256 requests in flight a bound of 64 made 3-4% of calls
//! create an instance and drop a surplus one (each drop resets a pooling-allocator slot, memset
//! included), and at low load it let 64 idle instances sit on their memory. Instead the pool
//! counts the instances lent out and keeps idle only what the recent peak of lent instances
//! needs: the peak of this window or of the one before it, so a burst is served warm for at
//! least one window (10 s) after it and then released.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a peak of demand keeps its idle instances: one to two windows.
const DEMAND_WINDOW: Duration = Duration::from_secs(10);

/// Idle items and the demand for them.
pub(crate) struct Pool<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    idle: Vec<T>,
    /// Items lent out now.
    lent: usize,
    /// The most lent at once in this window, and in the one before.
    peak: usize,
    previous_peak: usize,
    window_start: Instant,
}

impl<T> Pool<T> {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                lent: 0,
                peak: 0,
                previous_peak: 0,
                window_start: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more item lent out and returns an idle one, if any (else the caller makes one,
    /// and gives it back or forgets it like any lent item).
    pub(crate) fn lend(&self) -> Option<T> {
        let mut inner = self.lock();
        inner.lent += 1;
        inner.peak = inner.peak.max(inner.lent);
        inner.idle.pop()
    }

    /// Takes back a lent item and keeps it idle; returns what recent demand no longer needs (the
    /// oldest idle items; nothing under steady load), for the caller to drop outside the lock:
    /// dropping an instance resets its memory slot.
    #[cfg(test)]
    pub(crate) fn give_back(&self, item: T) -> Vec<T> {
        self.give_back_at(item, Instant::now())
    }

    /// [`give_back`](Self::give_back) at `now`, a recent reading of the clock (the caller's:
    /// demand is counted in windows of seconds).
    pub(crate) fn give_back_at(&self, item: T, now: Instant) -> Vec<T> {
        let mut inner = self.lock();
        inner.lent = inner.lent.saturating_sub(1);
        if now.saturating_duration_since(inner.window_start) >= DEMAND_WINDOW {
            inner.previous_peak = inner.peak;
            inner.peak = inner.lent + 1;
            inner.window_start = now;
        }
        let demand = inner.peak.max(inner.previous_peak);
        // Idle items worth keeping: what the peak needed beyond those still lent.
        let keep = demand.saturating_sub(inner.lent).max(1);
        let excess = (inner.idle.len() + 1).saturating_sub(keep);
        let surplus = inner.idle.drain(..excess).collect();
        inner.idle.push(item);
        surplus
    }

    /// A lent item that will not come back: it trapped, or could not be made.
    pub(crate) fn forget_lent(&self) {
        let mut inner = self.lock();
        inner.lent = inner.lent.saturating_sub(1);
    }

    /// Adds an item that was never lent (the instance `init` ran on).
    pub(crate) fn seed(&self, item: T) {
        let mut inner = self.lock();
        inner.peak = inner.peak.max(1);
        inner.idle.push(item);
    }

    /// How many items are idle, and the sum of `size` over them.
    pub(crate) fn idle(&self, size: impl Fn(&T) -> usize) -> (usize, usize) {
        let inner = self.lock();
        (inner.idle.len(), inner.idle.iter().map(size).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_use_keeps_one_item_warm() {
        let pool = Pool::new();
        pool.seed(1);
        for _ in 0..100 {
            let item = pool.lend().expect("the warm item");
            assert!(pool.give_back(item).is_empty(), "kept");
        }
        assert_eq!(pool.idle(|_| 1), (1, 1));
    }

    #[test]
    fn every_item_a_burst_needed_is_kept_without_dropping_any() {
        let pool = Pool::new();
        let lent: Vec<u32> = (0..256).map(|n| pool.lend().unwrap_or(n)).collect();
        for item in lent {
            assert!(
                pool.give_back(item).is_empty(),
                "the burst's peak keeps all 256"
            );
        }
        // The same burst again is served warm, with nothing made and nothing dropped.
        let again: Vec<Option<u32>> = (0..256).map(|_| pool.lend()).collect();
        assert!(again.iter().all(Option::is_some));
        for item in again.into_iter().flatten() {
            assert!(pool.give_back(item).is_empty());
        }
    }

    #[test]
    fn idle_items_beyond_demand_are_released_two_windows_after_the_peak() {
        let pool = Pool::new();
        let start = Instant::now();
        let burst: Vec<u32> = (0..8).map(|n| pool.lend().unwrap_or(n)).collect();
        for item in burst {
            assert!(pool.give_back_at(item, start).is_empty());
        }
        // One item at a time, a window later: the burst's peak is still remembered.
        let one = pool.lend().expect("idle");
        assert!(pool.give_back_at(one, start + DEMAND_WINDOW).is_empty());
        assert_eq!(pool.idle(|_| 1).0, 8);
        // Two windows later only the steady demand of one is kept: the surplus goes back to be
        // dropped, the item just used stays warm.
        let one = pool.lend().expect("idle");
        let surplus = pool.give_back_at(one, start + DEMAND_WINDOW * 2);
        assert_eq!(surplus.len(), 7);
        assert!(!surplus.contains(&one));
        assert_eq!(pool.idle(|_| 1).0, 1);
        assert_eq!(pool.lend(), Some(one));
    }

    #[test]
    fn a_forgotten_item_no_longer_counts_as_lent() {
        let pool: Pool<u32> = Pool::new();
        assert!(pool.lend().is_none());
        pool.forget_lent();
        assert!(pool.lend().is_none());
        assert!(pool.give_back(7).is_empty(), "one lent, one needed");
        assert_eq!(pool.idle(|_| 1).0, 1);
    }
}
