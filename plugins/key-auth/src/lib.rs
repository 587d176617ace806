//! `key-auth`: API keys per named consumer, from a header or a query parameter.
//!
//! A request without a valid key gets 401 with a `WWW-Authenticate` challenge and never reaches
//! the upstream. With a valid key, the consumer's name goes into the request context
//! (`consumer`, read by later plugins and the access log) and, by default, into a header for the
//! upstream; the key itself is removed so the upstream never sees it. The consumer's groups, if
//! `groups` names any, go into the context as `consumer.groups` (docs/authentication.md).

mod config;

use portcullis_sdk::query;
use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};

pub use config::Config;

/// The plugin, built from a validated config.
pub struct KeyAuth {
    config: Config,
    /// (key, consumer), for lookup.
    keys: Vec<(String, String)>,
    /// Consumer to its groups, comma-separated.
    groups: std::collections::BTreeMap<String, String>,
}

impl Plugin for KeyAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let keys = config.validate()?;
        let groups = config.groups_by_consumer()?;
        Ok(Self {
            config,
            keys,
            groups,
        })
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let Some(key) = self.find_key(req) else {
            return Ok(Action::Respond(
                self.unauthorized(None, "no API key found in the request"),
            ));
        };
        let Some(consumer) = self.consumer_of(&key) else {
            return Ok(Action::Respond(
                self.unauthorized(Some("invalid_key"), "the API key is not valid"),
            ));
        };
        if self.config.hide_credentials {
            self.hide_credentials(req)?;
        }
        context::set("consumer", consumer);
        if let Some(groups) = self.groups.get(consumer) {
            context::set("consumer.groups", groups);
        }
        if let Some(header) = self
            .config
            .consumer_header
            .as_deref()
            .filter(|h| !h.is_empty())
        {
            req.set_header(header, consumer)?;
        }
        Ok(Action::Continue)
    }
}

impl KeyAuth {
    /// The first key found: headers first, then the query string.
    fn find_key(&self, req: &Request) -> Option<String> {
        for name in &self.config.key_names {
            if self.config.in_header
                && let Some(key) = req.header(name).filter(|k| !k.is_empty())
            {
                return Some(key);
            }
        }
        if self.config.in_query {
            let query = req.query()?;
            for name in &self.config.key_names {
                if let Some(key) = query::get(&query, name).filter(|k| !k.is_empty()) {
                    return Some(key);
                }
            }
        }
        None
    }

    /// Removes every place a key may come in, not only the one it was found in: a second key
    /// sent alongside must not reach the upstream either.
    fn hide_credentials(&self, req: &Request) -> Result<(), Error> {
        for name in &self.config.key_names {
            if self.config.in_header {
                req.remove_header(name)?;
            }
        }
        if self.config.in_query
            && let Some(query) = req.query()
        {
            let rest = self
                .config
                .key_names
                .iter()
                .fold(query.clone(), |q, name| query::without(&q, name));
            if rest != query {
                req.set_query(if rest.is_empty() { None } else { Some(&rest) })?;
            }
        }
        Ok(())
    }

    /// The consumer owning `key`. Every key is compared, in constant time, so the answer's
    /// timing says nothing about which key came close.
    fn consumer_of(&self, key: &str) -> Option<&str> {
        let mut owner = None;
        for (candidate, consumer) in &self.keys {
            if constant_time_eq(candidate.as_bytes(), key.as_bytes()) {
                owner = Some(consumer.as_str());
            }
        }
        owner
    }

    fn unauthorized(&self, error: Option<&str>, message: &str) -> Reply {
        let challenge = match error {
            Some(error) => format!("Key realm=\"{}\", error=\"{error}\"", self.config.realm),
            None => format!("Key realm=\"{}\"", self.config.realm),
        };
        Reply::json(
            401,
            &serde_json::json!({ "error": "unauthorized", "message": message }),
        )
        .header("www-authenticate", challenge)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

export_plugin!(KeyAuth);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
