//! One namespace's share of the in-process store: its own map, its quota of keys and bytes, and
//! the eviction that keeps it within them, so that a namespace filling up (a limit keyed on a
//! header a client chooses) only ever evicts its own entries and never another's live counters.
//!
//! Eviction takes expired entries first (a sweep of the namespace, at most once a second), then
//! an approximately least-recently-used one by the CLOCK algorithm (second chance): entries sit
//! in a ring in insertion order with a bit set on every use; the hand evicts the first entry
//! whose bit is clear, clearing the bits it passes. A key used once (a flood of random keys)
//! goes before a client that came back. Like Redis's sampled LRU it is an approximation that
//! costs O(1) per insertion and nothing on the hot path but one atomic store.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use super::StateError;
use super::algo::Window;
use super::clock::Clock;
use crate::config::StateConfig;

/// What an entry costs besides its key and value: the map slot (key handle, value, hash
/// table control bytes and spare capacity), the key's allocation header and its place in the
/// eviction ring. An estimate, used for the byte bounds.
pub(super) const ENTRY_OVERHEAD: usize = 160;

/// The most entries one call may evict to make room (a 64 KiB value among small counters).
const MAX_EVICTIONS: usize = 1024;

/// How often a full namespace may sweep its expired entries, in microseconds.
const SWEEP_EVERY_US: u64 = 1_000_000;

/// A stored value.
pub(super) enum Value {
    Counter(i64),
    Gcra(u64),
    Window(Window),
    Bytes(Vec<u8>),
}

impl Value {
    fn payload(&self) -> usize {
        match self {
            Value::Bytes(bytes) => bytes.len(),
            _ => 0,
        }
    }
}

pub(super) struct Entry {
    pub(super) value: Value,
    /// Microseconds of Unix time; `None` never expires.
    pub(super) expires: Option<u64>,
    /// Set on every use, cleared when the CLOCK hand passes.
    referenced: AtomicBool,
    /// Which insertion this is, so that stale records in the ring are recognised.
    generation: u64,
    /// The bytes charged for it: key, value and [`ENTRY_OVERHEAD`].
    size: usize,
}

impl Entry {
    pub(super) fn live(&self, now: u64) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// A value to store, with its expiry.
pub(super) struct Stored {
    pub(super) value: Value,
    pub(super) expires: Option<u64>,
}

/// Why an entry left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eviction {
    Expired,
    Lru,
}

/// The namespaces of a store, by plugin and route; a namespace no plugin uses any more is
/// dropped (and its entries freed) with its last [`super::Namespace`].
type Registry = HashMap<(Arc<str>, Arc<str>), Weak<Partition>>;

/// The whole store's bounds and usage, and its namespaces.
pub(super) struct Shared {
    clock: Clock,
    max_keys: usize,
    max_bytes: usize,
    namespace_keys: Option<usize>,
    namespace_bytes: Option<usize>,
    keys: AtomicUsize,
    bytes: AtomicUsize,
    /// Namespaces that have held a key: the divisor of the derived quotas.
    active: AtomicUsize,
    generation: AtomicU64,
    /// When the last sweep of every namespace ran (for a full store), in microseconds.
    last_sweep: AtomicU64,
    partitions: Mutex<Registry>,
}

impl Shared {
    pub(super) fn new(config: &StateConfig) -> Arc<Self> {
        Arc::new(Self {
            clock: Clock::new(),
            max_keys: config.max_keys.max(1),
            max_bytes: config.max_bytes.max(1),
            namespace_keys: config.namespace_max_keys,
            namespace_bytes: config.namespace_max_bytes,
            keys: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// Microseconds of Unix time (see [`Clock`]).
    pub(super) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The partition of `plugin` on `route`: the existing one if it is still in use (a reload
    /// keeps its counters), else a new one.
    pub(super) fn partition(self: &Arc<Self>, plugin: &str, route: &str) -> Arc<Partition> {
        let mut partitions = self.lock_partitions();
        partitions.retain(|_, p| p.strong_count() > 0);
        let id = (Arc::<str>::from(plugin), Arc::<str>::from(route));
        if let Some(existing) = partitions.get(&id).and_then(Weak::upgrade) {
            return existing;
        }
        let partition = Arc::new(Partition {
            plugin: id.0.clone(),
            route: id.1.clone(),
            map: DashMap::new(),
            ring: Mutex::new(VecDeque::new()),
            keys: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            active: AtomicBool::new(false),
            last_sweep: AtomicU64::new(0),
            stats: PartitionStats::default(),
            shared: self.clone(),
        });
        partitions.insert(id, Arc::downgrade(&partition));
        partition
    }

    /// The namespaces in use.
    pub(super) fn partitions(&self) -> Vec<Arc<Partition>> {
        self.lock_partitions()
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn lock_partitions(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `keys` more keys and `bytes` more bytes exceed the store's bounds.
    fn full(&self, keys: usize, bytes: usize) -> bool {
        self.keys.load(Ordering::Relaxed) + keys > self.max_keys
            || self.bytes.load(Ordering::Relaxed) + bytes > self.max_bytes
    }

    /// Makes room in the whole store: expired entries everywhere (at most once a second),
    /// then the least recently used entries of the namespace most over its quota. A store full
    /// of namespaces within their quotas (possible only with `namespace-max-*` set above an
    /// equal share) refuses the new key rather than evict anyone's live entries.
    fn make_room(&self, keys: usize, bytes: usize, now: u64) -> bool {
        let mut swept = false;
        for _ in 0..MAX_EVICTIONS {
            if !self.full(keys, bytes) {
                return true;
            }
            if !swept && due(&self.last_sweep, now) {
                swept = true;
                self.partitions().iter().for_each(|p| {
                    p.sweep(now);
                });
                continue;
            }
            let Some(hog) = self.most_over_quota() else {
                return false;
            };
            if !hog.evict_one(now) {
                return false;
            }
        }
        !self.full(keys, bytes)
    }

    fn most_over_quota(&self) -> Option<Arc<Partition>> {
        let over = |p: &Partition| {
            let (keys, bytes) = p.quota();
            let key_excess = p.keys.load(Ordering::Relaxed) as f64 / keys as f64;
            let byte_excess = p.bytes.load(Ordering::Relaxed) as f64 / bytes as f64;
            key_excess.max(byte_excess)
        };
        self.partitions()
            .into_iter()
            .map(|p| (over(&p), p))
            .filter(|(excess, _)| *excess > 1.0)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, p)| p)
    }
}

/// Whether a sweep last run at `last` is due again at `now`; claims it if so.
fn due(last: &AtomicU64, now: u64) -> bool {
    let previous = last.load(Ordering::Relaxed);
    now.saturating_sub(previous) >= SWEEP_EVERY_US
        && last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// A namespace's counters of evictions and refusals (for `/metrics`).
#[derive(Default)]
pub(super) struct PartitionStats {
    pub(super) expired: AtomicU64,
    pub(super) evicted: AtomicU64,
    pub(super) refused: AtomicU64,
}

/// One namespace's entries.
pub(super) struct Partition {
    pub(super) plugin: Arc<str>,
    pub(super) route: Arc<str>,
    map: DashMap<Arc<str>, Entry>,
    /// Keys in insertion order with their generation: the CLOCK ring.
    ring: Mutex<VecDeque<(Arc<str>, u64)>>,
    pub(super) keys: AtomicUsize,
    pub(super) bytes: AtomicUsize,
    /// Whether it has held a key (and so counts in the shares of the store).
    active: AtomicBool,
    last_sweep: AtomicU64,
    pub(super) stats: PartitionStats,
    shared: Arc<Shared>,
}

impl Drop for Partition {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared
            .keys
            .fetch_sub(self.keys.load(Ordering::Relaxed), Ordering::Relaxed);
        shared
            .bytes
            .fetch_sub(self.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        if self.active.load(Ordering::Relaxed) {
            shared.active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Partition {
    /// Microseconds of Unix time, the clock of its store.
    pub(super) fn now(&self) -> u64 {
        self.shared.now()
    }

    /// Its quota of keys and bytes: as configured, or an equal share of the store among the
    /// namespaces holding keys; never more than the store's bounds.
    pub(super) fn quota(&self) -> (usize, usize) {
        let shared = &self.shared;
        let active = shared.active.load(Ordering::Relaxed).max(1);
        let keys = shared.namespace_keys.unwrap_or(shared.max_keys / active);
        let bytes = shared.namespace_bytes.unwrap_or(shared.max_bytes / active);
        (
            keys.clamp(1, shared.max_keys),
            bytes.clamp(1, shared.max_bytes),
        )
    }

    /// Calls `change` with the live value under `key` and its expiry (`None` when absent or
    /// expired) and
    /// stores what it returns, if anything. A new key (or a larger value) is given room first:
    /// within the namespace's quota by evicting its own entries, within the store's bounds by
    /// evicting from a namespace over its quota; when that fails, the call is refused as
    /// `unavailable` (existing keys keep working).
    pub(super) fn upsert<R>(
        &self,
        key: String,
        payload: usize,
        now: u64,
        change: impl FnOnce(Option<(&Value, Option<u64>)>) -> Result<(R, Option<Stored>), StateError>,
    ) -> Result<R, StateError> {
        let size = key.len() + payload + ENTRY_OVERHEAD;
        // The common case, a key updated in place within its room (a counter, a rate limit's
        // window): one lookup, and no key to allocate.
        let old_size = match self.map.get_mut(key.as_str()) {
            Some(mut entry) if entry.size >= size => {
                return self.update(&mut entry, key.len(), now, change);
            }
            Some(entry) => Some(entry.size),
            None => None,
        };
        let grows = size.saturating_sub(old_size.unwrap_or(0));
        if grows > 0 {
            self.reserve(old_size.is_none(), grows, now)?;
        }
        let key: Arc<str> = key.into();
        let inserted = match self.map.entry(key.clone()) {
            MapEntry::Occupied(mut slot) => {
                return self.update(slot.get_mut(), key.len(), now, change);
            }
            MapEntry::Vacant(slot) => {
                let (result, stored) = change(None)?;
                let Some(stored) = stored else {
                    return Ok(result);
                };
                let generation = self.shared.generation.fetch_add(1, Ordering::Relaxed);
                let size = key.len() + stored.value.payload() + ENTRY_OVERHEAD;
                slot.insert(Entry {
                    value: stored.value,
                    expires: stored.expires,
                    referenced: AtomicBool::new(false),
                    generation,
                    size,
                });
                self.keys.fetch_add(1, Ordering::Relaxed);
                self.shared.keys.fetch_add(1, Ordering::Relaxed);
                self.charge(size as isize);
                (result, generation)
            }
        };
        // The shard lock is released: the ring is locked before the map, never after.
        let (result, generation) = inserted;
        self.remember(key, generation);
        Ok(result)
    }

    /// Runs `change` on the existing `entry` (of a key `key_len` bytes long) and stores what it
    /// returns, if anything, its size charged.
    fn update<R>(
        &self,
        entry: &mut Entry,
        key_len: usize,
        now: u64,
        change: impl FnOnce(Option<(&Value, Option<u64>)>) -> Result<(R, Option<Stored>), StateError>,
    ) -> Result<R, StateError> {
        entry.referenced.store(true, Ordering::Relaxed);
        let live = entry.live(now).then_some((&entry.value, entry.expires));
        let (result, stored) = change(live)?;
        if let Some(stored) = stored {
            let size = key_len + stored.value.payload() + ENTRY_OVERHEAD;
            self.charge(size as isize - entry.size as isize);
            entry.size = size;
            entry.value = stored.value;
            entry.expires = stored.expires;
        }
        Ok(result)
    }

    /// The live value under `key`, through `read`.
    pub(super) fn read<R>(&self, key: &str, now: u64, read: impl FnOnce(&Value) -> R) -> Option<R> {
        let entry = self.map.get(key)?;
        entry.referenced.store(true, Ordering::Relaxed);
        entry.live(now).then(|| read(&entry.value))
    }

    /// Removes `key`.
    pub(super) fn remove(&self, key: &str) {
        if let Some((_, entry)) = self.map.remove(key) {
            self.forget(&entry);
        }
    }

    /// Removes expired entries; returns how many.
    pub(super) fn sweep(&self, now: u64) -> usize {
        let mut removed = Vec::new();
        self.map.retain(|_, entry| {
            let live = entry.live(now);
            if !live {
                removed.push(entry.size);
            }
            live
        });
        for size in &removed {
            self.uncharge(*size);
        }
        let count = removed.len();
        self.stats
            .expired
            .fetch_add(count as u64, Ordering::Relaxed);
        count
    }

    fn charge(&self, bytes: isize) {
        if bytes >= 0 {
            self.bytes
                .fetch_add(bytes.unsigned_abs(), Ordering::Relaxed);
            self.shared
                .bytes
                .fetch_add(bytes.unsigned_abs(), Ordering::Relaxed);
        } else {
            self.bytes
                .fetch_sub(bytes.unsigned_abs(), Ordering::Relaxed);
            self.shared
                .bytes
                .fetch_sub(bytes.unsigned_abs(), Ordering::Relaxed);
        }
    }

    fn uncharge(&self, size: usize) {
        self.keys.fetch_sub(1, Ordering::Relaxed);
        self.shared.keys.fetch_sub(1, Ordering::Relaxed);
        self.charge(-(size as isize));
    }

    fn forget(&self, entry: &Entry) {
        self.uncharge(entry.size);
    }

    /// Makes room for a new key (`new_key`) and `bytes` more bytes, or refuses.
    fn reserve(&self, new_key: bool, bytes: usize, now: u64) -> Result<(), StateError> {
        if !self.active.swap(true, Ordering::Relaxed) {
            self.shared.active.fetch_add(1, Ordering::Relaxed);
        }
        let keys = usize::from(new_key);
        let (quota_keys, quota_bytes) = self.quota();
        if bytes > quota_bytes {
            return Err(self.refuse(format!(
                "{bytes} bytes do not fit in the namespace's quota of {quota_bytes} bytes"
            )));
        }
        let over = |p: &Self| {
            p.keys.load(Ordering::Relaxed) + keys > quota_keys
                || p.bytes.load(Ordering::Relaxed) + bytes > quota_bytes
        };
        let mut swept = false;
        let mut evictions = 0;
        while over(self) {
            if !swept && due(&self.last_sweep, now) {
                swept = true;
                self.sweep(now);
                continue;
            }
            if evictions == MAX_EVICTIONS || !self.evict_one(now) {
                return Err(self.refuse(format!(
                    "its quota of {quota_keys} keys and {quota_bytes} bytes is used up"
                )));
            }
            evictions += 1;
        }
        if !self.shared.make_room(keys, bytes, now) {
            return Err(self.refuse(format!(
                "the store's {} keys or {} bytes are used by namespaces within their quotas \
                 (raise `max-keys`/`max-bytes` or lower `namespace-max-keys`/`namespace-max-bytes` in `[state]`)",
                self.shared.max_keys, self.shared.max_bytes
            )));
        }
        Ok(())
    }

    fn refuse(&self, why: String) -> StateError {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        StateError::Unavailable(format!(
            "the local state of plugin `{}` on route `{}` refused a new key: {why}",
            self.plugin, self.route
        ))
    }

    /// Adds a new key to the ring; drops stale records when they outnumber live keys.
    fn remember(&self, key: Arc<str>, generation: u64) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.push_back((key, generation));
        if ring.len() > 2 * self.map.len() + 64 {
            ring.retain(|(key, generation)| {
                self.map
                    .get(key)
                    .is_some_and(|e| e.generation == *generation)
            });
        }
    }

    /// Evicts one entry: the first expired or unreferenced one at the CLOCK hand. Returns
    /// whether one was evicted.
    fn evict_one(&self, now: u64) -> bool {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // Two turns at most: the first clears every bit.
        let mut turns = 2 * ring.len() + 1;
        while turns > 0 {
            turns -= 1;
            let Some((key, generation)) = ring.pop_front() else {
                return false;
            };
            let verdict = match self.map.get(&key) {
                Some(e) if e.generation == generation => {
                    if !e.live(now) {
                        Some(Eviction::Expired)
                    } else if e.referenced.swap(false, Ordering::Relaxed) {
                        None
                    } else {
                        Some(Eviction::Lru)
                    }
                }
                _ => continue,
            };
            let Some(reason) = verdict else {
                ring.push_back((key, generation));
                continue;
            };
            if let Some((_, entry)) = self.map.remove_if(&key, |_, e| e.generation == generation) {
                self.forget(&entry);
                let counter = match reason {
                    Eviction::Expired => &self.stats.expired,
                    Eviction::Lru => &self.stats.evicted,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }
}
