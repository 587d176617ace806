//! JSON body edits, applied in the order remove, rename, replace, add, and the rule for bodies
//! that are not JSON.

use std::collections::BTreeMap;

use portcullis_sdk::Error;
use serde::Deserialize;
use serde_json::Value;

use crate::pointer::Pointer;

/// JSON body edits as written in the config; keys are JSON pointers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BodyConfig {
    /// Members to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Old pointer to new pointer: the value moves.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// New values for members that exist (absent ones stay absent).
    #[serde(default)]
    pub replace: BTreeMap<String, Value>,
    /// Values to add, overwriting any there; missing parent objects are created.
    #[serde(default)]
    pub add: BTreeMap<String, Value>,
}

/// Body edits, checked.
#[derive(Debug, Default)]
pub struct BodyRules {
    remove: Vec<Pointer>,
    rename: Vec<(Pointer, Pointer)>,
    replace: Vec<(Pointer, Value)>,
    add: Vec<(Pointer, Value)>,
}

/// What happened to a body.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not JSON by its content type, empty, or compressed: left as it was.
    Unchanged,
    /// The edited JSON text.
    Edited(Vec<u8>),
    /// Declared JSON but does not parse: the message says why.
    Invalid(String),
}

impl BodyRules {
    /// Checks every pointer; `key` is where they are in the config (`body`).
    pub fn new(key: &str, config: &BodyConfig) -> Result<Self, Error> {
        let pointer = |sub: &str, text: &str| Pointer::parse(&format!("{key}.{sub}"), text);
        Ok(Self {
            remove: config
                .remove
                .iter()
                .map(|p| pointer("remove", p))
                .collect::<Result<_, _>>()?,
            rename: config
                .rename
                .iter()
                .map(|(from, to)| Ok((pointer("rename", from)?, pointer("rename", to)?)))
                .collect::<Result<_, Error>>()?,
            replace: config
                .replace
                .iter()
                .map(|(p, v)| Ok((pointer("replace", p)?, v.clone())))
                .collect::<Result<_, Error>>()?,
            add: config
                .add
                .iter()
                .map(|(p, v)| Ok((pointer("add", p)?, v.clone())))
                .collect::<Result<_, Error>>()?,
        })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.replace.is_empty()
            && self.add.is_empty()
    }

    /// Applies the edits to a parsed document. Edits whose target does not fit the document
    /// (a member under a string, an index past the end) are skipped.
    pub fn apply(&self, doc: &mut Value) {
        for pointer in &self.remove {
            pointer.remove(doc);
        }
        for (from, to) in &self.rename {
            if from != to
                && let Some(value) = from.remove(doc)
            {
                to.add(doc, value);
            }
        }
        for (pointer, value) in &self.replace {
            pointer.replace(doc, value.clone());
        }
        for (pointer, value) in &self.add {
            pointer.add(doc, value.clone());
        }
    }

    /// Edits `body` when its headers say it is uncompressed JSON.
    pub fn edit(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Outcome {
        if !content_type.is_some_and(is_json) || body.is_empty() {
            return Outcome::Unchanged;
        }
        if content_encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
            return Outcome::Unchanged;
        }
        let mut doc: Value = match serde_json::from_slice(body) {
            Ok(doc) => doc,
            Err(e) => return Outcome::Invalid(e.to_string()),
        };
        self.apply(&mut doc);
        Outcome::Edited(doc.to_string().into_bytes())
    }
}

/// Whether a `Content-Type` is JSON: `application/json`, or any `+json` type
/// (`application/problem+json`), parameters ignored.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .split_once('/')
            .is_some_and(|(_, subtype)| subtype.ends_with("+json"))
}
