//! The config of `cors`, and the checks that run at load time (the Fetch standard's rules among
//! them: no `*` origin with credentials).

use portcullis_sdk::Error;
use serde::Deserialize;

use crate::origin::OriginRule;

/// `cors`'s config (see docs/plugins/cors.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Allowed origins: exact (`https://app.example.com`), patterns (`https://*.example.com`),
    /// or `["*"]`.
    pub origins: Vec<String>,
    /// Methods a preflight may ask for; `["*"]` for any.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// Request headers a preflight may ask for; `["*"]` for any.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Response headers the browser lets scripts read; `["*"]` for any (not with credentials).
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    /// Whether cookies and HTTP authentication may be sent (`Access-Control-Allow-Credentials`).
    #[serde(default)]
    pub credentials: bool,
    /// How long, in seconds, a browser may cache a preflight's answer.
    pub max_age: Option<u32>,
}

fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .map(str::to_owned)
        .to_vec()
}

/// A list that is either `*` or explicit names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum List {
    /// `["*"]`.
    Any,
    /// The names as given (methods) or lower case (headers).
    Names(Vec<String>),
}

impl List {
    fn parse(key: &str, entries: &[String], lower: bool) -> Result<Self, Error> {
        if entries.iter().any(|e| e == "*") {
            if entries.len() > 1 {
                return Err(Error::new(format!(
                    "`{key}` has `*` and other entries: `*` alone already means any"
                )));
            }
            return Ok(Self::Any);
        }
        let mut names = Vec::with_capacity(entries.len());
        for entry in entries {
            if !is_token(entry) {
                return Err(Error::new(format!(
                    "`{key}` entry `{entry}` is not a valid {}",
                    if key == "methods" {
                        "method"
                    } else {
                        "header name"
                    }
                )));
            }
            names.push(if lower {
                entry.to_ascii_lowercase()
            } else {
                entry.clone()
            });
        }
        Ok(Self::Names(names))
    }

    /// Whether `name` is allowed (case-insensitively).
    pub(crate) fn allows(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Names(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }

    /// The names joined for a header value; `None` when empty.
    pub(crate) fn joined(&self) -> Option<String> {
        match self {
            Self::Any => Some("*".to_owned()),
            Self::Names(names) if names.is_empty() => None,
            Self::Names(names) => Some(names.join(", ")),
        }
    }
}

/// The config, checked.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) origins: Vec<OriginRule>,
    pub(crate) any_origin: bool,
    pub(crate) methods: List,
    pub(crate) allowed_headers: List,
    pub(crate) exposed_headers: List,
    pub(crate) credentials: bool,
    pub(crate) max_age: Option<u32>,
}

impl Policy {
    /// Checks `config`.
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        if config.origins.is_empty() {
            return Err("`origins` is empty: list the origins allowed, e.g. \
                 origins = [\"https://app.example.com\", \"https://*.example.com\"], or [\"*\"]"
                .into());
        }
        let origins = config
            .origins
            .iter()
            .map(|o| OriginRule::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        let any_origin = origins.contains(&OriginRule::Any);
        if any_origin && origins.len() > 1 {
            return Err(
                "`origins` has `*` and other entries: `*` alone already allows every origin".into(),
            );
        }
        if any_origin && config.credentials {
            return Err(
                "`origins = [\"*\"]` with `credentials = true` is forbidden by the Fetch \
                 standard (browsers refuse it): list the origins allowed to send credentials"
                    .into(),
            );
        }
        if config.methods.is_empty() {
            return Err(
                "`methods` is empty: list the methods a preflight may ask for, e.g. [\"GET\", \"POST\"]"
                    .into(),
            );
        }
        let methods = List::parse("methods", &config.methods, false)?;
        let allowed_headers = List::parse("allowed-headers", &config.allowed_headers, true)?;
        let exposed_headers = List::parse("exposed-headers", &config.exposed_headers, true)?;
        if config.credentials && exposed_headers == List::Any {
            return Err(
                "`exposed-headers = [\"*\"]` with `credentials = true` exposes nothing: \
                 browsers read `*` as a header name when credentials are allowed; list the \
                 headers"
                    .into(),
            );
        }
        Ok(Self {
            origins,
            any_origin,
            methods,
            allowed_headers,
            exposed_headers,
            credentials: config.credentials,
            max_age: config.max_age,
        })
    }

    /// Whether `origin` may use the resource.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|rule| rule.matches(origin))
    }

    /// Whether `Access-Control-Allow-Origin` depends on the request's `Origin`, so caches must
    /// keep one answer per origin (`Vary: Origin`).
    pub(crate) fn varies_by_origin(&self) -> bool {
        !self.any_origin || self.credentials
    }

    /// The value of `Access-Control-Allow-Origin` for an allowed `origin`.
    pub(crate) fn allow_origin_value<'a>(&self, origin: &'a str) -> &'a str {
        if self.varies_by_origin() { origin } else { "*" }
    }
}

/// Whether `name` is an HTTP token (a valid method or header name).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
