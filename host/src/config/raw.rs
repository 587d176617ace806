//! The manifest as written, at the top: which sections there are, and the walk that
//! deserializes each listener, upstream, route and plugin entry on its own (into the raw struct
//! its section's file defines), so that one typo does not hide the next and every structural
//! error is reported with its span. Serde's errors become diagnostics here, in one place.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::admin::RawAdmin;
use super::diagnostic::Diagnostic;
use super::limits::RawConnectionLimits;
use super::listener::RawListener;
use super::observe::{RawAccessLog, RawTracing};
use super::plugin::RawPlugin;
use super::plugin_runtime::RawPluginRuntime;
use super::route::RawRoute;
use super::spanned::{Entry, Named, Span};
use super::state::RawState;
use super::suggest;
use super::upstream::RawUpstream;

/// A route and its plugin entries.
pub(super) type RouteSection = (Named<RawRoute>, Vec<Entry<RawPlugin>>);

/// Every section that deserialized; the others are reported as errors.
#[derive(Debug, Default)]
pub(super) struct RawManifest {
    pub(super) listeners: Vec<Named<RawListener>>,
    pub(super) upstreams: Vec<Named<RawUpstream>>,
    pub(super) plugins: Vec<Entry<RawPlugin>>,
    pub(super) routes: Vec<RouteSection>,
    /// `[state]`, if given (and well formed), with the span of its key.
    pub(super) state: Option<(Span, RawState)>,
    /// `[plugin-runtime]`, if given (and well formed).
    pub(super) plugin_runtime: Option<RawPluginRuntime>,
    /// `[admin]`, with the span of its key.
    pub(super) admin: Option<(Span, RawAdmin)>,
    /// `[access-log]`, with the span of its key.
    pub(super) access_log: Option<(Span, RawAccessLog)>,
    /// `[tracing]`, with the span of its key.
    pub(super) tracing: Option<(Span, RawTracing)>,
    /// `[limits]`, with the span of its key.
    pub(super) limits: Option<(Span, RawConnectionLimits)>,
    /// How many `[listeners.*]` sections there are, including broken ones.
    pub(super) declared_listeners: usize,
    /// Every upstream name, including broken sections', so routes naming them are not blamed.
    pub(super) declared_upstreams: Vec<String>,
}

const TOP_KEYS: &[&str] = &[
    "listeners",
    "upstreams",
    "plugins",
    "routes",
    "state",
    "plugin-runtime",
    "admin",
    "access-log",
    "tracing",
    "limits",
];

/// Deserializes each section of `doc` separately, collecting errors.
pub(super) fn split(doc: DeTable<'_>, errors: &mut Vec<Diagnostic>) -> RawManifest {
    let mut raw = RawManifest::default();
    for (key, value) in in_order(doc) {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "listeners" => {
                for (name, v) in sections(key_span, value, "listeners", errors) {
                    raw.declared_listeners += 1;
                    let ctx = format!("listener `{}`", name.get_ref());
                    if let Some(value) = deserialize(v, &ctx, errors) {
                        raw.listeners.push(named(name, value));
                    }
                }
            }
            "upstreams" => {
                for (name, v) in sections(key_span, value, "upstreams", errors) {
                    raw.declared_upstreams.push(name.get_ref().to_string());
                    let ctx = format!("upstream `{}`", name.get_ref());
                    if let Some(value) = deserialize(v, &ctx, errors) {
                        raw.upstreams.push(named(name, value));
                    }
                }
            }
            "routes" => {
                for (name, v) in sections(key_span, value, "routes", errors) {
                    let ctx = format!("route `{}`", name.get_ref());
                    let (rest, plugins) = take_plugins(v, &ctx, errors);
                    if let Some(value) = deserialize(rest, &ctx, errors) {
                        raw.routes.push((named(name, value), plugins));
                    }
                }
            }
            "plugins" => {
                raw.plugins = plugin_entries(value, &|n| format!("global plugin #{n}"), errors)
            }
            "state" => {
                if let Some(state) = deserialize(value, "`[state]`", errors) {
                    raw.state = Some((key_span, state));
                }
            }
            "plugin-runtime" => {
                raw.plugin_runtime = deserialize(value, "`[plugin-runtime]`", errors);
            }
            "access-log" => {
                if let Some(table) = deserialize(value, "`[access-log]`", errors) {
                    raw.access_log = Some((key_span, table));
                }
            }
            "tracing" => {
                if let Some(table) = deserialize(value, "`[tracing]`", errors) {
                    raw.tracing = Some((key_span, table));
                }
            }
            "limits" => {
                if let Some(table) = deserialize(value, "`[limits]`", errors) {
                    raw.limits = Some((key_span, table));
                }
            }
            "admin" => {
                if let Some(admin) = deserialize(value, "the `admin` table", errors) {
                    raw.admin = Some((key_span, admin));
                }
            }
            other => errors.push(Diagnostic::new(
                key_span,
                format!("unknown top-level key `{other}`"),
                suggest::help(other, "top-level keys", TOP_KEYS),
            )),
        }
    }
    raw
}

type Pair<'i> = (Spanned<std::borrow::Cow<'i, str>>, Spanned<DeValue<'i>>);

/// A table's entries in the order they appear in the file.
fn in_order(table: DeTable<'_>) -> Vec<Pair<'_>> {
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn named<T>(name: Spanned<std::borrow::Cow<'_, str>>, value: T) -> Named<T> {
    Named {
        name: name.get_ref().to_string(),
        name_span: name.span(),
        value,
    }
}

/// The `<name> = { ... }` entries of `[listeners]`, `[upstreams]` or `[routes]`.
fn sections<'i>(
    key_span: Span,
    value: Spanned<DeValue<'i>>,
    key: &str,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Pair<'i>> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(table) => in_order(table),
        other => {
            errors.push(Diagnostic::new(
                span.start.min(key_span.start)..span.end,
                format!(
                    "`{key}` must be a table of named sections, not {}",
                    article(other.type_str())
                ),
                format!("write one `[{key}.<name>]` section per entry"),
            ));
            Vec::new()
        }
    }
}

/// Splits a route's `plugins` array off the rest of its table.
fn take_plugins<'i>(
    route: Spanned<DeValue<'i>>,
    ctx: &str,
    errors: &mut Vec<Diagnostic>,
) -> (Spanned<DeValue<'i>>, Vec<Entry<RawPlugin>>) {
    let span = route.span();
    let DeValue::Table(table) = route.into_inner() else {
        let message = format!("{ctx} must be a table");
        errors.push(Diagnostic::new(
            span.clone(),
            message,
            "write it as a `[routes.<id>]` section",
        ));
        return (
            Spanned::new(span, DeValue::Table(DeTable::new())),
            Vec::new(),
        );
    };
    let mut rest = DeTable::new();
    let mut plugins = Vec::new();
    for (key, value) in table {
        if key.get_ref() == "plugins" {
            plugins = plugin_entries(value, &|n| format!("plugin #{n} of {ctx}"), errors);
        } else {
            rest.insert(key, value);
        }
    }
    (Spanned::new(span, DeValue::Table(rest)), plugins)
}

fn plugin_entries(
    value: Spanned<DeValue<'_>>,
    ctx: &dyn Fn(usize) -> String,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Entry<RawPlugin>> {
    let span = value.span();
    let DeValue::Array(array) = value.into_inner() else {
        errors.push(Diagnostic::new(
            span,
            "`plugins` must be an array of tables",
            "write one `[[plugins]]` (or `[[routes.<id>.plugins]]`) section per plugin",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in array.into_iter().enumerate() {
        let span = item.span();
        if let Some(value) = deserialize(item, &ctx(i + 1), errors) {
            entries.push(Entry { span, value });
        }
    }
    entries
}

/// Deserializes one section, turning serde's error into a diagnostic with a help line.
fn deserialize<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    ctx: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<T> {
    let fallback = value.span();
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(value) => Some(value),
        Err(e) => {
            errors.push(translate(&e, fallback, ctx));
            None
        }
    }
}

fn translate(error: &toml::de::Error, fallback: Span, ctx: &str) -> Diagnostic {
    let span = error.span().unwrap_or(fallback);
    let message = error.message().trim();
    let ticked =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
        let field = field.trim_matches('`');
        let allowed = ticked(expected);
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let help = suggest::help(field, "allowed keys", &allowed);
        return Diagnostic::new(span, format!("unknown key `{field}` in {ctx}"), help);
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = rest.trim_matches('`');
        let help = match example(field) {
            Some(example) => format!("add `{example}`"),
            None => format!("add the key `{field}`"),
        };
        return Diagnostic::new(span, format!("{ctx} is missing `{field}`"), help);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let expected = toml_words(expected);
        return Diagnostic::new(
            span,
            format!("wrong type in {ctx}: found {found}, expected {expected}"),
            format!("change the value to {expected}"),
        );
    }
    Diagnostic::new(
        span,
        format!("{ctx}: {message}"),
        "see docs/manifest.md for the format",
    )
}

fn example(field: &str) -> Option<&'static str> {
    Some(match field {
        "address" => "address = \"127.0.0.1:8080\"",
        "targets" => "targets = [\"127.0.0.1:3000\"]",
        "certificates" => {
            "certificates = [{ cert = \"certs/site.pem\", key = \"certs/site.key\" }]"
        }
        "cert" => "cert = \"certs/site.pem\"",
        "key" => "key = \"certs/site.key\"",
        "ca" => "ca = \"certs/clients-ca.pem\"",
        "upstream" => "upstream = \"<name of an [upstreams.<name>] section>\"",
        _ => return None,
    })
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// Serde's names for types, in TOML's words.
fn toml_words(expected: &str) -> &str {
    match expected {
        "a sequence" => "an array",
        "a map"
        | "struct RawMatch"
        | "struct RawTls"
        | "struct RawUpstreamTls"
        | "struct RawAdmin"
        | "struct RawCertificate"
        | "struct RawClientAuth"
        | "struct RawState"
        | "struct RawPluginRuntime" => "a table",
        "i64" | "u64" | "usize" => "an integer",
        other => other,
    }
}
