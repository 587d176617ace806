//! One plugin entry, global (`[[plugins]]`) or in a route (`[[routes.<id>.plugins]]`): the raw
//! table as written, the validated [`PluginSpec`], and its check (where its component comes
//! from, its isolation, failure policy and limits). Its `config` and `config-files` are
//! checked by `plugin_config`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::PluginCatalog;
use super::base::Base;
use super::diagnostic::Diagnostic;
use super::oci::OciReference;
use super::plugin_config;
use super::rollout::{self, BreakerSpec, GuardSpec, RawBreakerChoice, RawVariant, Sticky};
use super::spanned::Entry;
use super::suggest;
use super::units::{SIZE_HELP, Text, check_name, duration, parse_size};

/// A `[[plugins]]` or `[[routes.<id>.plugins]]` entry.
#[derive(Debug, Clone, Deserialize)]
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
    /// A candidate version taking a share of requests (`rollout`).
    pub(super) canary: Option<Spanned<RawVariant>>,
    /// A candidate run on copies of requests, never applied (`rollout`).
    pub(super) shadow: Option<Spanned<RawVariant>>,
    /// When to stop calling a failing plugin, or `false` (`rollout`).
    pub(super) breaker: Option<Spanned<RawBreakerChoice>>,
}

/// One plugin entry, global or in a route.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// Display name: `name`, else the prebuilt plugin's name, else the file stem.
    pub name: String,
    /// Where the component comes from.
    pub source: PluginSource,
    /// The `config` table as JSON (`{}` when absent).
    pub config: serde_json::Value,
    /// Instance life cycle.
    pub isolation: Isolation,
    /// What a failing plugin does to the request.
    pub failure: FailurePolicy,
    /// Resource limits per instance and call.
    pub limits: Limits,
    /// The files of `config-files` and `config-files-base64`, whose content is in `config`.
    pub files: Vec<PathBuf>,
    /// The whole entry in the manifest.
    pub span: Range<usize>,
    /// Its canary, breaker and shadow, if any.
    pub rollout: Rollout,
}

/// A candidate version taking a share of an entry's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct CanarySpec {
    /// The entry with the canary's keys laid over it.
    pub plugin: PluginSpec,
    /// Percentage of requests (0 to 100) that take the candidate.
    pub weight: f64,
    /// What keeps one caller on one version; `None` draws per request.
    pub sticky: Option<Sticky>,
    /// When the candidate is rolled back.
    pub guard: GuardSpec,
}

/// A candidate run on copies of the live plugin's requests and responses.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowSpec {
    /// The entry with the shadow's keys laid over it.
    pub plugin: PluginSpec,
    /// The share of requests copied to it (0 to 1).
    pub sample: f64,
}

/// The safe roll-out keys of an entry (`docs/rollouts.md`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rollout {
    /// `canary`: a candidate taking a share of requests.
    pub canary: Option<Box<CanarySpec>>,
    /// `breaker` (or `[plugin-runtime] breaker`): when calls stop.
    pub breaker: Option<BreakerSpec>,
    /// `shadow`: a candidate run on copies.
    pub shadow: Option<Box<ShadowSpec>>,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// `plugin = "<name>"`: one shipped with the gateway.
    Prebuilt(String),
    /// `wasm = "<path>"`: a component file, resolved to an absolute path.
    File(PathBuf),
    /// `wasm = "oci://..."`: a component in an OCI registry, pulled and cached by digest.
    Oci(OciReference),
}

/// `isolation`: how long a plugin instance lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Reused across requests on a worker, recycled after `max-requests` or a trap (default).
    #[default]
    Reuse,
    /// A fresh instance for every request.
    Request,
}

/// `failure`: what happens to the request when a plugin traps or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The request fails with an error (default).
    #[default]
    FailClosed,
    /// The plugin is skipped and the request goes on.
    FailOpen,
}

/// Resource limits of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes (default 16 MiB; 64 KiB to 1 GiB).
    pub memory_bytes: usize,
    /// CPU time per call (default 50ms).
    pub cpu: Duration,
    /// Requests served by one instance in `reuse` mode before it is recycled (default 10000).
    pub max_requests: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 << 20,
            cpu: Duration::from_millis(50),
            max_requests: 10_000,
        }
    }
}

/// The bounds of a plugin's `memory`: one Wasm page, and 1 GiB.
const MIN_MEMORY: u64 = 64 << 10;
const MAX_MEMORY: u64 = 1 << 30;

/// The validated entry with its canary, shadow and breaker (`default_breaker` when it sets
/// none), or `None` with its errors pushed.
pub(super) fn spec(
    entry: Entry<RawPlugin>,
    base: Base<'_>,
    catalog: &dyn PluginCatalog,
    default_breaker: Option<&BreakerSpec>,
    errors: &mut Vec<Diagnostic>,
) -> Option<PluginSpec> {
    let Entry {
        span,
        value: mut raw,
    } = entry;
    let (canary, shadow, breaker) = (raw.canary.take(), raw.shadow.take(), raw.breaker.take());
    let candidate = |variant: &Spanned<RawVariant>, errors: &mut Vec<Diagnostic>| {
        let overlaid = overlay(&raw, variant.get_ref());
        let entry = Entry {
            span: variant.span(),
            value: overlaid,
        };
        one(entry, base, catalog, errors)
    };
    let canary = canary.map(|c| (candidate(&c, errors), c));
    let shadow = shadow.map(|s| (candidate(&s, errors), s));
    let mut spec = one(Entry { span, value: raw }, base, catalog, errors)?;
    let what = format!("plugin `{}`", spec.name);
    if let Some((plugin, raw)) = canary {
        let mut plugin = plugin?;
        plugin.name = spec.name.clone();
        let keys = rollout::canary(&raw, &what, errors)?;
        spec.rollout.canary = Some(Box::new(CanarySpec {
            plugin,
            weight: keys.weight,
            sticky: keys.sticky,
            guard: keys.guard,
        }));
    }
    if let Some((plugin, raw)) = shadow {
        let mut plugin = plugin?;
        // Its state and metrics are its own: a shadow must not count against the live limits.
        plugin.name = format!("{}.shadow", spec.name);
        let sample = rollout::shadow(&raw, &what, errors)?;
        spec.rollout.shadow = Some(Box::new(ShadowSpec { plugin, sample }));
    }
    spec.rollout.breaker = match breaker {
        None => default_breaker.copied(),
        Some(raw) => rollout::breaker_choice(&raw, &what, errors)?,
    };
    Some(spec)
}

/// The entry's raw table with `variant`'s keys laid over it (its own keys left out).
fn overlay(base: &RawPlugin, variant: &RawVariant) -> RawPlugin {
    let mut raw = base.clone();
    let v = variant.clone();
    if v.plugin.is_some() || v.wasm.is_some() {
        raw.plugin = v.plugin;
        raw.wasm = v.wasm;
    }
    raw.isolation = v.isolation.or(raw.isolation);
    raw.failure = v.failure.or(raw.failure);
    raw.memory = v.memory.or(raw.memory);
    raw.cpu = v.cpu.or(raw.cpu);
    raw.max_requests = v.max_requests.or(raw.max_requests);
    if v.config.is_some() || v.config_files.is_some() || v.config_files_base64.is_some() {
        raw.config = v.config;
        raw.config_files = v.config_files;
        raw.config_files_base64 = v.config_files_base64;
    }
    raw.canary = None;
    raw.shadow = None;
    raw.breaker = None;
    raw
}

/// One entry's own keys (a candidate's are the entry's with its overrides), checked.
fn one(
    entry: Entry<RawPlugin>,
    base: Base<'_>,
    catalog: &dyn PluginCatalog,
    errors: &mut Vec<Diagnostic>,
) -> Option<PluginSpec> {
    let Entry { span, value: raw } = entry;
    let before = errors.len();
    let source = match (raw.plugin, raw.wasm) {
        (Some(name), None) => prebuilt(name, catalog, errors),
        (None, Some(file)) => wasm(file, base, errors),
        (Some(_), Some(file)) => {
            errors.push(Diagnostic::new(
                file.span(),
                "a plugin entry sets both `plugin` and `wasm`",
                "keep `plugin = \"<name>\"` for a prebuilt plugin or `wasm = \"<file>\"` for your own component",
            ));
            None
        }
        (None, None) => {
            errors.push(Diagnostic::new(
                span.clone(),
                "a plugin entry sets neither `plugin` nor `wasm`",
                "add `plugin = \"<name>\"` for a prebuilt plugin or `wasm = \"<file>\"` for your own component",
            ));
            None
        }
    };
    let name = match (&raw.name, &source) {
        (Some(name), _) => {
            check_name("plugin", name.get_ref(), &name.span(), errors);
            name.get_ref().clone()
        }
        (None, Some(PluginSource::Prebuilt(name))) => name.clone(),
        (None, Some(PluginSource::File(path))) => path
            .file_stem()
            .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned()),
        // The repository's last part: `oci://reg/team/auth:1` is `auth`.
        (None, Some(PluginSource::Oci(reference))) => reference
            .repository
            .rsplit('/')
            .next()
            .unwrap_or("plugin")
            .to_owned(),
        (None, None) => String::new(),
    };
    let what = format!("plugin `{name}`");
    let isolation = choice(
        raw.isolation,
        &[("reuse", Isolation::Reuse), ("request", Isolation::Request)],
        ("isolation", &what),
        errors,
    );
    let failure = choice(
        raw.failure,
        &[
            ("fail-closed", FailurePolicy::FailClosed),
            ("fail-open", FailurePolicy::FailOpen),
        ],
        ("failure", &what),
        errors,
    );
    let defaults = Limits::default();
    let limits = Limits {
        memory_bytes: raw.memory.map_or(Some(defaults.memory_bytes), |m| memory(m, &what, errors)).unwrap_or(0),
        cpu: duration(raw.cpu, defaults.cpu, &what, errors),
        max_requests: match raw.max_requests {
            None => defaults.max_requests,
            Some(n) => u64::try_from(*n.get_ref()).ok().filter(|n| *n > 0).unwrap_or_else(|| {
                errors.push(Diagnostic::new(
                    n.span(),
                    format!("`max-requests` of {what} must be at least 1"),
                    "use a positive count, e.g. `max-requests = 10000`, or `isolation = \"request\"` for fresh instances",
                ));
                0
            }),
        },
    };
    let (config, files) = plugin_config::config(
        raw.config,
        raw.config_files,
        raw.config_files_base64,
        base,
        &what,
        errors,
    );
    if errors.len() > before {
        return None;
    }
    Some(PluginSpec {
        name,
        source: source?,
        config,
        isolation,
        failure,
        limits,
        files,
        span,
        rollout: Rollout::default(),
    })
}

fn prebuilt(
    name: Spanned<String>,
    catalog: &dyn PluginCatalog,
    errors: &mut Vec<Diagnostic>,
) -> Option<PluginSource> {
    if catalog.contains(name.get_ref()) {
        return Some(PluginSource::Prebuilt(name.into_inner()));
    }
    let known = catalog.names();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let help = if known.is_empty() {
        "check the name, or load your own component with `wasm = \"<file>\"`".to_owned()
    } else {
        suggest::help(name.get_ref(), "prebuilt plugins", &known)
    };
    errors.push(Diagnostic::new(
        name.span(),
        format!("unknown plugin `{}`", name.get_ref()),
        help,
    ));
    None
}

fn wasm(
    file: Spanned<String>,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<PluginSource> {
    if file.get_ref().starts_with("oci://") {
        return match OciReference::parse(file.get_ref()) {
            Ok(reference) => Some(PluginSource::Oci(reference)),
            Err(error) => {
                errors.push(Diagnostic::new(
                    file.span(),
                    format!("invalid OCI reference `{}`: {error}", file.get_ref()),
                    "write `oci://REGISTRY/REPOSITORY:TAG` or `oci://REGISTRY/REPOSITORY@sha256:DIGEST` (docs/fleet.md)",
                ));
                None
            }
        };
    }
    let refused = errors.len();
    let joined = base.join(file.span(), file.get_ref(), errors);
    if errors.len() > refused {
        return None;
    }
    let resolved = std::path::absolute(&joined).unwrap_or(joined);
    if resolved.is_file() {
        return Some(PluginSource::File(resolved));
    }
    errors.push(Diagnostic::new(
        file.span(),
        format!("plugin file `{}` does not exist", file.get_ref()),
        base.where_relative(),
    ));
    None
}

fn choice<T: Copy + Default>(
    value: Option<Spanned<String>>,
    options: &[(&str, T)],
    (key, what): (&str, &str),
    errors: &mut Vec<Diagnostic>,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    if let Some((_, chosen)) = options.iter().find(|(name, _)| name == value.get_ref()) {
        return *chosen;
    }
    let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
    errors.push(Diagnostic::new(
        value.span(),
        format!("unknown {key} `{}` for {what}", value.get_ref()),
        suggest::help(value.get_ref(), &format!("`{key}` values"), &names),
    ));
    T::default()
}

fn memory(value: Spanned<Text>, what: &str, errors: &mut Vec<Diagnostic>) -> Option<usize> {
    let text = &value.get_ref().0;
    let Some(bytes) = parse_size(text) else {
        errors.push(Diagnostic::new(
            value.span(),
            format!("invalid size `{text}` for the memory of {what}"),
            SIZE_HELP,
        ));
        return None;
    };
    let fits = (MIN_MEMORY..=MAX_MEMORY).contains(&bytes);
    match usize::try_from(bytes).ok().filter(|_| fits) {
        Some(bytes) => Some(bytes),
        None => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("the memory of {what} must be between 64KiB and 1GiB, not `{text}`"),
                "a Wasm page is 64KiB; plugins usually need 1MiB to 64MiB, e.g. `memory = \"16MiB\"`",
            ));
            None
        }
    }
}
