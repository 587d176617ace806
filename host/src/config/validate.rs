//! The meaning checks of a deserialized manifest: addresses, targets, durations, references
//! between sections, route matchers and their conflicts. Every check runs; errors are collected.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::diagnostic::{Diagnostic, Source};
use super::raw::{
    Named, RawHashOn, RawListener, RawManifest, RawMatch, RawRetry, RawRoute, RawUpstream, Span,
    Text,
};
use super::units::{self, DURATION_HELP, DurationError};
use super::{
    ActiveHealth, Balance, ConnectionLimits, HashOn, Listener, Manifest, PassiveHealth,
    PluginCatalog, RetryBudget, RetryPolicy, Route, Upstream, UpstreamLimits, plugin, suggest,
};
use crate::router::{HeaderValueMatch, HostPattern, PathPattern, RouteMatcher, Router};

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// Checks everything; `None` if a section was too broken to model (its error is in `errors`).
pub(super) fn manifest(
    raw: RawManifest,
    source: Source,
    base: &Path,
    catalog: &dyn PluginCatalog,
    errors: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    if raw.declared_listeners == 0 {
        errors.push(Diagnostic {
            message: "the manifest has no listener".into(),
            span: None,
            help: Some(
                "add a section `[listeners.public]` with `address = \"0.0.0.0:8080\"`".into(),
            ),
        });
    }
    let listeners = raw
        .listeners
        .into_iter()
        .filter_map(|l| listener(l, base, errors))
        .collect();
    let upstreams: Vec<_> = raw
        .upstreams
        .into_iter()
        .map(|u| upstream(u, base, errors))
        .collect();
    let global_plugins = raw
        .plugins
        .into_iter()
        .filter_map(|p| plugin::spec(p, base, catalog, errors))
        .collect();
    let mut routes = Vec::new();
    let mut complete = true;
    for (section, entries) in raw.routes {
        let plugins = entries
            .into_iter()
            .filter_map(|p| plugin::spec(p, base, catalog, errors))
            .collect();
        match route(
            section,
            &upstreams,
            &raw.declared_upstreams,
            plugins,
            errors,
        ) {
            Some(route) => routes.push(route),
            None => complete = false,
        }
    }
    conflicts(&routes, errors);
    let state = raw
        .state
        .map(|(span, state)| super::state::config(span, state, errors))
        .unwrap_or_default();
    let plugin_runtime = raw
        .plugin_runtime
        .map(|table| super::plugin_runtime::config(table, errors))
        .unwrap_or_default();
    let admin = raw
        .admin
        .and_then(|(span, admin)| self::admin(span, admin, errors));
    let access_log = raw
        .access_log
        .map(|(_, table)| super::observe::access_log(table, base, errors))
        .unwrap_or_default();
    let tracing = raw
        .tracing
        .map(|(_, table)| super::observe::tracing(table, errors))
        .unwrap_or_default();
    let limits = raw
        .limits
        .map(|(_, table)| connection_limits(table, errors))
        .unwrap_or_default();
    complete.then_some(Manifest {
        source,
        listeners,
        upstreams,
        global_plugins,
        routes,
        state,
        plugin_runtime,
        admin,
        access_log,
        tracing,
        limits,
    })
}

/// The `[limits]` table: every value optional, each timeout within reason.
fn connection_limits(
    raw: super::raw::RawConnectionLimits,
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

/// The admin API's listener: loopback by default; anywhere else only with a token.
fn admin(
    span: std::ops::Range<usize>,
    raw: super::raw::RawAdmin,
    errors: &mut Vec<Diagnostic>,
) -> Option<super::Admin> {
    let address = match &raw.address {
        None => SocketAddr::from(([127, 0, 0, 1], 9901)),
        Some(address) => match address.get_ref().parse::<SocketAddr>() {
            Ok(parsed) => parsed,
            Err(_) => {
                errors.push(Diagnostic::new(
                    address.span(),
                    format!("invalid admin address `{}`", address.get_ref()),
                    "write an IP address and a port, e.g. \"127.0.0.1:9901\"",
                ));
                return None;
            }
        },
    };
    let token = match raw.token {
        Some(token) if token.get_ref().len() < 16 => {
            errors.push(Diagnostic::new(
                token.span(),
                "the admin token is shorter than 16 characters",
                "use a long random token, e.g. the output of `openssl rand -hex 32`",
            ));
            return None;
        }
        Some(token) => Some(token.into_inner()),
        None => None,
    };
    if token.is_none() && !address.ip().is_loopback() {
        errors.push(Diagnostic::new(
            raw.address.as_ref().map_or(span, Spanned::span),
            format!("the admin API on {address} would be open to the network"),
            "bind it to a loopback address (\"127.0.0.1:9901\"), or set `token` so that requests need `Authorization: Bearer <token>`",
        ));
        return None;
    }
    let mut hosts = Vec::new();
    for host in raw.hosts.unwrap_or_default() {
        match super::listener::host_name(host.get_ref()) {
            Some(name) => hosts.push(name),
            None => {
                errors.push(Diagnostic::new(
                    host.span(),
                    format!("invalid admin host `{}`", host.get_ref()),
                    "write a DNS name or an IP address without port, e.g. \"admin.internal\"",
                ));
                return None;
            }
        }
    }
    Some(super::Admin {
        address,
        token,
        hosts,
    })
}

fn listener(
    section: Named<RawListener>,
    base: &Path,
    errors: &mut Vec<Diagnostic>,
) -> Option<Listener> {
    check_name("listener", &section.name, &section.name_span, errors);
    let RawListener {
        address,
        tls,
        redirect_to_https,
        path,
    } = section.value;
    let name = &section.name;
    let has_tls = tls.is_some();
    let tls = tls.and_then(|tls| super::listener::tls(name, tls, base, errors));
    let redirect_to_https =
        redirect_to_https.and_then(|value| super::listener::redirect(name, value, has_tls, errors));
    let path = super::path::options(name, path, errors);
    match address.get_ref().parse() {
        Ok(parsed) => Some(Listener {
            name: section.name,
            address: parsed,
            tls,
            redirect_to_https,
            path,
            span: section.name_span,
        }),
        Err(_) => {
            errors.push(Diagnostic::new(
                address.span(),
                format!("invalid address `{}` for listener `{}`", address.get_ref(), section.name),
                "write an IP address and a port, e.g. \"127.0.0.1:8080\" or \"[::]:443\" (no host names)",
            ));
            None
        }
    }
}

fn upstream(section: Named<RawUpstream>, base: &Path, errors: &mut Vec<Diagnostic>) -> Upstream {
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
    let balance = balance(value.balance, value.hash_on, &what, errors);
    let health = value.health.unwrap_or(super::raw::RawHealth {
        active: None,
        passive: None,
    });
    let active_health = health.active.map(|a| ActiveHealth {
        path: match a.path {
            Some(path) if path.get_ref().starts_with('/') => path.into_inner(),
            Some(path) => {
                errors.push(Diagnostic::new(
                    path.span(),
                    format!("invalid health check path `{}` in {what}", path.get_ref()),
                    "write an absolute path, e.g. \"/healthz\"",
                ));
                "/healthz".into()
            }
            None => "/healthz".into(),
        },
        interval: duration(a.interval, Duration::from_secs(5), &what, errors),
        timeout: duration(a.timeout, Duration::from_secs(1), &what, errors),
        healthy_threshold: integer(
            a.healthy_threshold,
            2,
            1..=100,
            &what,
            "healthy-threshold",
            errors,
        ),
        unhealthy_threshold: integer(
            a.unhealthy_threshold,
            3,
            1..=100,
            &what,
            "unhealthy-threshold",
            errors,
        ),
    });
    let passive_health = health.passive.map(|p| {
        let base_ejection = duration(p.base_ejection, Duration::from_secs(30), &what, errors);
        let max_ejection = duration(p.max_ejection, Duration::from_secs(300), &what, errors);
        PassiveHealth {
            consecutive_failures: integer(
                p.consecutive_failures,
                5,
                1..=1000,
                &what,
                "consecutive-failures",
                errors,
            ),
            base_ejection,
            max_ejection: max_ejection.max(base_ejection),
            max_ejection_percent: integer(
                p.max_ejection_percent,
                50,
                0..=100,
                &what,
                "max-ejection-percent",
                errors,
            ),
        }
    });
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
        .and_then(|tls| super::connection::upstream_tls(&what, tls, base, errors));
    let protocol = super::connection::protocol(value.protocol, tls.is_some(), &what, errors);
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

const BALANCES: &[&str] = &[
    "round-robin",
    "weighted",
    "least-request",
    "random",
    "consistent-hash",
];

fn balance(
    raw: Option<Spanned<String>>,
    hash_on: Option<Spanned<RawHashOn>>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Balance {
    let name = raw.as_ref().map_or("round-robin", |b| b.get_ref().as_str());
    let balance = match name {
        "round-robin" => Balance::RoundRobin,
        "weighted" => Balance::Weighted,
        "least-request" => Balance::LeastRequest,
        "random" => Balance::Random,
        "consistent-hash" => {
            let Some(hash_on) = hash_on else {
                if let Some(raw) = &raw {
                    errors.push(Diagnostic::new(
                        raw.span(),
                        format!("`consistent-hash` in {what} needs `hash-on`"),
                        "add `hash-on = { header = \"x-user\" }`, `hash-on = { cookie = \"session\" }` or `hash-on = \"client-ip\"`",
                    ));
                }
                return Balance::RoundRobin;
            };
            return hash_key(hash_on, what, errors)
                .map_or(Balance::RoundRobin, Balance::ConsistentHash);
        }
        other => {
            if let Some(raw) = &raw {
                errors.push(Diagnostic::new(
                    raw.span(),
                    format!("unknown balance `{other}` in {what}"),
                    suggest::help(other, "balance algorithms", BALANCES),
                ));
            }
            Balance::RoundRobin
        }
    };
    if let Some(hash_on) = hash_on {
        errors.push(Diagnostic::new(
            hash_on.span(),
            format!("`hash-on` in {what} is only used with `balance = \"consistent-hash\"`"),
            "remove `hash-on`, or set `balance = \"consistent-hash\"`",
        ));
    }
    balance
}

fn hash_key(raw: Spanned<RawHashOn>, what: &str, errors: &mut Vec<Diagnostic>) -> Option<HashOn> {
    let span = raw.span();
    let bad = |errors: &mut Vec<Diagnostic>, message: String| {
        errors.push(Diagnostic::new(
            span.clone(),
            message,
            "write `hash-on = { header = \"x-user\" }`, `hash-on = { cookie = \"session\" }` or `hash-on = \"client-ip\"`",
        ));
        None
    };
    match raw.into_inner() {
        RawHashOn::Word(word) if word == "client-ip" => Some(HashOn::ClientIp),
        RawHashOn::Word(word) => bad(
            errors,
            format!("invalid `hash-on` value `{word}` in {what}"),
        ),
        RawHashOn::Table {
            header: Some(header),
            cookie: None,
        } => match HeaderName::from_bytes(header.as_bytes()) {
            Ok(name) => Some(HashOn::Header(name)),
            Err(_) => bad(
                errors,
                format!("invalid header name `{header}` in `hash-on` of {what}"),
            ),
        },
        RawHashOn::Table {
            header: None,
            cookie: Some(cookie),
        } if !cookie.is_empty() => Some(HashOn::Cookie(cookie)),
        RawHashOn::Table { .. } => bad(
            errors,
            format!("`hash-on` in {what} needs exactly one of `header` and `cookie`"),
        ),
    }
}

/// Parses an optional integer key within `range`, reporting others; falls back to `default`.
fn integer(
    value: Option<Spanned<i64>>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
    what: &str,
    key: &str,
    errors: &mut Vec<Diagnostic>,
) -> u32 {
    let Some(value) = value else { return default };
    match u32::try_from(*value.get_ref()) {
        Ok(n) if range.contains(&n) => n,
        _ => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("`{key}` in {what} is out of range: {}", value.get_ref()),
                format!(
                    "use a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
            default
        }
    }
}

/// A route's `retry` table.
fn retry(raw: Spanned<RawRetry>, what: &str, errors: &mut Vec<Diagnostic>) -> RetryPolicy {
    let raw = raw.into_inner();
    let mut policy = RetryPolicy {
        attempts: integer(raw.attempts, 2, 1..=10, what, "attempts", errors),
        on_connect_failure: raw.on.is_none(),
        on_reset: raw.on.is_none(),
        on_timeout: false,
        statuses: Vec::new(),
        backoff: duration(raw.backoff, Duration::from_millis(25), what, errors),
        max_backoff: duration(raw.max_backoff, Duration::from_millis(250), what, errors),
        non_idempotent: raw.non_idempotent.unwrap_or(false),
    };
    policy.max_backoff = policy.max_backoff.max(policy.backoff);
    for condition in raw.on.unwrap_or_default() {
        match condition.get_ref() {
            toml::Value::String(s) if s == "connect-failure" => policy.on_connect_failure = true,
            toml::Value::String(s) if s == "reset" => policy.on_reset = true,
            toml::Value::String(s) if s == "timeout" => policy.on_timeout = true,
            toml::Value::Integer(n) if (500..=599).contains(n) => {
                policy.statuses.push(u16::try_from(*n).unwrap_or(503));
            }
            other => errors.push(Diagnostic::new(
                condition.span(),
                format!("invalid retry condition `{other}` in {what}"),
                "use \"connect-failure\", \"reset\", \"timeout\" or a status from 500 to 599, e.g. `on = [\"connect-failure\", \"reset\", 503]`",
            )),
        }
    }
    policy
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

fn route(
    section: Named<RawRoute>,
    upstreams: &[Upstream],
    declared: &[String],
    plugins: Vec<super::PluginSpec>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Route> {
    let Named {
        name: id,
        name_span,
        value,
    } = section;
    check_name("route", &id, &name_span, errors);
    let wanted = value.upstream.get_ref();
    let upstream = upstreams.iter().position(|u| u.name == *wanted);
    if upstream.is_none() && !declared.contains(wanted) {
        // Every declared name, broken sections' too: they exist, and have their own errors.
        let names: Vec<&str> = declared.iter().map(String::as_str).collect();
        errors.push(Diagnostic::new(
            value.upstream.span(),
            format!("route `{id}` uses upstream `{wanted}`, which is not defined"),
            suggest::help(wanted, "defined upstreams", &names),
        ));
    }
    let default = upstream
        .and_then(|i| upstreams.get(i))
        .map_or(Duration::from_secs(30), |u| u.timeout);
    let what = format!("route `{id}`");
    let timeout = duration(value.timeout, default, &what, errors);
    let try_timeout = value
        .try_timeout
        .map(|t| duration(Some(t), timeout, &what, errors));
    let idle_timeout = value
        .idle_timeout
        .map(|t| duration(Some(t), timeout, &what, errors));
    let retry = value.retry.map(|r| retry(r, &what, errors));
    let Some(raw_match) = value.matcher else {
        errors.push(Diagnostic::new(
            name_span,
            format!("route `{id}` has no `match` table"),
            "add `match.path-prefix = \"/\"` to match every request, or `match.path = \"/...\"`",
        ));
        return None;
    };
    let matcher = matcher(&id, raw_match, errors)?;
    Some(Route {
        id,
        matcher,
        upstream: upstream?,
        timeout,
        try_timeout,
        idle_timeout,
        retry,
        plugins,
        span: name_span,
    })
}

fn matcher(id: &str, raw: Spanned<RawMatch>, errors: &mut Vec<Diagnostic>) -> Option<RouteMatcher> {
    let span = raw.span();
    let raw = raw.into_inner();
    let host = raw.host.and_then(|host| {
        HostPattern::parse(host.get_ref())
            .map_err(|e| {
                errors.push(Diagnostic::new(
                    host.span(),
                    format!("invalid host in route `{id}`: {e}"),
                    e.help(),
                ))
            })
            .ok()
    });
    let pattern = |value: &Spanned<String>,
                   parse: fn(&str) -> Result<PathPattern, _>,
                   errors: &mut Vec<Diagnostic>| {
        parse(value.get_ref())
            .map_err(|e: crate::router::PatternError| {
                errors.push(Diagnostic::new(
                    value.span(),
                    format!("invalid path in route `{id}`: {e}"),
                    e.help(),
                ))
            })
            .ok()
    };
    let path = match (&raw.path, &raw.path_prefix) {
        (Some(path), None) => pattern(path, PathPattern::parse, errors),
        (None, Some(prefix)) => pattern(prefix, PathPattern::prefix, errors),
        (Some(_), Some(prefix)) => {
            errors.push(Diagnostic::new(
                prefix.span(),
                format!("route `{id}` sets both `path` and `path-prefix`"),
                "keep one: `path` for an exact path or a template, `path-prefix` for a whole subtree",
            ));
            None
        }
        (None, None) => {
            errors.push(Diagnostic::new(
                span,
                format!("route `{id}` matches no path"),
                "add `path = \"/users/{id}\"` (exact or template) or `path-prefix = \"/\"` (every path)",
            ));
            None
        }
    };
    let methods = methods(id, raw.methods, errors);
    let headers = headers(id, raw.headers.unwrap_or_default(), errors);
    Some(RouteMatcher {
        host,
        path: path?,
        methods: methods?,
        headers: headers?,
    })
}

fn methods(
    id: &str,
    raw: Option<Vec<Spanned<String>>>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Vec<Method>> {
    let mut methods = Vec::new();
    let mut ok = true;
    for name in raw.unwrap_or_default() {
        match METHODS
            .contains(&name.get_ref().as_str())
            .then(|| Method::from_str(name.get_ref()))
        {
            Some(Ok(method)) => methods.push(method),
            _ => {
                ok = false;
                errors.push(Diagnostic::new(
                    name.span(),
                    format!("invalid method `{}` in route `{id}`", name.get_ref()),
                    suggest::help(name.get_ref(), "methods, in capitals", METHODS),
                ));
            }
        }
    }
    ok.then_some(methods)
}

fn headers(
    id: &str,
    raw: std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Vec<(HeaderName, HeaderValueMatch)>> {
    let mut headers = Vec::new();
    let mut ok = true;
    for (name, value) in raw {
        let Ok(header) = HeaderName::from_bytes(name.get_ref().as_bytes()) else {
            ok = false;
            errors.push(Diagnostic::new(
                name.span(),
                format!("invalid header name `{}` in route `{id}`", name.get_ref()),
                "header names are letters, digits and `-` (quote the key if it has other characters)",
            ));
            continue;
        };
        let want = match value.get_ref() {
            toml::Value::String(text) => HeaderValue::from_str(text)
                .ok()
                .map(HeaderValueMatch::Exact),
            toml::Value::Boolean(true) => Some(HeaderValueMatch::Present),
            _ => None,
        };
        match want {
            Some(want) => headers.push((header, want)),
            None => {
                ok = false;
                errors.push(Diagnostic::new(
                    value.span(),
                    format!("invalid value for header `{}` in route `{id}`", name.get_ref()),
                    "write the exact value as a string of visible ASCII, or `true` to require the header with any value",
                ));
            }
        }
    }
    ok.then_some(headers)
}

/// Parses an optional duration, reporting bad and zero ones; falls back to `default`.
pub(super) fn duration(
    value: Option<Spanned<Text>>,
    default: Duration,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Duration {
    let Some(value) = value else { return default };
    match units::duration(&value.get_ref().0) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("zero duration in {what}"),
                "use a duration greater than zero, e.g. \"1s\"",
            ));
            default
        }
        Err(DurationError::TooLong) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!(
                    "duration `{}` in {what} is longer than a year",
                    value.get_ref().0
                ),
                "use at most \"8760h\"; nothing the gateway waits for takes longer",
            ));
            default
        }
        Err(DurationError::Invalid) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("invalid duration `{}` in {what}", value.get_ref().0),
                DURATION_HELP,
            ));
            default
        }
    }
}

/// Names of sections: letters, digits, `-` and `_`, so they are safe in logs, metrics and URLs.
pub(super) fn check_name(kind: &str, name: &str, span: &Span, errors: &mut Vec<Diagnostic>) {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.push(Diagnostic::new(
            span.clone(),
            format!("invalid {kind} name `{name}`"),
            "use letters, digits, `-` and `_` only",
        ));
    }
}

fn conflicts(routes: &[Route], errors: &mut Vec<Diagnostic>) {
    let matchers = routes
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.matcher.clone()))
        .collect();
    for conflict in Router::new(matchers).err().unwrap_or_default() {
        let (Some(first), Some(second)) = (routes.get(conflict.first), routes.get(conflict.second))
        else {
            continue;
        };
        errors.push(Diagnostic::new(
            second.span.clone(),
            format!(
                "route `{}` matches exactly the same requests as route `{}`",
                second.id, first.id
            ),
            "make one of them more specific (`host`, `path`, `methods` or `headers`) or remove one",
        ));
    }
}
