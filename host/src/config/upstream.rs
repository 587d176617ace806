//! An `[upstreams.<name>]` section: the raw table as written (targets and their weights, the
//! circuit breaker's `limits`, the `retry-budget`), the validated [`Upstream`], and its check,
//! which calls on `balance`, `health` and `connection` for those tables.

use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::balance::{self, Balance, RawHashOn};
use super::base::Base;
use super::connection::{self, RawUpstreamTls, UpstreamProtocol, UpstreamTls};
use super::diagnostic::Diagnostic;
use super::health::{self, ActiveHealth, PassiveHealth, RawHealth};
use super::spanned::Named;
use super::units::{Text, check_name, duration, integer};

/// An `[upstreams.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawUpstream {
    pub(super) targets: Spanned<Vec<Spanned<RawTarget>>>,
    pub(super) connect_timeout: Option<Spanned<Text>>,
    pub(super) timeout: Option<Spanned<Text>>,
    pub(super) balance: Option<Spanned<String>>,
    pub(super) hash_on: Option<Spanned<RawHashOn>>,
    pub(super) health: Option<RawHealth>,
    pub(super) panic_mode: Option<bool>,
    pub(super) limits: Option<RawLimits>,
    pub(super) retry_budget: Option<RawRetryBudget>,
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) tls: Option<Spanned<RawUpstreamTls>>,
}

/// A target: `"host:port"` or `{ address = "host:port", weight = 3 }`.
#[derive(Debug)]
pub(super) struct RawTarget {
    pub(super) address: String,
    pub(super) weight: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTargetTable {
    address: String,
    weight: Option<Spanned<i64>>,
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTarget;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string \"host:port\" or a table { address, weight }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTarget, E> {
                Ok(RawTarget {
                    address: v.to_owned(),
                    weight: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawTarget, A::Error> {
                let table =
                    RawTargetTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawTarget {
                    address: table.address,
                    weight: table.weight,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// An upstream's `limits` (circuit breaker).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLimits {
    pub(super) max_connections: Option<Spanned<i64>>,
    pub(super) max_pending: Option<Spanned<i64>>,
    pub(super) max_requests: Option<Spanned<i64>>,
}

/// An upstream's `retry-budget`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRetryBudget {
    pub(super) percent: Option<Spanned<i64>>,
    pub(super) min_per_second: Option<Spanned<i64>>,
}

/// An `[upstreams.<name>]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The section's name.
    pub name: String,
    /// `host:port` authorities (names or IP addresses), at least one.
    pub targets: Vec<String>,
    /// How long to wait for a TCP connection (default 2s).
    pub connect_timeout: Duration,
    /// How long to wait for response headers, unless a route overrides it (default 30s).
    pub timeout: Duration,
    /// The weight of each target, parallel to `targets` (default 1; 1 to 100).
    pub weights: Vec<u32>,
    /// How a target is chosen (`balance`, default round robin).
    pub balance: Balance,
    /// `health.active`: periodic HTTP checks, off unless given.
    pub active_health: Option<ActiveHealth>,
    /// `health.passive`: outlier detection on live traffic, off unless given.
    pub passive_health: Option<PassiveHealth>,
    /// `panic-mode`: when no target is healthy, use them all instead of answering 503.
    pub panic_mode: bool,
    /// `limits`: the circuit breaker's thresholds (each off unless given).
    pub limits: UpstreamLimits,
    /// `retry-budget`: how many retries the upstream takes on top of its active requests.
    pub retry_budget: RetryBudget,
    /// `protocol`: the HTTP version spoken to the targets (default HTTP/1.1).
    pub protocol: UpstreamProtocol,
    /// `tls`: connect to the targets over TLS (off unless given).
    pub tls: Option<UpstreamTls>,
    /// Where the section's name is in the manifest.
    pub span: Range<usize>,
}

/// `limits`: the circuit breaker of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamLimits {
    /// Most open connections to all targets together.
    pub max_connections: Option<u32>,
    /// Most requests waiting for a connection when `max-connections` are open.
    pub max_pending: Option<u32>,
    /// Most requests in flight at once.
    pub max_requests: Option<u32>,
}

/// `retry-budget`: retries may add at most `percent` of the active requests, or
/// `min-per-second` retries per second, whichever is more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// Percent of active requests (default 20).
    pub percent: u32,
    /// Retries allowed each second whatever the load (default 3).
    pub min_per_second: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            percent: 20,
            min_per_second: 3,
        }
    }
}

/// Checks an upstream section; what cannot be modelled is left out or defaulted (the errors
/// are in `errors`), as routes still need the upstream to refer to.
pub(super) fn upstream(
    section: Named<RawUpstream>,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Upstream {
    let Named {
        name,
        name_span,
        value,
    } = section;
    check_name("upstream", &name, &name_span, errors);
    if value.targets.get_ref().is_empty() {
        errors.push(Diagnostic::new(
            value.targets.span(),
            format!("upstream `{name}` has no targets"),
            "list at least one `host:port`, e.g. `targets = [\"127.0.0.1:3000\"]`",
        ));
    }
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    let what = format!("upstream `{name}`");
    for target in value.targets.into_inner() {
        let span = target.span();
        let target = target.into_inner();
        if valid_target(&target.address) {
            targets.push(target.address);
            weights.push(integer(target.weight, 1, 1..=100, &what, "weight", errors));
        } else {
            errors.push(Diagnostic::new(
                span,
                format!("invalid target `{}` in upstream `{name}`", target.address),
                "write `host:port` with a host name or IP address, e.g. \"10.0.0.5:8080\" or \"backend.internal:80\"",
            ));
        }
    }
    let connect_timeout = duration(value.connect_timeout, Duration::from_secs(2), &what, errors);
    let timeout = duration(value.timeout, Duration::from_secs(30), &what, errors);
    let balance = balance::balance(value.balance, value.hash_on, &what, errors);
    let RawHealth { active, passive } = value.health.unwrap_or_default();
    let active_health = active.map(|a| health::active(a, &what, errors));
    let passive_health = passive.map(|p| health::passive(p, &what, errors));
    let limits = value.limits.map_or_else(UpstreamLimits::default, |l| {
        let mut limit = |v: Option<Spanned<i64>>, key: &str| {
            let span = v.as_ref().map(Spanned::span);
            let n = integer(v, 0, 1..=1_000_000, &what, key, errors);
            span.map(|_| n)
        };
        UpstreamLimits {
            max_connections: limit(l.max_connections, "max-connections"),
            max_pending: limit(l.max_pending, "max-pending"),
            max_requests: limit(l.max_requests, "max-requests"),
        }
    });
    let retry_budget = value
        .retry_budget
        .map_or_else(RetryBudget::default, |b| RetryBudget {
            percent: integer(b.percent, 20, 0..=1000, &what, "percent", errors),
            min_per_second: integer(
                b.min_per_second,
                3,
                0..=100_000,
                &what,
                "min-per-second",
                errors,
            ),
        });
    let tls = value
        .tls
        .and_then(|tls| connection::upstream_tls(&what, tls, base, errors));
    let protocol = connection::protocol(value.protocol, tls.is_some(), &what, errors);
    Upstream {
        name,
        targets,
        weights,
        connect_timeout,
        timeout,
        balance,
        active_health,
        passive_health,
        panic_mode: value.panic_mode.unwrap_or(false),
        limits,
        retry_budget,
        protocol,
        tls,
        span: name_span,
    }
}

fn valid_target(target: &str) -> bool {
    match http::uri::Authority::from_str(target) {
        Ok(authority) => {
            !target.contains('@')
                && !authority.host().is_empty()
                && authority.port_u16().is_some_and(|p| p != 0)
        }
        Err(_) => false,
    }
}
