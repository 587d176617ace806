//! Query parameter edits (remove, rename, add) that leave every other byte of the query as the
//! client wrote it.

use std::collections::BTreeMap;

use portcullis_sdk::Error;
use portcullis_sdk::query::decode;
use serde::Deserialize;

/// Query edits as written in the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueryConfig {
    /// Parameters to remove (every occurrence).
    #[serde(default)]
    pub remove: Vec<String>,
    /// Old name to new name; values are kept as sent.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Parameters to append, `name=value`.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
}

/// Query edits, checked; names kept decoded, added pairs encoded once.
#[derive(Debug, Default)]
pub(crate) struct QueryRules {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    add: Vec<String>,
}

impl QueryRules {
    /// Checks the config (names may not be empty).
    pub(crate) fn new(config: &QueryConfig) -> Result<Self, Error> {
        let name = |n: &String| {
            if n.is_empty() {
                Err(Error::new("`query`: a parameter name is empty"))
            } else {
                Ok(n.clone())
            }
        };
        Ok(Self {
            remove: config.remove.iter().map(name).collect::<Result<_, _>>()?,
            rename: config
                .rename
                .iter()
                .map(|(from, to)| Ok((name(from)?, name(to)?)))
                .collect::<Result<_, Error>>()?,
            add: config
                .add
                .iter()
                .map(|(n, v)| Ok(format!("{}={}", encode(&name(n)?), encode(v))))
                .collect::<Result<_, Error>>()?,
        })
    }

    /// Whether there is nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.rename.is_empty() && self.add.is_empty()
    }

    /// The edited query (`None` when nothing is left).
    pub(crate) fn apply(&self, query: Option<&str>) -> Option<String> {
        let mut pairs: Vec<String> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            let key = decode(raw_key);
            if self.remove.contains(&key) {
                continue;
            }
            match self.rename.iter().find(|(from, _)| *from == key) {
                Some((_, to)) => pairs.push(match raw_value {
                    Some(v) => format!("{}={v}", encode(to)),
                    None => encode(to),
                }),
                None => pairs.push(pair.to_owned()),
            }
        }
        pairs.extend(self.add.iter().cloned());
        (!pairs.is_empty()).then(|| pairs.join("&"))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
