//! Plugins' shared state: counters, rate limits and a small key/value store that outlive a
//! request, behind the WIT `state` interface (`docs/state.md`).
//!
//! - `algo`: GCRA and the sliding window as pure functions (Redis runs the same in Lua).
//! - `local`: the in-process backend (dashmap), the default; `partition`: its namespaces, each
//!   within a quota of keys and bytes, evicting only its own entries.
//! - `redis`: the Redis backend, shared by every gateway that names the same server; each
//!   decision is one Lua script, one atomic round trip.
//!
//! The store is built from the manifest's `[state]` table; each configured plugin gets a
//! [`Namespace`] (its name and route), so plugins never see each other's keys. A backend that
//! fails answers [`StateError::Unavailable`] and the plugin applies its own fault policy; the
//! failure is logged once, then at most every ten seconds with a count, and again when the
//! backend recovers.

mod algo;
mod clock;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod local;
mod partition;
mod redis;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::{StateBackend, StateConfig};

pub use crate::observe::metrics::NamespaceUsage;

/// The longest key a plugin may use, in bytes.
pub const MAX_KEY: usize = 512;
/// The largest value `set` takes, in bytes.
pub const MAX_VALUE: usize = 64 << 10;
/// The longest window, period or TTL: 366 days.
pub const MAX_PERIOD_MS: u64 = 366 * 24 * 3600 * 1000;
/// The largest `limit` of `rate-limit`.
pub const MAX_LIMIT: u32 = 1_000_000;

/// How often a backend that stays down is logged again.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a state call failed (the WIT `state-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The backend could not answer; the plugin applies its fault policy.
    #[error("state backend unavailable: {0}")]
    Unavailable(String),
    /// An argument is out of range.
    #[error("invalid state call: {0}")]
    Invalid(String),
}

/// Why a store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The Redis client looks for the tokio runtime itself (and would panic outside one).
    #[error("the Redis state backend needs a tokio runtime")]
    NoRuntime,
    /// The Redis client refused the URL.
    #[error("invalid Redis URL for `{label}`: {source}")]
    RedisUrl {
        /// The store's label (never the password).
        label: String,
        /// Why.
        source: ::redis::RedisError,
    },
    /// The Redis client could not be created.
    #[error("cannot set up the Redis client for `{label}`: {source}")]
    RedisClient {
        /// The store's label (never the password).
        label: String,
        /// Why.
        source: ::redis::RedisError,
    },
    /// A file of `[state]`'s `tls` table cannot be used.
    #[error("`[state]`: TLS {what} `{path}` {problem}")]
    TlsFile {
        /// `CA file`, `client certificate file` or `client key file`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why it cannot be used.
        problem: String,
        /// Where it is written in the manifest.
        span: std::ops::Range<usize>,
    },
}

impl SetupError {
    /// Where in the manifest the error points, when more precisely than `[state]`.
    pub fn span(&self) -> Option<std::ops::Range<usize>> {
        match self {
            Self::TlsFile { span, .. } => Some(span.clone()),
            _ => None,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            Self::TlsFile { .. } => {
                "give PEM files (relative paths are read from the manifest's directory): `tls = { ca = \"certs/redis-ca.pem\" }`, and `cert` with `key` for mTLS"
            }
            _ => "fix the `[state]` table (docs/state.md)",
        }
    }
}

/// How `rate-limit` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// GCRA: a token bucket refilled evenly.
    TokenBucket,
    /// The sliding window approximation.
    SlidingWindow,
}

/// What `rate-limit` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request fits; if so it was counted.
    pub allowed: bool,
    /// The limit asked for.
    pub limit: u32,
    /// Requests of cost 1 that would still be allowed now.
    pub remaining: u32,
    /// Milliseconds until the limit is whole again (at most the period).
    pub reset_ms: u64,
    /// When refused, milliseconds until the same cost will be allowed: exactly when the
    /// algorithm admits it, at most the period, never after `reset_ms`.
    pub retry_after_ms: u64,
}

/// Counters of a store, for logs and a future admin API.
#[derive(Debug, Default)]
pub struct StateStats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls the backend could not answer.
    pub unavailable: AtomicU64,
}

enum Backend {
    Local(local::Local),
    Redis(Arc<redis::Redis>),
}

/// The state of one manifest's plugins.
pub struct StateStore {
    backend: Backend,
    /// `local`, `redis host:port`, `redis-sentinel ...`, `redis-cluster ...` (never the
    /// password), for logs, `check` and `/status`.
    label: String,
    config: StateConfig,
    stats: StateStats,
    health: Health,
}

impl StateStore {
    /// A store as `[state]` describes it. A Redis store connects lazily: the gateway starts
    /// (and `portcullis check` passes) with Redis down, and plugins see `unavailable` until it
    /// answers.
    pub fn new(config: &StateConfig) -> Result<Arc<Self>, SetupError> {
        let (backend, label) = match &config.backend {
            StateBackend::Local => (
                Backend::Local(local::Local::new(config)),
                "local".to_owned(),
            ),
            StateBackend::Redis(redis) => {
                let label = config.backend.label();
                let client = redis::Redis::new(redis, config.timeout, &label)?;
                (Backend::Redis(Arc::new(client)), label)
            }
        };
        Ok(Self::with(backend, label, config))
    }

    /// An in-process store with the default bounds (cannot fail).
    pub fn in_process() -> Arc<Self> {
        let config = StateConfig::default();
        let backend = Backend::Local(local::Local::new(&config));
        Self::with(backend, "local".to_owned(), &config)
    }

    fn with(backend: Backend, label: String, config: &StateConfig) -> Arc<Self> {
        let store = Arc::new(Self {
            backend,
            label,
            config: config.clone(),
            stats: StateStats::default(),
            health: Health::default(),
        });
        if let Backend::Local(_) = store.backend {
            local::spawn_sweeper(Arc::downgrade(&store));
        }
        store
    }

    /// The `[state]` table it was built from (a reload may keep a store whose table did not
    /// change).
    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    /// `local`, `redis host:port`, `redis-sentinel master=... sentinels=...` or
    /// `redis-cluster nodes=...`, with ` tls` when TLS is on (never the password).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its counters.
    pub fn stats(&self) -> &StateStats {
        &self.stats
    }

    /// Whether the last call reached the backend.
    pub fn available(&self) -> bool {
        !self.health.down.load(Ordering::Relaxed)
    }

    /// The view of one configured plugin: its own partition of the local store (the same one
    /// across a reload that keeps the store), or its keys prefixed with its name and route in
    /// Redis.
    pub fn namespace(self: &Arc<Self>, plugin: &str, route: &str) -> Namespace {
        let view = match &self.backend {
            Backend::Local(local) => View::Local(local.partition(plugin, route)),
            Backend::Redis(redis) => View::Redis {
                redis: redis.clone(),
                prefix: format!("{plugin}:{route}:").into(),
            },
        };
        Namespace {
            store: self.clone(),
            view,
        }
    }

    /// What each namespace of the local backend holds, and its evictions and refusals (empty
    /// for Redis, which bounds and reports its own memory).
    pub fn usage(&self) -> Vec<NamespaceUsage> {
        match &self.backend {
            Backend::Local(local) => local.usage(),
            Backend::Redis(_) => Vec::new(),
        }
    }

    /// Counts a call and logs transitions of the backend's health.
    fn observe<T>(&self, result: Result<T, StateError>) -> Result<T, StateError> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        match &result {
            Err(StateError::Unavailable(reason)) => {
                self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
                self.health.failed(&self.label, reason);
            }
            Err(StateError::Invalid(_)) => {}
            Ok(_) => self.health.succeeded(&self.label),
        }
        result
    }
}

/// Rate-limited logging of backend failures: one line when it goes down, one every
/// [`LOG_EVERY`] while it stays down (with the count), one when it is back.
#[derive(Default)]
struct Health {
    down: AtomicBool,
    failures: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Health {
    fn failed(&self, backend: &str, reason: &str) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let was_down = self.down.swap(true, Ordering::Relaxed);
        let mut last = self.last_log.lock().unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if !was_down || due {
            *last = Some(Instant::now());
            drop(last);
            tracing::error!(
                target: "state", backend, failures,
                "state backend `{backend}` is unavailable ({failures} failed calls so far): {reason}; plugins apply their fault policy"
            );
        }
    }

    fn succeeded(&self, backend: &str) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            let failures = self.failures.swap(0, Ordering::Relaxed);
            *self.last_log.lock().unwrap_or_else(PoisonError::into_inner) = None;
            tracing::info!(
                target: "state", backend, failures,
                "state backend `{backend}` is available again after {failures} failed calls"
            );
        }
    }
}

/// One plugin's view of the store: the WIT `state` functions, with keys checked and kept apart
/// from other plugins'.
#[derive(Clone)]
pub struct Namespace {
    store: Arc<StateStore>,
    view: View,
}

/// Where a namespace's keys live.
#[derive(Clone)]
enum View {
    /// Its own partition of the in-process store.
    Local(Arc<partition::Partition>),
    /// Redis, under `<prefix><plugin>:<route>:`.
    Redis {
        redis: Arc<redis::Redis>,
        prefix: Arc<str>,
    },
}

/// The separate key spaces, so a counter and a key/value of the same name never meet (and a
/// Redis key never holds two types).
#[derive(Debug, Clone, Copy)]
enum Space {
    Counter,
    Gcra,
    Window,
    Value,
}

impl Space {
    fn tag(self) -> &'static str {
        match self {
            Space::Counter => "c",
            Space::Gcra => "g",
            Space::Window => "w",
            Space::Value => "v",
        }
    }
}

impl Namespace {
    fn key(&self, space: Space, key: &str) -> Result<String, StateError> {
        if key.is_empty() {
            return Err(StateError::Invalid("the key is empty".into()));
        }
        if key.len() > MAX_KEY {
            return Err(StateError::Invalid(format!(
                "a key of {} bytes is longer than the {MAX_KEY} allowed",
                key.len()
            )));
        }
        // One allocation and a copy: `format!` took a thousand instructions per state call.
        Ok([space.tag(), ":", key].concat())
    }

    /// `key` under this namespace's Redis prefix.
    fn redis_key(prefix: &str, key: &str) -> String {
        [prefix, key].concat()
    }

    /// Adds `delta` to a counter that expires `window_ms` after its creation (0: never).
    pub async fn increment(
        &self,
        key: &str,
        delta: i64,
        window_ms: u64,
    ) -> Result<i64, StateError> {
        let result = async {
            let key = self.key(Space::Counter, key)?;
            check_period("window-ms", window_ms, true)?;
            match &self.view {
                View::Local(partition) => local::increment(partition, key, delta, window_ms),
                View::Redis { redis, prefix } => {
                    let key = Self::redis_key(prefix, &key);
                    redis.increment(&key, delta, window_ms).await
                }
            }
        }
        .await;
        self.store.observe(result)
    }

    /// Decides whether a request of `cost` fits in `limit` per `period_ms`, and counts it.
    pub async fn rate_limit(
        &self,
        key: &str,
        algorithm: Algorithm,
        limit: u32,
        period_ms: u64,
        cost: u32,
    ) -> Result<RateDecision, StateError> {
        let result = async {
            let space = match algorithm {
                Algorithm::TokenBucket => Space::Gcra,
                Algorithm::SlidingWindow => Space::Window,
            };
            let key = self.key(space, key)?;
            check_rate(limit, period_ms, cost)?;
            let period_us = period_ms * 1000;
            match &self.view {
                View::Local(partition) => {
                    local::rate_limit(partition, key, algorithm, limit, period_us, cost)
                }
                View::Redis { redis, prefix } => {
                    let key = Self::redis_key(prefix, &key);
                    redis
                        .rate_limit(&key, algorithm, limit, period_us, cost)
                        .await
                }
            }
        }
        .await;
        self.store.observe(result)
    }

    /// The value under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let result = async {
            let key = self.key(Space::Value, key)?;
            match &self.view {
                View::Local(partition) => Ok(local::get(partition, &key)),
                View::Redis { redis, prefix } => redis.get(&Self::redis_key(prefix, &key)).await,
            }
        }
        .await;
        self.store.observe(result)
    }

    /// Stores `value` under `key`, for `ttl_ms` or for ever.
    pub async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), StateError> {
        let result = async {
            let key = self.key(Space::Value, key)?;
            if value.len() > MAX_VALUE {
                return Err(StateError::Invalid(format!(
                    "a value of {} bytes is larger than the {MAX_VALUE} allowed",
                    value.len()
                )));
            }
            if let Some(ttl) = ttl_ms {
                check_period("ttl-ms", ttl, false)?;
            }
            match &self.view {
                View::Local(partition) => local::set(partition, key, value, ttl_ms),
                View::Redis { redis, prefix } => {
                    let key = Self::redis_key(prefix, &key);
                    redis.set(&key, value, ttl_ms).await
                }
            }
        }
        .await;
        self.store.observe(result)
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StateError> {
        let result = async {
            let key = self.key(Space::Value, key)?;
            match &self.view {
                View::Local(partition) => {
                    partition.remove(&key);
                    Ok(())
                }
                View::Redis { redis, prefix } => redis.delete(&Self::redis_key(prefix, &key)).await,
            }
        }
        .await;
        self.store.observe(result)
    }
}

fn check_period(what: &str, ms: u64, zero_ok: bool) -> Result<(), StateError> {
    if (ms == 0 && !zero_ok) || ms > MAX_PERIOD_MS {
        let low = if zero_ok { 0 } else { 1 };
        return Err(StateError::Invalid(format!(
            "`{what}` is {ms}; it must be from {low} to {MAX_PERIOD_MS} (366 days)"
        )));
    }
    Ok(())
}

fn check_rate(limit: u32, period_ms: u64, cost: u32) -> Result<(), StateError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(StateError::Invalid(format!(
            "`limit` is {limit}; it must be from 1 to {MAX_LIMIT}"
        )));
    }
    check_period("period-ms", period_ms, false)?;
    if u64::from(limit) > period_ms * 1000 {
        return Err(StateError::Invalid(format!(
            "a limit of {limit} per {period_ms}ms is more than 1000 per millisecond"
        )));
    }
    if cost > limit {
        return Err(StateError::Invalid(format!(
            "a cost of {cost} can never fit in a limit of {limit}"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;

impl crate::observe::metrics::StateUsage for StateStore {
    fn usage(&self) -> Vec<NamespaceUsage> {
        StateStore::usage(self)
    }
}
