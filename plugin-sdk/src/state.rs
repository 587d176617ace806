//! Shared state that outlives a request: counters, rate limits and a small key/value store, kept
//! by the gateway in process or in Redis (the manifest's `[state]`, see `docs/state.md`).
//!
//! Every instance of a plugin, and every gateway sharing the Redis server, sees the same keys;
//! other plugins never do (the gateway prefixes keys with the plugin's name and route). Each
//! call is one atomic operation.
//!
//! ```no_run
//! use std::time::Duration;
//! use portcullis_sdk::state::{self, Algorithm, StateError};
//!
//! # fn f() -> Result<(), portcullis_sdk::Error> {
//! match state::rate_limit("client:10.0.0.1", Algorithm::TokenBucket, 100, Duration::from_secs(60), 1) {
//!     Ok(decision) if !decision.allowed => { /* answer 429 */ }
//!     Ok(_) => { /* go on */ }
//!     // Redis is down: the plugin decides (here: let the request through).
//!     Err(StateError::Unavailable(_)) => {}
//!     Err(StateError::Invalid(message)) => return Err(message.into()),
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::bindings::portcullis::plugin::state as wit;

/// How [`rate_limit`] counts.
pub use wit::Algorithm;
/// What [`rate_limit`] decided: `allowed`, `limit`, `remaining`, `reset_ms`, `retry_after_ms`.
pub use wit::RateDecision;
/// Why a state call failed: `Unavailable` (the backend could not answer: apply your fault
/// policy) or `Invalid` (an argument is out of range).
pub use wit::StateError;

impl From<StateError> for crate::Error {
    fn from(error: StateError) -> Self {
        match error {
            StateError::Unavailable(reason) => {
                crate::Error::new(format!("state unavailable: {reason}"))
            }
            StateError::Invalid(reason) => {
                crate::Error::new(format!("invalid state call: {reason}"))
            }
        }
    }
}

/// Adds `delta` to the counter `key` and returns its new value. A new counter starts at 0 and
/// expires `window` after its creation (`None`: never).
pub fn increment(key: &str, delta: i64, window: Option<Duration>) -> Result<i64, StateError> {
    wit::increment(key, delta, window.map_or(0, millis))
}

/// Decides in one atomic step whether a request of `cost` fits in `limit` per `period` for
/// `key`, and counts it if so. `period` is rounded down to whole milliseconds.
pub fn rate_limit(
    key: &str,
    algorithm: Algorithm,
    limit: u32,
    period: Duration,
    cost: u32,
) -> Result<RateDecision, StateError> {
    wit::rate_limit(key, algorithm, limit, millis(period), cost)
}

/// The value stored under `key`, if any and not expired.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, StateError> {
    wit::get(key)
}

/// Stores `value` under `key` for `ttl` (`None`: until deleted).
pub fn set(key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StateError> {
    wit::set(key, value, ttl.map(|ttl| millis(ttl).max(1)))
}

/// Removes `key`.
pub fn delete(key: &str) -> Result<(), StateError> {
    wit::delete(key)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
