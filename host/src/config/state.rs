//! The `[state]` table: where plugins' shared state lives (in process or Redis), its timeout and
//! its bounds. The raw table as written, the validated [`StateConfig`], and its check.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

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
    /// A Redis server shared by every gateway that names it.
    Redis {
        /// `redis://[user:password@]host:port[/db]`.
        url: String,
        /// Prefix of every key (default `portcullis`), so several clusters can share a server.
        prefix: String,
    },
}

const BACKENDS: &[&str] = &["local", "redis"];

/// The longest `timeout` accepted: a state call holds its plugin call (and so the request), and
/// a plugin call's wall-clock bound is never less than one second, so one state call always
/// ends (with `unavailable`) before its plugin call is cut short.
const MAX_TIMEOUT: Duration = Duration::from_secs(1);

/// The validated table; errors are pushed and defaults stand in for the bad values.
pub(super) fn config(span: Span, raw: RawState, errors: &mut Vec<Diagnostic>) -> StateConfig {
    let defaults = StateConfig::default();
    let what = "`[state]`";
    let backend_name = raw
        .backend
        .as_ref()
        .map_or("local", |b| b.get_ref().as_str());
    let (redis, known) = match backend_name {
        "local" => (false, true),
        "redis" => (true, true),
        other => {
            let span = raw.backend.as_ref().map_or(span.clone(), |b| b.span());
            errors.push(Diagnostic::new(
                span,
                format!("unknown state backend `{other}`"),
                suggest::help(other, "backends", BACKENDS),
            ));
            (false, false)
        }
    };
    let backend = if redis {
        let prefix = match raw.prefix {
            Some(prefix) if !valid_prefix(prefix.get_ref()) => {
                errors.push(Diagnostic::new(
                    prefix.span(),
                    format!("invalid key prefix `{}` in {what}", prefix.get_ref()),
                    "use 1 to 64 letters, digits, `-`, `_`, `.` or `:`, e.g. `prefix = \"portcullis-eu\"`",
                ));
                String::new()
            }
            Some(prefix) => prefix.into_inner(),
            None => "portcullis".to_owned(),
        };
        match raw.url {
            Some(url) => {
                if let Err(problem) = check_url(url.get_ref()) {
                    errors.push(Diagnostic::new(
                        url.span(),
                        format!("invalid Redis URL `{}` in {what}: {problem}", url.get_ref()),
                        "write `redis://host:port`, e.g. `url = \"redis://127.0.0.1:6379\"` (user, password and database number are optional: `redis://:secret@redis.internal:6379/2`)",
                    ));
                }
                StateBackend::Redis {
                    url: url.into_inner(),
                    prefix,
                }
            }
            None => {
                let span = raw.backend.as_ref().map_or(span.clone(), |b| b.span());
                errors.push(Diagnostic::new(
                    span,
                    "the redis state backend needs a `url`",
                    "add `url = \"redis://127.0.0.1:6379\"` to `[state]`",
                ));
                StateBackend::Local
            }
        }
    } else if !known {
        StateBackend::Local
    } else {
        for (key, value_span) in [
            ("url", raw.url.as_ref().map(|u| u.span())),
            ("prefix", raw.prefix.as_ref().map(|p| p.span())),
        ] {
            if let Some(value_span) = value_span {
                errors.push(Diagnostic::new(
                    value_span,
                    format!("`{key}` in {what} is only used by the redis backend"),
                    "add `backend = \"redis\"`, or remove the key",
                ));
            }
        }
        StateBackend::Local
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

fn valid_prefix(prefix: &str) -> bool {
    (1..=64).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// A light check of `redis://[user[:password]@]host[:port][/db]`; the Redis client parses it
/// again when the gateway starts.
fn check_url(url: &str) -> Result<(), &'static str> {
    let Some(rest) = url.strip_prefix("redis://") else {
        return Err(if url.starts_with("rediss://") {
            "TLS to Redis (`rediss://`) is not supported yet"
        } else {
            "it must start with `redis://`"
        });
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err("it names no host");
    }
    if let Some((host, port)) = host_port.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err("the port is not a number from 0 to 65535");
    }
    let db = path.trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err("the database (after `/`) is not a number");
    }
    Ok(())
}
