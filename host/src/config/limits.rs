//! The top-level `[limits]` table: how long a client connection may take or idle, and how many
//! may be open at once, on every listener. The raw table as written, the validated
//! [`ConnectionLimits`], and its check. (An upstream's own `limits`, its circuit breaker, are
//! in `upstream`; a plugin's in `plugin`.)

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::units::{Text, duration, integer};

/// The top-level `[limits]` table: client connections on every listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConnectionLimits {
    pub(super) max_connections: Option<Spanned<i64>>,
    pub(super) header_timeout: Option<Spanned<Text>>,
    pub(super) keepalive_timeout: Option<Spanned<Text>>,
    pub(super) http2_ping_interval: Option<Spanned<Text>>,
}

/// The `[limits]` table: how long a client connection may take or idle, and how many may be
/// open at once, on every listener (the admin API's has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max-connections`: client connections open at once, all listeners together; `None`
    /// derives it from the open-file limit (see `listener::cap`).
    pub max_connections: Option<u32>,
    /// `header-timeout`: from accept to the first request's headers (TLS handshake included),
    /// and from a request's first byte to its headers on a kept-alive connection (default 30s).
    pub header_timeout: Duration,
    /// `keepalive-timeout`: how long a connection with no request in flight stays open
    /// (HTTP/1.1 between requests, HTTP/2 with no stream open; default 75s).
    pub keepalive_timeout: Duration,
    /// `http2-ping-interval`: an HTTP/2 connection silent this long is sent a PING, and closed
    /// if no answer comes within 20s (default 60s).
    pub http2_ping_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: None,
            header_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(75),
            http2_ping_interval: Duration::from_secs(60),
        }
    }
}

/// The `[limits]` table: every value optional, each timeout within reason.
pub(super) fn connection_limits(
    raw: RawConnectionLimits,
    errors: &mut Vec<Diagnostic>,
) -> ConnectionLimits {
    let defaults = ConnectionLimits::default();
    let what = "`[limits]`";
    let mut bounded = |value: Option<Spanned<Text>>, default: Duration, key: &str| {
        let span = value.as_ref().map(Spanned::span);
        let parsed = duration(value, default, what, errors);
        match span {
            Some(span) if parsed > MAX_CONNECTION_TIMEOUT => {
                errors.push(Diagnostic::new(
                    span,
                    format!("`{key}` in {what} is longer than 24h"),
                    "a connection timeout is seconds or minutes, e.g. \"30s\" or \"5m\"",
                ));
                default
            }
            _ => parsed,
        }
    };
    let header_timeout = bounded(
        raw.header_timeout,
        defaults.header_timeout,
        "header-timeout",
    );
    let keepalive_timeout = bounded(
        raw.keepalive_timeout,
        defaults.keepalive_timeout,
        "keepalive-timeout",
    );
    let http2_ping_interval = bounded(
        raw.http2_ping_interval,
        defaults.http2_ping_interval,
        "http2-ping-interval",
    );
    let max_connections = raw.max_connections.map(|value| {
        integer(
            Some(value),
            0,
            1..=MAX_CLIENT_CONNECTIONS,
            what,
            "max-connections",
            errors,
        )
    });
    ConnectionLimits {
        // An out-of-range value was reported; the default stands meanwhile.
        max_connections: max_connections.filter(|n| *n > 0),
        header_timeout,
        keepalive_timeout,
        http2_ping_interval,
    }
}

/// The longest `[limits]` timeout accepted.
const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The most client connections `max-connections` may allow (far above any open-file limit).
const MAX_CLIENT_CONNECTIONS: u32 = 10_000_000;
