//! A plugin entry's `config` table and its `config-files` and `config-files-base64`: the JSON
//! handed to the plugin, with the files' content read in (at load and check time) so that the
//! plugin needs no filesystem. Kept apart from `plugin`, which checks the rest of the entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::base::Base;
use super::diagnostic::Diagnostic;

/// The plugin's config as JSON (`{}` when absent), and the files whose content it holds (a
/// reload watches them); the errors are in `errors`.
pub(super) fn config(
    table: Option<Spanned<toml::Table>>,
    files_text: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    files_base64: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    base: Base<'_>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> (serde_json::Value, Vec<PathBuf>) {
    let mut config = match table {
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
    if let Some(entries) = files_text {
        files = config_files(&mut config, entries, FileEncoding::Text, base, what, errors);
    }
    if let Some(entries) = files_base64 {
        files.extend(config_files(
            &mut config,
            entries,
            FileEncoding::Base64,
            base,
            what,
            errors,
        ));
    }
    (config, files)
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

    /// The file's content as a config string, unless it is over [`MAX_CONFIG_FILE`].
    fn read(self, path: &Path) -> Result<String, FileError> {
        if std::fs::metadata(path)?.len() > MAX_CONFIG_FILE {
            return Err(FileError::TooLarge);
        }
        match self {
            Self::Text => Ok(std::fs::read_to_string(path)?),
            Self::Base64 => {
                use base64::Engine;
                let bytes = std::fs::read(path)?;
                Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

/// Why a `config-files` entry could not be read: the end of its diagnostic's message.
#[derive(Debug, thiserror::Error)]
enum FileError {
    /// The file could not be opened or read (or, for `config-files`, is not UTF-8).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is over [`MAX_CONFIG_FILE`].
    #[error("it is larger than {} KiB", MAX_CONFIG_FILE >> 10)]
    TooLarge,
}

/// Adds each `config-files` (or `config-files-base64`) entry to `config` as a string key
/// holding the file's text (or its bytes in base64), read now (at load and check time),
/// relative to the manifest's directory. The plugin sees plain config, so it needs no
/// filesystem. Returns the files' paths (a reload watches them).
fn config_files(
    config: &mut serde_json::Value,
    files: BTreeMap<Spanned<String>, Spanned<String>>,
    encoding: FileEncoding,
    base: Base<'_>,
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
        let refused = errors.len();
        let path = base.join(file.span(), file.get_ref(), errors);
        if errors.len() > refused {
            continue;
        }
        paths.push(path.clone());
        match encoding.read(&path) {
            Ok(text) => {
                if let serde_json::Value::Object(map) = config {
                    map.insert(key.into_inner(), serde_json::Value::String(text));
                }
            }
            Err(reason) => {
                errors.push(Diagnostic::new(
                    file.span(),
                    format!(
                        "`{}.{}` of {what}: `{}` cannot be read: {reason}",
                        encoding.key(),
                        key.get_ref(),
                        file.get_ref()
                    ),
                    base.where_relative(),
                ));
            }
        }
    }
    paths
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
