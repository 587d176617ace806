//! Circuit breaking and the retry budget of an upstream: counters of requests and retries in
//! flight, checked with one atomic operation, so an overloaded upstream is answered `503` at
//! once instead of queueing, and retries cannot multiply an outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::config::RetryBudget;

/// Requests in flight on an upstream, limited by `max-requests` (and, for HTTP/1.1 upstreams,
/// by `max-connections + max-pending`: each request needs a connection of its own).
#[derive(Debug)]
pub struct Breaker {
    max_requests: Option<u32>,
    active: Arc<AtomicU32>,
}

/// One count on a counter, given back when dropped. It owns its counter, so it can travel with
/// a response body and count the request until the body ends.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicU32>);

impl InFlight {
    /// Counts one more on `counter` until dropped.
    pub fn enter(counter: &Arc<AtomicU32>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Breaker {
    /// A breaker opening above `max_requests` requests in flight (never, if `None`).
    pub fn new(max_requests: Option<u32>) -> Self {
        Self {
            max_requests,
            active: Arc::default(),
        }
    }

    /// Admits a request, or `None` when `max-requests` are already in flight.
    pub fn enter(&self) -> Option<InFlight> {
        let before = self.active.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(self.active.clone());
        match self.max_requests {
            Some(max) if before >= max => None,
            _ => Some(guard),
        }
    }

    /// Requests in flight now.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// The most requests in flight it admits (`None`: no limit).
    pub fn max_requests(&self) -> Option<u32> {
        self.max_requests
    }
}

/// The retry budget: retries in flight may be at most `percent` of the requests in flight, or
/// else `min-per-second` retries each second.
#[derive(Debug)]
pub struct Budget {
    config: RetryBudget,
    retrying: Arc<AtomicU32>,
    second: AtomicU64,
    used: AtomicU32,
}

impl Budget {
    /// An empty budget.
    pub fn new(config: RetryBudget) -> Self {
        Self {
            config,
            retrying: Arc::default(),
            second: AtomicU64::new(0),
            used: AtomicU32::new(0),
        }
    }

    /// A retry allowed now (`active` requests in flight, `second` the current second), held
    /// while it runs; `None` when the budget is spent.
    pub fn try_retry(&self, active: u32, second: u64) -> Option<InFlight> {
        let before = self.retrying.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(self.retrying.clone());
        if u64::from(before) * 100 < u64::from(active) * u64::from(self.config.percent) {
            return Some(guard);
        }
        if self.second.swap(second, Ordering::Relaxed) != second {
            self.used.store(0, Ordering::Relaxed);
        }
        (self.used.fetch_add(1, Ordering::Relaxed) < self.config.min_per_second).then_some(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_refuses_above_max_requests_and_frees_on_drop() {
        let b = Breaker::new(Some(2));
        let one = b.enter();
        let two = b.enter();
        assert!(one.is_some() && two.is_some());
        assert!(b.enter().is_none());
        drop(one);
        assert!(b.enter().is_some());
        assert_eq!(b.active(), 1);
    }

    #[test]
    fn retries_are_limited_to_a_percentage_or_a_floor_per_second() {
        let budget = Budget::new(RetryBudget {
            percent: 20,
            min_per_second: 2,
        });
        // 100 requests in flight: 20 retries at once, then the floor of 2 per second.
        let held: Vec<_> = (0..20).map(|_| budget.try_retry(100, 7).unwrap()).collect();
        assert!(budget.try_retry(100, 7).is_some());
        assert!(budget.try_retry(100, 7).is_some());
        assert!(budget.try_retry(100, 7).is_none());
        assert!(budget.try_retry(100, 8).is_some());
        drop(held);
        assert!(budget.try_retry(100, 8).is_some());
    }
}
