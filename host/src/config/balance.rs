//! An upstream's `balance` and `hash-on`: how it chooses a target. The raw `hash-on` value as
//! written, the validated [`Balance`] and [`HashOn`], and their checks.

use http::HeaderName;
use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::suggest;

/// `hash-on`: `"client-ip"`, `{ header = "..." }` or `{ cookie = "..." }`.
#[derive(Debug)]
pub(super) enum RawHashOn {
    Word(String),
    Table {
        header: Option<String>,
        cookie: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawHashOnTable {
    header: Option<String>,
    cookie: Option<String>,
}

impl<'de> Deserialize<'de> for RawHashOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawHashOn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"client-ip\", { header = \"...\" } or { cookie = \"...\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawHashOn, E> {
                Ok(RawHashOn::Word(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawHashOn, A::Error> {
                let table =
                    RawHashOnTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawHashOn::Table {
                    header: table.header,
                    cookie: table.cookie,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `balance` (and `hash-on`): how an upstream chooses a target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// In turn (default).
    #[default]
    RoundRobin,
    /// Smooth weighted round robin (nginx's algorithm) on the targets' `weight`.
    Weighted,
    /// The less busy of two targets drawn at random (power of two choices).
    LeastRequest,
    /// Uniformly at random.
    Random,
    /// A ring hash of a request key; round robin when the key is absent.
    ConsistentHash(HashOn),
}

/// `hash-on`: the request key of consistent hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// A header's value (`{ header = "x-user" }`).
    Header(http::HeaderName),
    /// A cookie's value (`{ cookie = "session" }`).
    Cookie(String),
    /// The client's IP address (`"client-ip"`).
    ClientIp,
}

const BALANCES: &[&str] = &[
    "round-robin",
    "weighted",
    "least-request",
    "random",
    "consistent-hash",
];

/// Checks `balance` and `hash-on`; round robin where they are absent or invalid (the errors
/// are in `errors`).
pub(super) fn balance(
    raw: Option<Spanned<String>>,
    hash_on: Option<Spanned<RawHashOn>>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Balance {
    let name = raw.as_ref().map_or("round-robin", |b| b.get_ref().as_str());
    let balance = match name {
        "round-robin" => Balance::RoundRobin,
        "weighted" => Balance::Weighted,
        "least-request" => Balance::LeastRequest,
        "random" => Balance::Random,
        "consistent-hash" => {
            let Some(hash_on) = hash_on else {
                if let Some(raw) = &raw {
                    errors.push(Diagnostic::new(
                        raw.span(),
                        format!("`consistent-hash` in {what} needs `hash-on`"),
                        "add `hash-on = { header = \"x-user\" }`, `hash-on = { cookie = \"session\" }` or `hash-on = \"client-ip\"`",
                    ));
                }
                return Balance::RoundRobin;
            };
            return hash_key(hash_on, what, errors)
                .map_or(Balance::RoundRobin, Balance::ConsistentHash);
        }
        other => {
            if let Some(raw) = &raw {
                errors.push(Diagnostic::new(
                    raw.span(),
                    format!("unknown balance `{other}` in {what}"),
                    suggest::help(other, "balance algorithms", BALANCES),
                ));
            }
            Balance::RoundRobin
        }
    };
    if let Some(hash_on) = hash_on {
        errors.push(Diagnostic::new(
            hash_on.span(),
            format!("`hash-on` in {what} is only used with `balance = \"consistent-hash\"`"),
            "remove `hash-on`, or set `balance = \"consistent-hash\"`",
        ));
    }
    balance
}

fn hash_key(raw: Spanned<RawHashOn>, what: &str, errors: &mut Vec<Diagnostic>) -> Option<HashOn> {
    let span = raw.span();
    let bad = |errors: &mut Vec<Diagnostic>, message: String| {
        errors.push(Diagnostic::new(
            span.clone(),
            message,
            "write `hash-on = { header = \"x-user\" }`, `hash-on = { cookie = \"session\" }` or `hash-on = \"client-ip\"`",
        ));
        None
    };
    match raw.into_inner() {
        RawHashOn::Word(word) if word == "client-ip" => Some(HashOn::ClientIp),
        RawHashOn::Word(word) => bad(
            errors,
            format!("invalid `hash-on` value `{word}` in {what}"),
        ),
        RawHashOn::Table {
            header: Some(header),
            cookie: None,
        } => match HeaderName::from_bytes(header.as_bytes()) {
            Ok(name) => Some(HashOn::Header(name)),
            Err(_) => bad(
                errors,
                format!("invalid header name `{header}` in `hash-on` of {what}"),
            ),
        },
        RawHashOn::Table {
            header: None,
            cookie: Some(cookie),
        } if !cookie.is_empty() => Some(HashOn::Cookie(cookie)),
        RawHashOn::Table { .. } => bad(
            errors,
            format!("`hash-on` in {what} needs exactly one of `header` and `cookie`"),
        ),
    }
}
