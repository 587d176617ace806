//! Checks one plugin entry: where its component comes from, its isolation, failure policy and
//! limits, and its `config` table, which becomes the JSON handed to the plugin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::raw::{Entry, RawPlugin};
use super::units::{SIZE_HELP, parse_size};
use super::validate::{check_name, duration};
use super::{FailurePolicy, Isolation, Limits, PluginCatalog, PluginSource, PluginSpec, suggest};

const MIN_MEMORY: u64 = 64 << 10;
const MAX_MEMORY: u64 = 1 << 30;

/// The validated entry, or `None` with its errors pushed.
pub(super) fn spec(
    entry: Entry<RawPlugin>,
    base: &Path,
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
    let mut config = match raw.config {
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(table) => {
            let span = table.span();
            json(toml::Value::Table(table.into_inner())).unwrap_or_else(|| {
                errors.push(Diagnostic::new(
                    span,
                    format!("the config of {what} has a NaN or infinite number"),
                    "JSON cannot carry it; use a finite number",
                ));
                serde_json::Value::Null
            })
        }
    };
    let mut files = Vec::new();
    if let Some(entries) = raw.config_files {
        files = config_files(
            &mut config,
            entries,
            FileEncoding::Text,
            base,
            &what,
            errors,
        );
    }
    if let Some(entries) = raw.config_files_base64 {
        files.extend(config_files(
            &mut config,
            entries,
            FileEncoding::Base64,
            base,
            &what,
            errors,
        ));
    }
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

fn wasm(file: Spanned<String>, base: &Path, errors: &mut Vec<Diagnostic>) -> Option<PluginSource> {
    let joined = base.join(file.get_ref());
    let resolved = std::path::absolute(&joined).unwrap_or(joined);
    if resolved.is_file() {
        return Some(PluginSource::File(resolved));
    }
    let dir = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    errors.push(Diagnostic::new(
        file.span(),
        format!("plugin file `{}` does not exist", file.get_ref()),
        format!(
            "the path is relative to the manifest's directory, `{}`",
            dir.display()
        ),
    ));
    None
}

/// The largest file `config-files` reads: a JWKS or a key list, not a data set.
const MAX_CONFIG_FILE: u64 = 1 << 20;

/// How a file's content becomes a config string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileEncoding {
    /// `config-files`: the text as it is (it must be UTF-8).
    Text,
    /// `config-files-base64`: any bytes, in standard base64 (a protobuf descriptor set, a key
    /// in DER).
    Base64,
}

impl FileEncoding {
    fn key(self) -> &'static str {
        match self {
            Self::Text => "config-files",
            Self::Base64 => "config-files-base64",
        }
    }

    fn read(self, path: &Path) -> Result<String, String> {
        match self {
            Self::Text => std::fs::read_to_string(path).map_err(|e| e.to_string()),
            Self::Base64 => {
                use base64::Engine;
                let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
                Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

/// Adds each `config-files` (or `config-files-base64`) entry to `config` as a string key
/// holding the file's text (or its bytes in base64), read now (at load and check time),
/// relative to the manifest's directory. The plugin sees plain config, so it needs no
/// filesystem. Returns the files' paths (a reload watches them).
fn config_files(
    config: &mut serde_json::Value,
    files: BTreeMap<Spanned<String>, Spanned<String>>,
    encoding: FileEncoding,
    base: &Path,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (key, file) in files {
        if config.get(key.get_ref()).is_some() {
            errors.push(Diagnostic::new(
                key.span(),
                format!(
                    "`{}` of {what} is set both in `config` and in `{}`",
                    key.get_ref(),
                    encoding.key()
                ),
                "keep one of them",
            ));
            continue;
        }
        let path = base.join(file.get_ref());
        paths.push(path.clone());
        let text = std::fs::metadata(&path)
            .map_err(|e| e.to_string())
            .and_then(|meta| {
                if meta.len() > MAX_CONFIG_FILE {
                    Err(format!("it is larger than {} KiB", MAX_CONFIG_FILE >> 10))
                } else {
                    encoding.read(&path)
                }
            });
        match text {
            Ok(text) => {
                if let serde_json::Value::Object(map) = config {
                    map.insert(key.into_inner(), serde_json::Value::String(text));
                }
            }
            Err(reason) => {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base
                };
                errors.push(Diagnostic::new(
                    file.span(),
                    format!(
                        "`{}.{}` of {what}: `{}` cannot be read: {reason}",
                        encoding.key(),
                        key.get_ref(),
                        file.get_ref()
                    ),
                    format!(
                        "the path is relative to the manifest's directory, `{}`",
                        dir.display()
                    ),
                ));
            }
        }
    }
    paths
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

fn memory(
    value: Spanned<super::raw::Text>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<usize> {
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

/// TOML to JSON; datetimes become RFC 3339 strings. `None` for a non-finite float.
fn json(value: toml::Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => J::Number(serde_json::Number::from_f64(f)?),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.into_iter().map(json).collect::<Option<_>>()?),
        toml::Value::Table(table) => J::Object(
            table
                .into_iter()
                .map(|(k, v)| Some((k, json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}
