//! What a shadow has compared so far: runs, agreements, drops, divergences by kind and the
//! last few of them. Kept by the runtime across reloads (`kept`), so apart from the shadow's
//! plugin and runner.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::compare::{DIVERGENCE_KINDS, Divergence};

/// Divergences kept for the admin API, per shadow.
const SAMPLES: usize = 32;

/// What a shadow has compared so far.
#[derive(Default)]
pub struct ShadowState {
    /// Runs made.
    pub runs: AtomicU64,
    /// Runs that agreed with the live plugin in everything.
    pub agreed: AtomicU64,
    /// Runs dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Divergences by kind, in the order of [`DIVERGENCE_KINDS`].
    pub divergences: [AtomicU64; DIVERGENCE_KINDS.len()],
    samples: Mutex<VecDeque<Divergence>>,
}

impl ShadowState {
    pub(super) fn diverged(&self, divergence: Divergence) {
        self.divergences[divergence.kind].fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(divergence);
    }

    /// The last divergences, oldest first.
    pub fn samples(&self) -> Vec<Divergence> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.iter().cloned().collect()
    }
}
