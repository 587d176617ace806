//! `least-request`: the power of two choices. Two distinct targets drawn at random; the one
//! with fewer requests in flight wins. Nearly as good as a full scan of the least loaded target,
//! at constant cost, and without the herd that always picking the global minimum causes.

use rand::Rng;

/// Stateless; the loads come from the targets' in-flight counters.
#[derive(Debug, Default)]
pub struct LeastRequest;

impl LeastRequest {
    /// The less loaded of two random available targets among `0..n`.
    pub fn pick(
        &self,
        n: usize,
        load: impl Fn(usize) -> u32,
        ok: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        match n {
            0 => return None,
            1 => return ok(0).then_some(0),
            _ => {}
        }
        let mut rng = rand::rng();
        let a = rng.random_range(0..n);
        // A second index distinct from the first.
        let b = (a + 1 + rng.random_range(0..n - 1)) % n;
        match (ok(a), ok(b)) {
            (true, true) => Some(if load(b) < load(a) { b } else { a }),
            (true, false) => Some(a),
            (false, true) => Some(b),
            (false, false) => super::scan(n, a, ok),
        }
    }
}
