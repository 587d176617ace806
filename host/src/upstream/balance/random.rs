//! `random`: a uniformly random target; if it is unavailable, the next available one.

use rand::Rng;

/// Stateless; uses the thread's random generator.
#[derive(Debug, Default)]
pub struct Random;

impl Random {
    /// A random available target among `0..n`.
    pub fn pick(&self, n: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
        if n == 0 {
            return None;
        }
        let start = rand::rng().random_range(0..n);
        super::scan(n, start, ok)
    }
}
