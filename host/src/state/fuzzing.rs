//! The rate-limit algorithms as public functions of (stored state, now), for the fuzz targets in
//! `fuzz/` only (`--features fuzzing`): the in-process store reads the clock, a fuzzer must choose
//! the time. Not an API; it follows `algo.rs` wherever that goes.

use super::RateDecision;
use super::algo::{self, Window};

/// The stored state of a sliding window, opaque: the fuzz targets only hand it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState(Window);

/// GCRA (token bucket): see `algo::gcra`. Times in microseconds.
pub fn gcra(
    tat: Option<u64>,
    now: u64,
    limit: u32,
    period: u64,
    cost: u32,
) -> (RateDecision, Option<u64>) {
    algo::gcra(tat, now, limit, period, cost)
}

/// The sliding window: see `algo::sliding_window`. Times in microseconds.
pub fn sliding_window(
    state: Option<WindowState>,
    now: u64,
    limit: u32,
    period: u64,
    cost: u32,
) -> (RateDecision, Option<WindowState>) {
    let (decision, stored) = algo::sliding_window(state.map(|s| s.0), now, limit, period, cost);
    (decision, stored.map(WindowState))
}
