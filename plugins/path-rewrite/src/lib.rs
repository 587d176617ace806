//! `path-rewrite`: rewrite the path before the upstream sees it, either by stripping a prefix
//! (`/legacy/orders` -> `/orders`) or from a template that uses the route's path parameters
//! (`/users/{id}` -> `/v2/profiles/{id}`). The query string is kept.

use portcullis_sdk::{Action, Error, Needs, Plugin, Request, export_plugin};
use serde::Deserialize;

/// `path-rewrite`'s config: exactly one of `strip-prefix` and `template`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Remove this prefix (segment-wise) from the path.
    pub strip_prefix: Option<String>,
    /// Add this prefix after stripping (or alone).
    pub add_prefix: Option<String>,
    /// Build the whole path from this template; `{name}` is a route parameter.
    pub template: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Param(String),
}

#[derive(Debug)]
enum Rewrite {
    Prefix { strip: String, add: String },
    Template(Vec<Segment>),
}

/// The plugin.
#[derive(Debug)]
pub struct PathRewrite(Rewrite);

impl Plugin for PathRewrite {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let rewrite = match (config.template, config.strip_prefix, config.add_prefix) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(
                    "give either `template` or `strip-prefix`/`add-prefix`, not both: a \
                     template already spells the whole path"
                        .into(),
                );
            }
            (Some(template), None, None) => Rewrite::Template(parse_template(&template)?),
            (None, None, None) => {
                return Err(
                    "nothing to do: give `strip-prefix` (and/or `add-prefix`), e.g. \
                     `strip-prefix = \"/api\"`, or `template`, e.g. `template = \"/v2/users/{id}\"`"
                        .into(),
                );
            }
            (None, strip, add) => Rewrite::Prefix {
                strip: normalize_prefix("strip-prefix", strip)?,
                add: normalize_prefix("add-prefix", add)?,
            },
        };
        Ok(Self(rewrite))
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let path = match &self.0 {
            Rewrite::Prefix { strip, add } => prefixed(&strip_prefix(&req.path(), strip), add),
            Rewrite::Template(segments) => render(segments, |name| req.route_param(name))?,
        };
        req.set_path(&path)?;
        Ok(Action::Continue)
    }
}

/// `path` without `prefix`, when `path` is `prefix` or starts with `prefix/`.
fn strip_prefix(path: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        return path.to_owned();
    }
    match path.strip_prefix(prefix) {
        Some("") => "/".to_owned(),
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => path.to_owned(),
    }
}

fn prefixed(path: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        path.to_owned()
    } else if path == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{path}")
    }
}

/// A prefix starts with `/` and has no trailing `/` (`""` for none).
fn normalize_prefix(key: &str, prefix: Option<String>) -> Result<String, Error> {
    let Some(prefix) = prefix else {
        return Ok(String::new());
    };
    if !prefix.starts_with('/') || prefix.contains(['?', '#', '{', '}']) {
        return Err(Error::new(format!(
            "`{key}` must be a path starting with `/`, without `?`, `#` or braces: `{prefix}`"
        )));
    }
    Ok(prefix.trim_end_matches('/').to_owned())
}

fn parse_template(template: &str) -> Result<Vec<Segment>, Error> {
    if !template.starts_with('/') || template.contains(['?', '#']) {
        return Err(Error::new(format!(
            "`template` must be a path starting with `/`, without `?` or `#` (the query is kept \
             as it was): `{template}`"
        )));
    }
    let mut segments = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            segments.push(Segment::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            Error::new(format!("`template` has a `{{` without `}}`: `{template}`"))
        })?;
        // `{rest..}` is accepted too, so a route's catch-all can be copied as written.
        let written = &after[..close];
        let name = written.strip_suffix("..").unwrap_or(written);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::new(format!(
                "`template` has an invalid parameter `{{{written}}}`: name a parameter of the \
                 route's `match.path`, in letters, digits and `_`, e.g. `/v2/users/{{id}}`"
            )));
        }
        segments.push(Segment::Param(name.to_owned()));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(Error::new(format!(
            "`template` has a `}}` without `{{`: `{template}`"
        )));
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    Ok(segments)
}

fn render(segments: &[Segment], param: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Param(name) => {
                let value = param(name).ok_or_else(|| {
                    Error::new(format!("the route has no path parameter `{name}`: the template must use the route's own parameters"))
                })?;
                out.push_str(&value);
            }
        }
    }
    Ok(out)
}

export_plugin!(PathRewrite);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
