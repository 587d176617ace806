//! `weighted`: smooth weighted round robin, nginx's algorithm. With weights 5, 1, 1 it sends
//! `a a b a c a a` rather than `a a a a a b c`. The sequence of one full cycle (the sum of the
//! weights, divided by their gcd) is computed once when the upstream is built, so a pick is one
//! atomic add and a table read, with no lock; an unavailable target's turn goes to the next
//! entry of the sequence.

use std::sync::atomic::{AtomicUsize, Ordering};

/// One cycle of the smooth weighted sequence and a shared position in it.
#[derive(Debug)]
pub struct Weighted {
    schedule: Vec<u32>,
    next: AtomicUsize,
}

impl Weighted {
    /// The schedule for targets with these weights (zero counts as one).
    pub fn new(weights: &[u32]) -> Self {
        let weights: Vec<i64> = weights.iter().map(|&w| i64::from(w.max(1))).collect();
        let divisor = weights.iter().copied().fold(0, gcd).max(1);
        let weights: Vec<i64> = weights.iter().map(|w| w / divisor).collect();
        let total: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for _ in 0..total {
            // nginx: every target gains its weight; the largest wins and pays the total.
            let mut best = 0;
            for (i, w) in weights.iter().enumerate() {
                current[i] += w;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            schedule.push(u32::try_from(best).unwrap_or(0));
        }
        Self {
            schedule,
            next: AtomicUsize::new(0),
        }
    }

    /// The next available target in the sequence.
    pub fn pick(&self, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let len = self.schedule.len();
        if len == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..len)
            .filter_map(|k| self.schedule.get((start + k) % len))
            .map(|&i| i as usize)
            .find(|&i| ok(i))
    }

    /// One cycle of the sequence (for tests and docs).
    pub fn schedule(&self) -> &[u32] {
        &self.schedule
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
