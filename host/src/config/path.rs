//! A listener's `path` table: the raw table as written and its check, which gives the router's
//! own model (`crate::router::path::PathOptions`, how request paths are normalised before
//! routing). Absent, the safe defaults apply: slashes merged, encoded slashes and `;` refused.

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::suggest;
use crate::router::path::{EscapedSlashes, PathOptions, Semicolons};

/// A listener's `path` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPathOptions {
    pub(super) merge_slashes: Option<bool>,
    pub(super) escaped_slashes: Option<Spanned<String>>,
    pub(super) semicolons: Option<Spanned<String>>,
}

const ESCAPED_SLASHES: &[&str] = &["reject", "keep", "decode"];
const SEMICOLONS: &[&str] = &["reject", "keep"];

/// Checks `path`; the defaults where it (or one of its keys) is absent or invalid (the
/// errors are in `errors`).
pub(super) fn options(
    listener: &str,
    raw: Option<Spanned<RawPathOptions>>,
    errors: &mut Vec<Diagnostic>,
) -> PathOptions {
    let defaults = PathOptions::default();
    let Some(raw) = raw else {
        return defaults;
    };
    let RawPathOptions {
        merge_slashes,
        escaped_slashes,
        semicolons,
    } = raw.into_inner();
    let escaped_slashes = escaped_slashes
        .and_then(|value| {
            let action = match value.get_ref().as_str() {
                "reject" => EscapedSlashes::Reject,
                "keep" => EscapedSlashes::Keep,
                "decode" => EscapedSlashes::Decode,
                other => {
                    errors.push(invalid(
                        listener,
                        "escaped-slashes",
                        &value,
                        other,
                        ESCAPED_SLASHES,
                    ));
                    return None;
                }
            };
            Some(action)
        })
        .unwrap_or(defaults.escaped_slashes);
    let semicolons = semicolons
        .and_then(|value| {
            let action = match value.get_ref().as_str() {
                "reject" => Semicolons::Reject,
                "keep" => Semicolons::Keep,
                other => {
                    errors.push(invalid(listener, "semicolons", &value, other, SEMICOLONS));
                    return None;
                }
            };
            Some(action)
        })
        .unwrap_or(defaults.semicolons);
    PathOptions {
        merge_slashes: merge_slashes.unwrap_or(defaults.merge_slashes),
        escaped_slashes,
        semicolons,
    }
}

fn invalid(
    listener: &str,
    key: &str,
    value: &Spanned<String>,
    other: &str,
    choices: &[&str],
) -> Diagnostic {
    Diagnostic::new(
        value.span(),
        format!("invalid `path.{key}` value `{other}` in listener `{listener}`"),
        suggest::help(other, "values", choices),
    )
}
