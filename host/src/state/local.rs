//! The in-process backend: one `DashMap` per store. Each operation holds its key's shard lock
//! for a read-modify-write, so it is atomic among the gateway's threads. The number of keys is
//! bounded (`max-keys`); expired entries are swept every second and whenever the map is full.

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use super::algo::{self, Window};
use super::{Algorithm, RateDecision, StateError, StateStore};

/// How often expired entries are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

enum Value {
    Counter(i64),
    Gcra(u64),
    Window(Window),
    Bytes(Vec<u8>),
}

struct Entry {
    value: Value,
    /// Microseconds since `Local::epoch`; `None` never expires.
    expires: Option<u64>,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

pub(super) struct Local {
    map: DashMap<String, Entry>,
    max_keys: usize,
    epoch: Instant,
    swept: AtomicU64,
}

impl Local {
    pub(super) fn new(max_keys: usize) -> Self {
        Self {
            map: DashMap::new(),
            max_keys,
            epoch: Instant::now(),
            swept: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Removes expired entries; returns how many.
    pub(super) fn sweep(&self) -> usize {
        let now = self.now();
        let before = self.map.len();
        self.map.retain(|_, entry| entry.live(now));
        let removed = before.saturating_sub(self.map.len());
        self.swept.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Refuses a new key when the map is full (after a sweep).
    fn room_for(&self, key: &str) -> Result<(), StateError> {
        if self.map.len() < self.max_keys || self.map.contains_key(key) {
            return Ok(());
        }
        self.sweep();
        if self.map.len() < self.max_keys {
            return Ok(());
        }
        Err(StateError::Unavailable(format!(
            "the local state store is full ({} keys; raise `max-keys` in `[state]`)",
            self.max_keys
        )))
    }

    pub(super) fn increment(
        &self,
        key: String,
        delta: i64,
        window_ms: u64,
    ) -> Result<i64, StateError> {
        self.room_for(&key)?;
        let now = self.now();
        let expires = (window_ms > 0).then(|| now.saturating_add(window_ms * 1000));
        match self.map.entry(key) {
            MapEntry::Occupied(mut slot) => {
                let entry = slot.get_mut();
                let current = match (&entry.value, entry.live(now)) {
                    (Value::Counter(n), true) => *n,
                    _ => {
                        entry.expires = expires;
                        0
                    }
                };
                let next = current
                    .checked_add(delta)
                    .ok_or_else(|| StateError::Invalid("the counter would overflow".into()))?;
                entry.value = Value::Counter(next);
                Ok(next)
            }
            MapEntry::Vacant(slot) => {
                slot.insert(Entry {
                    value: Value::Counter(delta),
                    expires,
                });
                Ok(delta)
            }
        }
    }

    pub(super) fn rate_limit(
        &self,
        key: String,
        algorithm: Algorithm,
        limit: u32,
        period: u64,
        cost: u32,
    ) -> Result<RateDecision, StateError> {
        self.room_for(&key)?;
        let now = self.now();
        let slot = self.map.entry(key);
        let stored = match &slot {
            MapEntry::Occupied(o) if o.get().live(now) => Some(&o.get().value),
            _ => None,
        };
        let (decision, value, expires) = match algorithm {
            Algorithm::TokenBucket => {
                let tat = match stored {
                    Some(Value::Gcra(tat)) => Some(*tat),
                    _ => None,
                };
                let (decision, tat) = algo::gcra(tat, now, limit, period, cost);
                (decision, tat.map(Value::Gcra), tat)
            }
            Algorithm::SlidingWindow => {
                let window = match stored {
                    Some(Value::Window(w)) => Some(*w),
                    _ => None,
                };
                let (decision, window) = algo::sliding_window(window, now, limit, period, cost);
                let expires = window.map(|w| w.start.saturating_add(2 * period));
                (decision, window.map(Value::Window), expires)
            }
        };
        if let Some(value) = value {
            slot.insert(Entry { value, expires });
        }
        Ok(decision)
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.now();
        let entry = self.map.get(key)?;
        match (&entry.value, entry.live(now)) {
            (Value::Bytes(bytes), true) => Some(bytes.clone()),
            _ => None,
        }
    }

    pub(super) fn set(
        &self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), StateError> {
        self.room_for(&key)?;
        let expires = ttl_ms.map(|ttl| self.now().saturating_add(ttl * 1000));
        self.map.insert(
            key,
            Entry {
                value: Value::Bytes(value),
                expires,
            },
        );
        Ok(())
    }

    pub(super) fn delete(&self, key: &str) {
        self.map.remove(key);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Sweeps the store's expired entries every [`SWEEP_EVERY`] until the store is dropped. Outside
/// a tokio runtime (a unit test) entries are swept only when the map is full.
pub(super) fn spawn_sweeper(store: Weak<StateStore>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { return };
            if let super::Backend::Local(local) = &store.backend {
                local.sweep();
            }
        }
    });
}
