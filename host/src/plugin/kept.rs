//! What outlives one snapshot but not its last user: a plugin version's figures and breaker, a
//! canary's state, a shadow's comparisons. A reload configures every plugin anew, and finds
//! here, by key, what the snapshot in service already holds, so counters run on and a rollback
//! stays rolled back; once no snapshot holds a value, it goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::account::PluginStats;
use super::budget::MemoryBudget;
use super::rollout::breaker::Breaker;
use super::rollout::canary::CanaryState;
use super::rollout::shadow::state::ShadowState;
use crate::config::PluginRuntimeConfig;

/// The memory all shadow instances together may hold: apart from the live plugins' budget, so
/// a shadow never takes memory a live call needs.
pub const SHADOW_BUDGET: usize = 256 << 20;

/// Everything the plugin runtime keeps across snapshots.
pub struct Registry {
    /// Figures per plugin version and route.
    pub stats: Kept<PluginStats>,
    /// Breakers per plugin version and route.
    pub breakers: Kept<Breaker>,
    /// Canaries per entry and versions.
    pub canaries: Kept<CanaryState>,
    /// Shadows' comparisons per entry and versions.
    pub shadows: Kept<ShadowState>,
    /// The memory budget of shadow instances.
    pub shadow_budget: Arc<MemoryBudget>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            stats: Kept::default(),
            breakers: Kept::default(),
            canaries: Kept::default(),
            shadows: Kept::default(),
            shadow_budget: Arc::new(MemoryBudget::new(&PluginRuntimeConfig {
                memory_budget: Some(SHADOW_BUDGET),
                ..PluginRuntimeConfig::default()
            })),
        }
    }
}

/// Values by key, held weakly.
pub struct Kept<V> {
    map: Mutex<HashMap<String, Weak<V>>>,
}

impl<V> Default for Kept<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> Kept<V> {
    /// The value of `key` that some snapshot holds, or a new one from `make`.
    pub fn get_or_insert_with(&self, key: String, make: impl FnOnce() -> V) -> Arc<V> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = map.get(&key).and_then(Weak::upgrade) {
            return value;
        }
        // Dead entries go when new ones come: a reload is when both happen.
        map.retain(|_, value| value.strong_count() > 0);
        let value = Arc::new(make());
        map.insert(key, Arc::downgrade(&value));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_again_while_held_and_forgotten_after() {
        let kept = Kept::default();
        let first = kept.get_or_insert_with("a".into(), || 1);
        let again = kept.get_or_insert_with("a".into(), || 2);
        assert!(Arc::ptr_eq(&first, &again));
        drop((first, again));
        assert_eq!(*kept.get_or_insert_with("a".into(), || 3), 3);
    }
}
