//! The meaning checks of a deserialized manifest: addresses, targets, durations, references
//! between sections, route matchers and their conflicts. Every check runs; errors are collected.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::diagnostic::{Diagnostic, Source};
use super::raw::{Named, RawListener, RawManifest, RawMatch, RawRoute, RawUpstream, Span, Text};
use super::units::{DURATION_HELP, parse_duration};
use super::{Listener, Manifest, PluginCatalog, Route, Upstream, plugin, suggest};
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
        .filter_map(|l| listener(l, errors))
        .collect();
    let upstreams: Vec<_> = raw
        .upstreams
        .into_iter()
        .map(|u| upstream(u, errors))
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
    complete.then_some(Manifest {
        source,
        listeners,
        upstreams,
        global_plugins,
        routes,
    })
}

fn listener(section: Named<RawListener>, errors: &mut Vec<Diagnostic>) -> Option<Listener> {
    check_name("listener", &section.name, &section.name_span, errors);
    let address = section.value.address;
    match address.get_ref().parse() {
        Ok(parsed) => Some(Listener {
            name: section.name,
            address: parsed,
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

fn upstream(section: Named<RawUpstream>, errors: &mut Vec<Diagnostic>) -> Upstream {
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
    for target in value.targets.into_inner() {
        if valid_target(target.get_ref()) {
            targets.push(target.into_inner());
        } else {
            errors.push(Diagnostic::new(
                target.span(),
                format!("invalid target `{}` in upstream `{name}`", target.get_ref()),
                "write `host:port` with a host name or IP address, e.g. \"10.0.0.5:8080\" or \"backend.internal:80\"",
            ));
        }
    }
    let what = format!("upstream `{name}`");
    let connect_timeout = duration(value.connect_timeout, Duration::from_secs(2), &what, errors);
    let timeout = duration(value.timeout, Duration::from_secs(30), &what, errors);
    Upstream {
        name,
        targets,
        connect_timeout,
        timeout,
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
        let names: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
        errors.push(Diagnostic::new(
            value.upstream.span(),
            format!("route `{id}` uses upstream `{wanted}`, which is not defined"),
            suggest::help(wanted, "defined upstreams", &names),
        ));
    }
    let default = upstream
        .and_then(|i| upstreams.get(i))
        .map_or(Duration::from_secs(30), |u| u.timeout);
    let timeout = duration(value.timeout, default, &format!("route `{id}`"), errors);
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
    match parse_duration(&value.get_ref().0) {
        Some(d) if !d.is_zero() => d,
        Some(_) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("zero duration in {what}"),
                "use a duration greater than zero, e.g. \"1s\"",
            ));
            default
        }
        None => {
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
