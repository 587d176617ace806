//! The `[state]` table: where plugins' shared state lives (in process or Redis), its timeout and
//! its bounds. The raw table as written, the validated [`StateConfig`], and its check; the
//! Redis backends' own keys (one server, Sentinel, Cluster, TLS) are checked in `redis`.

mod redis;

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::base::Base;
use super::diagnostic::Diagnostic;
use super::spanned::Span;
use super::suggest;
use super::units::{Text, duration, parse_size};

/// The top-level `[state]` table: where plugins' shared state lives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawState {
    pub(super) backend: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<Text>>,
    pub(super) max_keys: Option<Spanned<i64>>,
    pub(super) max_bytes: Option<Spanned<Text>>,
    pub(super) namespace_max_keys: Option<Spanned<i64>>,
    pub(super) namespace_max_bytes: Option<Spanned<Text>>,
    pub(super) prefix: Option<Spanned<String>>,
    pub(super) tls: Option<Spanned<redis::RawTls>>,
    pub(super) sentinels: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) master: Option<Spanned<String>>,
    pub(super) nodes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) username: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<String>>,
    pub(super) db: Option<Spanned<i64>>,
    pub(super) sentinel_username: Option<Spanned<String>>,
    pub(super) sentinel_password: Option<Spanned<String>>,
}

/// The `[state]` table (see `docs/state.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// Where the state is kept.
    pub backend: StateBackend,
    /// The longest a state call may wait for Redis (default 50ms).
    pub timeout: Duration,
    /// The most keys the in-process backend holds (default 100 000).
    pub max_keys: usize,
    /// The most bytes (keys, values and bookkeeping) the in-process backend holds
    /// (default 64 MiB).
    pub max_bytes: usize,
    /// The most keys one namespace (a plugin entry on a route) may hold in the in-process
    /// backend; `None`: an equal share of `max_keys` among the namespaces holding keys.
    pub namespace_max_keys: Option<usize>,
    /// The most bytes one namespace may hold; `None`: an equal share of `max_bytes`.
    pub namespace_max_bytes: Option<usize>,
    /// Where `[state]` is in the manifest (empty when absent).
    pub span: Range<usize>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: StateBackend::Local,
            timeout: Duration::from_millis(50),
            max_keys: 100_000,
            max_bytes: 64 << 20,
            namespace_max_keys: None,
            namespace_max_bytes: None,
            span: 0..0,
        }
    }
}

/// `backend` of `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend {
    /// In this process, lost on restart, not shared with other gateways (default).
    Local,
    /// Redis (one server, a Sentinel-managed master or a Cluster), shared by every gateway that
    /// names it.
    Redis(Box<RedisConfig>),
}

impl StateBackend {
    /// What logs, `check` and `/status` call it: `local`, `redis 10.0.0.7:6379`,
    /// `redis-sentinel master=mymaster sentinels=...`, `redis-cluster nodes=...`, with ` tls`
    /// when TLS is on. Never a password.
    pub fn label(&self) -> String {
        match self {
            Self::Local => "local".to_owned(),
            Self::Redis(redis) => redis.label(),
        }
    }
}

pub use redis::{RedisAuth, RedisConfig, RedisTls, RedisTopology, TlsSpans};

const BACKENDS: &[&str] = &["local", "redis", "redis-sentinel", "redis-cluster"];

/// The longest `timeout` accepted: a state call holds its plugin call (and so the request), and
/// a plugin call's wall-clock bound is never less than one second, so one state call always
/// ends (with `unavailable`) before its plugin call is cut short.
const MAX_TIMEOUT: Duration = Duration::from_secs(1);

/// The validated table; errors are pushed and defaults stand in for the bad values.
pub(super) fn config(
    span: Span,
    raw: RawState,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> StateConfig {
    let defaults = StateConfig::default();
    let what = "`[state]`";
    let backend_name = raw
        .backend
        .as_ref()
        .map_or("local", |b| b.get_ref().as_str());
    let backend_span = raw.backend.as_ref().map_or(span.clone(), |b| b.span());
    let kind = match backend_name {
        "local" => Some(None),
        "redis" => Some(Some(redis::Kind::Server)),
        "redis-sentinel" => Some(Some(redis::Kind::Sentinel)),
        "redis-cluster" => Some(Some(redis::Kind::Cluster)),
        other => {
            errors.push(Diagnostic::new(
                backend_span.clone(),
                format!("unknown state backend `{other}`"),
                suggest::help(other, "backends", BACKENDS),
            ));
            None
        }
    };
    let known = kind.is_some();
    let redis = matches!(kind, Some(Some(_)));
    let backend = match kind {
        Some(Some(kind)) => redis::config(kind, backend_span, &raw, base, errors)
            .map_or(StateBackend::Local, |r| StateBackend::Redis(Box::new(r))),
        Some(None) => {
            redis::refuse_on_local(&raw, errors);
            StateBackend::Local
        }
        None => StateBackend::Local,
    };
    let timeout = match raw.timeout {
        Some(value) if redis => {
            let value_span = value.span();
            let timeout = duration(Some(value), defaults.timeout, what, errors);
            if timeout > MAX_TIMEOUT {
                errors.push(Diagnostic::new(
                    value_span,
                    format!("the timeout of {what} is longer than 1s"),
                    "a state call holds its request: keep it short, e.g. `timeout = \"50ms\"`",
                ));
            }
            timeout
        }
        Some(_) if !known => defaults.timeout,
        Some(value) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("`timeout` in {what} is only used by the redis backend"),
                "add `backend = \"redis\"`, or remove the key",
            ));
            defaults.timeout
        }
        None => defaults.timeout,
    };
    let mut bounds = Bounds { redis, errors };
    let max_keys = bounds
        .keys("max-keys", raw.max_keys)
        .unwrap_or(defaults.max_keys);
    let max_bytes = bounds
        .bytes("max-bytes", raw.max_bytes)
        .unwrap_or(defaults.max_bytes);
    let namespace_max_keys = bounds.keys("namespace-max-keys", raw.namespace_max_keys);
    let namespace_max_bytes = bounds.bytes("namespace-max-bytes", raw.namespace_max_bytes);
    StateConfig {
        backend,
        timeout,
        max_keys,
        max_bytes,
        namespace_max_keys,
        namespace_max_bytes,
        span,
    }
}

/// The most keys any bound may name.
const MAX_KEYS: usize = 100_000_000;
/// The smallest byte bound: one value of the largest size with its key and bookkeeping.
const MIN_BYTES: u64 = 128 << 10;
/// The largest byte bound.
const MAX_BYTES: u64 = 64 << 30;

/// Checks the bounds of the local backend (and refuses them with Redis, which bounds its
/// memory itself).
struct Bounds<'a> {
    redis: bool,
    errors: &'a mut Vec<Diagnostic>,
}

impl Bounds<'_> {
    fn local_only(&mut self, key: &str, span: Span) {
        self.errors.push(Diagnostic::new(
            span,
            format!("`{key}` in `[state]` bounds the local backend only"),
            "Redis bounds its memory itself (`maxmemory`); remove the key",
        ));
    }

    fn keys(&mut self, key: &str, value: Option<Spanned<i64>>) -> Option<usize> {
        let value = value?;
        if self.redis {
            self.local_only(key, value.span());
            return None;
        }
        match usize::try_from(*value.get_ref()) {
            Ok(n) if (1..=MAX_KEYS).contains(&n) => Some(n),
            _ => {
                self.errors.push(Diagnostic::new(
                    value.span(),
                    format!("`{key}` in `[state]` must be between 1 and {MAX_KEYS}"),
                    format!("each key costs about 160 bytes plus its key and value; e.g. `{key} = 100000`"),
                ));
                None
            }
        }
    }

    fn bytes(&mut self, key: &str, value: Option<Spanned<Text>>) -> Option<usize> {
        let value = value?;
        if self.redis {
            self.local_only(key, value.span());
            return None;
        }
        let text = &value.get_ref().0;
        let parsed = parse_size(text).filter(|n| (MIN_BYTES..=MAX_BYTES).contains(n));
        match parsed.and_then(|n| usize::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.errors.push(Diagnostic::new(
                    value.span(),
                    format!(
                        "`{key}` in `[state]` must be a size from 128KiB to 64GiB, not `{text}`"
                    ),
                    format!("write a size such as `{key} = \"64MiB\"`"),
                ));
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
