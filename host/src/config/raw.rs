//! The manifest as written: serde structs that keep every value's position, and the walk that
//! deserializes each listener, upstream, route and plugin entry on its own, so that one typo
//! does not hide the next and every structural error is reported with its span.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diagnostic::Diagnostic;
use super::suggest;

/// A byte range in the manifest.
pub(super) type Span = Range<usize>;

/// A `[listeners.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawListener {
    pub(super) address: Spanned<String>,
    pub(super) tls: Option<Spanned<RawTls>>,
    /// `true` (port 443) or a port number.
    pub(super) redirect_to_https: Option<Spanned<toml::Value>>,
    /// How request paths are normalised before routing (`config/path.rs`).
    pub(super) path: Option<Spanned<RawPathOptions>>,
}

/// A listener's `path` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPathOptions {
    pub(super) merge_slashes: Option<bool>,
    pub(super) escaped_slashes: Option<Spanned<String>>,
    pub(super) semicolons: Option<Spanned<String>>,
}

/// A listener's `tls` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTls {
    pub(super) certificates: Spanned<Vec<Spanned<RawCertificate>>>,
    pub(super) client_auth: Option<Spanned<RawClientAuth>>,
}

/// One entry of `tls.certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawCertificate {
    pub(super) cert: Spanned<String>,
    pub(super) key: Spanned<String>,
    pub(super) server_names: Option<Vec<Spanned<String>>>,
}

/// A listener's `tls.client-auth` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawClientAuth {
    pub(super) ca: Spanned<String>,
    pub(super) mode: Option<Spanned<String>>,
}

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

/// An upstream's `tls` table: how the gateway connects to its targets over TLS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawUpstreamTls {
    pub(super) ca: Option<Spanned<String>>,
    pub(super) server_name: Option<Spanned<String>>,
    pub(super) cert: Option<Spanned<String>>,
    pub(super) key: Option<Spanned<String>>,
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

/// `hash-on`: `"client-ip"`, `{ header = "..." }` or `{ cookie = "..." }`.
#[derive(Debug)]
pub(super) enum RawHashOn {
    Word(String),
    Table {
        header: Option<String>,
        cookie: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawHashOnTable {
    header: Option<String>,
    cookie: Option<String>,
}

impl<'de> Deserialize<'de> for RawHashOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawHashOn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"client-ip\", { header = \"...\" } or { cookie = \"...\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawHashOn, E> {
                Ok(RawHashOn::Word(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawHashOn, A::Error> {
                let table =
                    RawHashOnTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawHashOn::Table {
                    header: table.header,
                    cookie: table.cookie,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// An upstream's `health` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawHealth {
    pub(super) active: Option<RawActiveHealth>,
    pub(super) passive: Option<RawPassiveHealth>,
}

/// `health.active`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawActiveHealth {
    pub(super) path: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<Text>>,
    pub(super) timeout: Option<Spanned<Text>>,
    pub(super) healthy_threshold: Option<Spanned<i64>>,
    pub(super) unhealthy_threshold: Option<Spanned<i64>>,
}

/// `health.passive`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPassiveHealth {
    pub(super) consecutive_failures: Option<Spanned<i64>>,
    pub(super) base_ejection: Option<Spanned<Text>>,
    pub(super) max_ejection: Option<Spanned<Text>>,
    pub(super) max_ejection_percent: Option<Spanned<i64>>,
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

/// A `[[plugins]]` or `[[routes.<id>.plugins]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPlugin {
    pub(super) plugin: Option<Spanned<String>>,
    pub(super) wasm: Option<Spanned<String>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) isolation: Option<Spanned<String>>,
    pub(super) failure: Option<Spanned<String>>,
    pub(super) memory: Option<Spanned<Text>>,
    pub(super) cpu: Option<Spanned<Text>>,
    pub(super) max_requests: Option<Spanned<i64>>,
    pub(super) config: Option<Spanned<toml::Table>>,
    /// Config keys whose value is the text of a file (`config-files = { jwks = "jwks.json" }`).
    pub(super) config_files: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Config keys whose value is a binary file in base64
    /// (`config-files-base64 = { descriptor-set = "api.pb" }`).
    pub(super) config_files_base64: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

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

/// The top-level `[plugin-runtime]` table: bounds on all plugin instances together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPluginRuntime {
    pub(super) memory_budget: Option<Spanned<Text>>,
    pub(super) idle_memory: Option<Spanned<Text>>,
}

/// The top-level `[limits]` table: client connections on every listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConnectionLimits {
    pub(super) max_connections: Option<Spanned<i64>>,
    pub(super) header_timeout: Option<Spanned<Text>>,
    pub(super) keepalive_timeout: Option<Spanned<Text>>,
    pub(super) http2_ping_interval: Option<Spanned<Text>>,
}

/// A duration or size: a string, or for sizes an integer, kept as text until validation.
#[derive(Debug)]
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string such as \"2s\" or \"16MiB\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A named table (`[upstreams.demo]`): its name, where the name is, and its contents.
#[derive(Debug)]
pub(super) struct Named<T> {
    pub(super) name: String,
    pub(super) name_span: Span,
    pub(super) value: T,
}

/// A plugin entry and where it is.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) span: Span,
    pub(super) value: T,
}

/// The `[admin]` table: the admin API's listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawAdmin {
    pub(super) address: Option<Spanned<String>>,
    pub(super) token: Option<Spanned<String>>,
    pub(super) hosts: Option<Vec<Spanned<String>>>,
}

/// The `[access-log]` table: where access lines go, in which format, with which context.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawAccessLog {
    pub(super) destination: Option<Spanned<String>>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) context: Option<Vec<Spanned<String>>>,
}

/// The `[tracing]` table: span export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTracing {
    pub(super) otlp: Option<Spanned<RawOtlp>>,
    pub(super) sample_ratio: Option<Spanned<f64>>,
    pub(super) service_name: Option<Spanned<String>>,
}

/// `[tracing] otlp`: the OTLP/HTTP collector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawOtlp {
    pub(super) endpoint: Spanned<String>,
    pub(super) timeout: Option<Spanned<Text>>,
}

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
