//! `round-robin`: each target in turn; an unavailable target's turn goes to the next one.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A shared counter; one atomic add per pick.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next available target among `0..n`.
    pub fn pick(&self, n: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        super::scan(n, start, ok)
    }
}
