//! The in-process backend: one `DashMap` per namespace (`partition`), each within a quota of
//! keys and bytes, all within the store's bounds (`max-keys`, `max-bytes`). Each operation holds
//! its key's shard lock for a read-modify-write, so it is atomic among the gateway's threads.
//! Expired entries are swept every second, and whenever a namespace or the store is full.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::algo::{self, Window};
use super::partition::{Partition, Shared, Stored, Value};
use super::{Algorithm, RateDecision, StateError, StateStore};
use crate::config::StateConfig;
use crate::observe::metrics::NamespaceUsage;

/// How often expired entries are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Local {
    shared: Arc<Shared>,
}

impl Local {
    pub(super) fn new(config: &StateConfig) -> Self {
        Self {
            shared: Shared::new(config),
        }
    }

    /// The partition of `plugin` on `route` (the existing one while it is in use).
    pub(super) fn partition(&self, plugin: &str, route: &str) -> Arc<Partition> {
        self.shared.partition(plugin, route)
    }

    /// Removes expired entries of every namespace; returns how many.
    pub(super) fn sweep(&self) -> usize {
        let now = self.shared.now();
        self.shared.partitions().iter().map(|p| p.sweep(now)).sum()
    }

    /// Every namespace's usage, sorted by plugin and route.
    pub(super) fn usage(&self) -> Vec<NamespaceUsage> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut usage: Vec<_> = (self.shared.partitions().iter())
            .map(|p| NamespaceUsage {
                plugin: p.plugin.to_string(),
                route: p.route.to_string(),
                keys: p.keys.load(Relaxed) as u64,
                bytes: p.bytes.load(Relaxed) as u64,
                expired: p.stats.expired.load(Relaxed),
                evicted: p.stats.evicted.load(Relaxed),
                refused: p.stats.refused.load(Relaxed),
            })
            .collect();
        usage.sort_by(|a, b| (&a.plugin, &a.route).cmp(&(&b.plugin, &b.route)));
        usage
    }
}

pub(super) fn increment(
    partition: &Partition,
    key: String,
    delta: i64,
    window_ms: u64,
) -> Result<i64, StateError> {
    let now = partition.now();
    partition.upsert(key, 0, now, |stored| {
        let (current, expires) = match stored {
            // A live counter keeps the expiry it was created with.
            Some((Value::Counter(n), expires)) => (*n, expires),
            _ => (
                0,
                (window_ms > 0).then(|| now.saturating_add(window_ms * 1000)),
            ),
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| StateError::Invalid("the counter would overflow".into()))?;
        let value = Value::Counter(next);
        Ok((next, Some(Stored { value, expires })))
    })
}

pub(super) fn rate_limit(
    partition: &Partition,
    key: String,
    algorithm: Algorithm,
    limit: u32,
    period: u64,
    cost: u32,
) -> Result<RateDecision, StateError> {
    let now = partition.now();
    partition.upsert(key, 0, now, |stored| {
        let stored = stored.map(|(value, _)| value);
        Ok(match algorithm {
            Algorithm::TokenBucket => {
                let tat = match stored {
                    Some(Value::Gcra(tat)) => Some(*tat),
                    _ => None,
                };
                let (decision, tat) = algo::gcra(tat, now, limit, period, cost);
                let stored = tat.map(|tat| Stored {
                    value: Value::Gcra(tat),
                    expires: Some(tat),
                });
                (decision, stored)
            }
            Algorithm::SlidingWindow => {
                let window = match stored {
                    Some(Value::Window(w)) => Some(*w),
                    _ => None,
                };
                let (decision, window) = algo::sliding_window(window, now, limit, period, cost);
                let stored = window.map(|w: Window| Stored {
                    value: Value::Window(w),
                    expires: Some(w.start.saturating_add(2 * period)),
                });
                (decision, stored)
            }
        })
    })
}

pub(super) fn get(partition: &Partition, key: &str) -> Option<Vec<u8>> {
    let now = partition.now();
    partition
        .read(key, now, |value| match value {
            Value::Bytes(bytes) => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
}

pub(super) fn set(
    partition: &Partition,
    key: String,
    value: Vec<u8>,
    ttl_ms: Option<u64>,
) -> Result<(), StateError> {
    let now = partition.now();
    let expires = ttl_ms.map(|ttl| now.saturating_add(ttl * 1000));
    let payload = value.len();
    partition.upsert(key, payload, now, |_| {
        let value = Value::Bytes(value);
        Ok(((), Some(Stored { value, expires })))
    })
}

/// Sweeps the store's expired entries every [`SWEEP_EVERY`] until the store is dropped. Outside
/// a tokio runtime (a unit test) entries are swept only when a namespace or the store is full.
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
