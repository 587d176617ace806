//! Header edits, applied in the order remove, rename, set, add.

use std::collections::BTreeMap;

use portcullis_sdk::Error;
use serde::Deserialize;

use crate::is_token;

/// Header edits as written in the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HeaderConfig {
    /// Headers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Old name to new name; every value moves, appended after any the new name had.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Headers to set, replacing their values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Values to append, keeping existing ones.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
}

/// Header edits, checked, names in lower case.
#[derive(Debug, Default)]
pub struct HeaderRules {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    set: Vec<(String, String)>,
    add: Vec<(String, String)>,
}

/// What applying header edits needs from a request or a response.
pub trait HeaderTarget {
    /// Every value of a header.
    fn values(&self, name: &str) -> Vec<String>;
    /// Removes a header.
    fn remove(&self, name: &str) -> Result<(), Error>;
    /// Replaces a header's values with one.
    fn set(&self, name: &str, value: &str) -> Result<(), Error>;
    /// Appends a value.
    fn append(&self, name: &str, value: &str) -> Result<(), Error>;
}

impl HeaderRules {
    /// Checks names and values; `key` is where they are in the config (`headers`).
    pub fn new(key: &str, config: &HeaderConfig) -> Result<Self, Error> {
        let name = |n: &String| -> Result<String, Error> {
            if is_token(n) {
                Ok(n.to_ascii_lowercase())
            } else {
                Err(Error::new(format!(
                    "`{key}`: `{n}` is not a valid header name"
                )))
            }
        };
        let value = |n: &String, v: &String| -> Result<(String, String), Error> {
            if v.chars().any(|c| c.is_control() && c != '\t') {
                return Err(Error::new(format!(
                    "`{key}`: the value of header `{n}` has a control character"
                )));
            }
            Ok((name(n)?, v.clone()))
        };
        Ok(Self {
            remove: config.remove.iter().map(name).collect::<Result<_, _>>()?,
            rename: config
                .rename
                .iter()
                .map(|(from, to)| Ok((name(from)?, name(to)?)))
                .collect::<Result<_, Error>>()?,
            set: config
                .set
                .iter()
                .map(|(n, v)| value(n, v))
                .collect::<Result<_, _>>()?,
            add: config
                .add
                .iter()
                .map(|(n, v)| value(n, v))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.set.is_empty()
            && self.add.is_empty()
    }

    /// Applies the edits to `target`.
    pub fn apply(&self, target: &impl HeaderTarget) -> Result<(), Error> {
        for name in &self.remove {
            target.remove(name)?;
        }
        for (from, to) in &self.rename {
            let values = target.values(from);
            if values.is_empty() || from == to {
                continue;
            }
            target.remove(from)?;
            for value in &values {
                target.append(to, value)?;
            }
        }
        for (name, value) in &self.set {
            target.set(name, value)?;
        }
        for (name, value) in &self.add {
            target.append(name, value)?;
        }
        Ok(())
    }
}

impl HeaderTarget for portcullis_sdk::Request<'_> {
    fn values(&self, name: &str) -> Vec<String> {
        self.header_values(name)
    }
    fn remove(&self, name: &str) -> Result<(), Error> {
        self.remove_header(name)
    }
    fn set(&self, name: &str, value: &str) -> Result<(), Error> {
        self.set_header(name, value)
    }
    fn append(&self, name: &str, value: &str) -> Result<(), Error> {
        self.append_header(name, value)
    }
}

impl HeaderTarget for portcullis_sdk::Response<'_> {
    fn values(&self, name: &str) -> Vec<String> {
        self.header_values(name)
    }
    fn remove(&self, name: &str) -> Result<(), Error> {
        self.remove_header(name)
    }
    fn set(&self, name: &str, value: &str) -> Result<(), Error> {
        self.set_header(name, value)
    }
    fn append(&self, name: &str, value: &str) -> Result<(), Error> {
        self.append_header(name, value)
    }
}
