//! A `[routes.<id>]` section: the raw table as written (its `match` and `retry` tables), the
//! validated [`Route`] and [`RetryPolicy`], and their checks, down to the route's matcher in the
//! router's own terms. Which upstream a route names, and whether its matcher conflicts with
//! another route's, are cross-section checks and live in `validate`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::plugin::PluginSpec;
use super::spanned::Named;
use super::suggest;
use super::units::{Text, check_name, duration, integer};
use super::upstream::Upstream;
use crate::router::{HeaderValueMatch, HostPattern, PathPattern, RouteMatcher};

/// A `[routes.<id>]` table without its `plugins`, which are deserialized one by one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRoute {
    pub(super) upstream: Spanned<String>,
    pub(super) timeout: Option<Spanned<Text>>,
    pub(super) try_timeout: Option<Spanned<Text>>,
    pub(super) idle_timeout: Option<Spanned<Text>>,
    pub(super) retry: Option<Spanned<RawRetry>>,
    #[serde(rename = "match")]
    pub(super) matcher: Option<Spanned<RawMatch>>,
}

/// A route's `match` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMatch {
    pub(super) host: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
    pub(super) path_prefix: Option<Spanned<String>>,
    pub(super) methods: Option<Vec<Spanned<String>>>,
    pub(super) headers: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

/// A route's `retry` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRetry {
    pub(super) attempts: Option<Spanned<i64>>,
    pub(super) on: Option<Vec<Spanned<toml::Value>>>,
    pub(super) backoff: Option<Spanned<Text>>,
    pub(super) max_backoff: Option<Spanned<Text>>,
    pub(super) non_idempotent: Option<bool>,
}

/// A `[routes.<id>]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The section's name.
    pub id: String,
    /// What requests it takes.
    pub matcher: RouteMatcher,
    /// Index into [`Manifest::upstreams`](super::Manifest::upstreams).
    pub upstream: usize,
    /// The route's `timeout`, or its upstream's: the total time for all tries.
    pub timeout: Duration,
    /// `try-timeout`: the time one try may take to the response headers (default: `timeout`).
    pub try_timeout: Option<Duration>,
    /// `idle-timeout`: the longest pause in the upstream's response body (default none).
    pub idle_timeout: Option<Duration>,
    /// `retry`: off unless given.
    pub retry: Option<RetryPolicy>,
    /// Its own plugins, in order (after the global ones).
    pub plugins: Vec<PluginSpec>,
    /// Where the route's id is in the manifest.
    pub span: Range<usize>,
}

/// A route's `retry` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (1 to 10).
    pub attempts: u32,
    /// Retry when no connection could be opened.
    pub on_connect_failure: bool,
    /// Retry when the connection broke before the response headers.
    pub on_reset: bool,
    /// Retry when a try exceeded `try-timeout`.
    pub on_timeout: bool,
    /// Retry on these response statuses.
    pub statuses: Vec<u16>,
    /// The first backoff (default 25ms); doubled each retry, with full jitter.
    pub backoff: Duration,
    /// The longest backoff (default 250ms).
    pub max_backoff: Duration,
    /// Retry non-idempotent methods (POST, PATCH) too (default false).
    pub non_idempotent: bool,
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// Checks a route section, given the upstream it names (its index and the upstream, found by
/// `validate`) and its plugins, already checked; `None` when it cannot be modelled (the errors
/// are in `errors`).
pub(super) fn route(
    section: Named<RawRoute>,
    upstream: Option<(usize, &Upstream)>,
    plugins: Vec<PluginSpec>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Route> {
    let Named {
        name: id,
        name_span,
        value,
    } = section;
    check_name("route", &id, &name_span, errors);
    let default = upstream.map_or(Duration::from_secs(30), |(_, u)| u.timeout);
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
        upstream: upstream.map(|(index, _)| index)?,
        timeout,
        try_timeout,
        idle_timeout,
        retry,
        plugins,
        span: name_span,
    })
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
    raw: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
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
