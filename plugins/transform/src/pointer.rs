//! JSON pointers (RFC 6901) and the edits made with them, after JSON Patch (RFC 6902): `remove`,
//! `move` (here `rename`), `replace` (only when the target exists) and `add` (creates or
//! overwrites; `-` appends to an array; missing parent objects are created).

use serde_json::{Map, Value};

use portcullis_sdk::Error;

/// A parsed pointer: its reference tokens, unescaped (`~1` is `/`, `~0` is `~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parses `text`; `key` names the config key in the error. The whole document (`""`) is
    /// refused: the edits are on members and elements.
    pub fn parse(key: &str, text: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(format!(
                "`{key}`: `{text}` is not a JSON pointer to a member ({why}): write e.g. \
                 `/user/email` or `/items/0/id` (RFC 6901)"
            ))
        };
        let Some(rest) = text.strip_prefix('/') else {
            return Err(bad("it must start with `/`"));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => token.push('~'),
                        Some('1') => token.push('/'),
                        _ => return Err(bad("`~` must be followed by `0` or `1`")),
                    },
                    c => token.push(c),
                }
            }
            tokens.push(token);
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn parent_and_last(&self) -> (&[String], &str) {
        let (last, parent) = self
            .tokens
            .split_last()
            .expect("a parsed pointer has at least one token");
        (parent, last)
    }

    /// The value at the pointer.
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.tokens.iter().try_fold(doc, |v, token| match v {
            Value::Object(map) => map.get(token),
            Value::Array(items) => items.get(index(token)?),
            _ => None,
        })
    }

    fn get_mut<'a>(tokens: &[String], doc: &'a mut Value) -> Option<&'a mut Value> {
        tokens.iter().try_fold(doc, |v, token| match v {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => items.get_mut(index(token)?),
            _ => None,
        })
    }

    /// Removes and returns the value at the pointer, if there is one.
    pub fn remove(&self, doc: &mut Value) -> Option<Value> {
        let (parent, last) = self.parent_and_last();
        match Self::get_mut(parent, doc)? {
            Value::Object(map) => map.shift_remove(last),
            Value::Array(items) => {
                let i = index(last)?;
                (i < items.len()).then(|| items.remove(i))
            }
            _ => None,
        }
    }

    /// Replaces the value at the pointer when there is one; says whether it did.
    pub fn replace(&self, doc: &mut Value, value: Value) -> bool {
        match Self::get_mut(&self.tokens, doc) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// Adds `value` at the pointer, creating missing parent objects; says whether it could
    /// (not through a scalar, nor past the end of an array).
    pub fn add(&self, doc: &mut Value, value: Value) -> bool {
        let (parent, last) = self.parent_and_last();
        let mut at = doc;
        for token in parent {
            at = match at {
                Value::Object(map) => map
                    .entry(token.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                Value::Array(items) => match index(token).and_then(|i| items.get_mut(i)) {
                    Some(item) => item,
                    None => return false,
                },
                _ => return false,
            };
        }
        match at {
            Value::Object(map) => {
                map.insert(last.to_owned(), value);
                true
            }
            Value::Array(items) if last == "-" => {
                items.push(value);
                true
            }
            Value::Array(items) => match index(last) {
                Some(i) if i <= items.len() => {
                    items.insert(i, value);
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// An array index token: digits without a leading zero (RFC 6901).
fn index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}
