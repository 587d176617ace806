//! The gateway-wide budget for plugin memory: every live instance's linear memory is reserved
//! here as it grows, so that many instances under a generous per-plugin `memory` limit cannot
//! together take more than the operator allowed (`[plugin-runtime] memory-budget`).
//!
//! A store holds a `Lease`: its `ResourceLimiter` reserves each growth before wasmtime makes
//! it, and the lease gives everything back when the store (the instance) is dropped. Instances
//! of every snapshot share one budget, which a reload carries over with new bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::PluginRuntimeConfig;

/// The budget when the machine's memory cannot be read.
const FALLBACK_BUDGET: usize = 4 << 30;

/// Linear memory of all plugin instances: how much is reserved and how much may be.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: AtomicUsize,
    used: AtomicUsize,
    idle_memory: AtomicUsize,
}

impl MemoryBudget {
    /// A budget with the bounds of `config` (the machine's default where it sets none).
    pub fn new(config: &PluginRuntimeConfig) -> Self {
        let budget = Self {
            limit: AtomicUsize::new(0),
            used: AtomicUsize::new(0),
            idle_memory: AtomicUsize::new(0),
        };
        budget.configure(config);
        budget
    }

    /// Applies the bounds of a new manifest. Memory already reserved stays reserved: lowering
    /// the budget below it refuses growth until instances are dropped.
    pub fn configure(&self, config: &PluginRuntimeConfig) {
        let limit = config.memory_budget.unwrap_or_else(default_budget);
        self.limit.store(limit, Ordering::Relaxed);
        self.idle_memory
            .store(config.idle_memory, Ordering::Relaxed);
    }

    /// Bytes of linear memory reserved by live instances now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes all instances together may have.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Above this size a reused instance is dropped when its request ends, not kept idle.
    pub fn idle_memory(&self) -> usize {
        self.idle_memory.load(Ordering::Relaxed)
    }

    /// A lease with nothing reserved yet, for one store.
    pub(crate) fn lease(self: &Arc<Self>) -> Lease {
        Lease {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Reserves `bytes` if the budget has room for them.
    fn try_reserve(&self, bytes: usize) -> bool {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// What one store has reserved from the budget; given back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Lease {
    /// Reserves the growth of one memory from `current` to `desired` bytes; `false` when the
    /// budget has no room (nothing is reserved then).
    pub(crate) fn grow(&mut self, current: usize, desired: usize) -> bool {
        let more = desired.saturating_sub(current);
        if !self.budget.try_reserve(more) {
            return false;
        }
        self.bytes += more;
        true
    }

    /// Bytes of linear memory this store holds.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The budget's limit, for messages.
    pub(crate) fn limit(&self) -> usize {
        self.budget.limit()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Half of the memory this process may use: the cgroup's limit when one is set (a container),
/// else the machine's physical memory; `FALLBACK_BUDGET` when neither can be read. Half leaves
/// room for the gateway's own buffers, connections and the plugins' host-side state.
pub fn default_budget() -> usize {
    available_memory().map_or(FALLBACK_BUDGET, |bytes| bytes / 2)
}

fn available_memory() -> Option<usize> {
    let physical = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    match (physical, cgroup) {
        (Some(physical), Some(cgroup)) => Some(physical.min(cgroup)),
        (one, other) => one.or(other),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget::new(&PluginRuntimeConfig {
            memory_budget: Some(limit),
            ..PluginRuntimeConfig::default()
        }))
    }

    #[test]
    fn growth_beyond_the_budget_is_refused_and_a_dropped_lease_gives_its_memory_back() {
        let budget = budget(10 << 20);
        let mut first = budget.lease();
        let mut second = budget.lease();

        assert!(first.grow(0, 6 << 20));
        assert!(!second.grow(0, 6 << 20), "6 + 6 MiB exceed 10 MiB");
        assert!(second.grow(0, 4 << 20), "6 + 4 MiB fit");
        assert_eq!(budget.used(), 10 << 20);

        drop(first);
        assert_eq!(budget.used(), 4 << 20);
        assert!(
            second.grow(4 << 20, 9 << 20),
            "the freed memory is available again"
        );
        assert_eq!(second.bytes(), 9 << 20);
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_new_manifest_changes_the_bounds_but_keeps_what_is_reserved() {
        let budget = budget(8 << 20);
        let mut lease = budget.lease();
        assert!(lease.grow(0, 6 << 20));

        budget.configure(&PluginRuntimeConfig {
            memory_budget: Some(4 << 20),
            idle_memory: 1 << 20,
            ..PluginRuntimeConfig::default()
        });

        assert_eq!(budget.used(), 6 << 20);
        assert_eq!(budget.idle_memory(), 1 << 20);
        assert!(!lease.grow(6 << 20, 7 << 20), "over the lowered budget");
    }

    #[test]
    fn the_default_budget_is_half_the_physical_memory() {
        let meminfo = "MemTotal:        8000000 kB\nMemFree:         100 kB\n";
        assert_eq!(mem_total(meminfo), Some(8_000_000 * 1024));
        assert_eq!(mem_total("nothing here"), None);
        assert!(default_budget() > 0);
    }
}
