//! The local backend's clock, shared by its namespaces: windows of rate limits align on UTC
//! boundaries, as they do on Redis, without a wall-clock read per operation.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Microseconds of Unix time: the wall clock read once at creation, advanced by the monotonic
/// clock, so windows align on UTC boundaries (as with Redis's `TIME`) and a wall-clock step
/// never moves a window backwards.
pub(super) struct Clock {
    epoch: Instant,
    /// Unix time at `epoch`, in microseconds.
    unix_at_epoch: u64,
}

impl Clock {
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            unix_at_epoch: unix_micros(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        let elapsed = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.unix_at_epoch.saturating_add(elapsed)
    }
}

/// Microseconds since the Unix epoch (0 for a clock set before 1970).
fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}
