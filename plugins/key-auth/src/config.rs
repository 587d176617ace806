//! The config of `key-auth`, and the checks that run at load time.

use std::collections::BTreeMap;

use portcullis_sdk::Error;
use serde::Deserialize;

/// `key-auth`'s config (see docs/plugins/key-auth.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Consumer name to its keys.
    pub consumers: BTreeMap<String, Vec<String>>,
    /// Group name to its members (consumer names), for `consumer.groups` in the context.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Header and query parameter names the key may come in.
    #[serde(default = "default_key_names")]
    pub key_names: Vec<String>,
    /// Look for the key in headers.
    #[serde(default = "yes")]
    pub in_header: bool,
    /// Look for the key in the query string.
    #[serde(default = "yes")]
    pub in_query: bool,
    /// Remove the key before the upstream sees the request.
    #[serde(default = "yes")]
    pub hide_credentials: bool,
    /// Header that carries the consumer's name upstream; empty for none.
    #[serde(default = "default_consumer_header")]
    pub consumer_header: Option<String>,
    /// The realm in the `WWW-Authenticate` challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
}

fn default_key_names() -> Vec<String> {
    vec!["apikey".to_owned()]
}

fn default_consumer_header() -> Option<String> {
    Some("x-consumer".to_owned())
}

fn default_realm() -> String {
    "portcullis".to_owned()
}

fn yes() -> bool {
    true
}

impl Config {
    /// Checks the config and returns (key, consumer) pairs.
    pub fn validate(&self) -> Result<Vec<(String, String)>, Error> {
        if self.consumers.is_empty() {
            return Err("`consumers` is empty: add at least one, e.g. consumers = { alice = [\"a-long-random-key\"] }".into());
        }
        if !self.in_header && !self.in_query {
            return Err(
                "`in-header` and `in-query` are both false: the key could never be found".into(),
            );
        }
        if self.key_names.is_empty() {
            return Err("`key-names` is empty: give at least one header or query parameter name, e.g. [\"apikey\"]".into());
        }
        for name in &self.key_names {
            if !is_token(name) {
                return Err(Error::new(format!(
                    "`key-names` entry `{name}` is not a valid header name"
                )));
            }
        }
        if let Some(header) = self.consumer_header.as_deref().filter(|h| !h.is_empty())
            && !is_token(header)
        {
            return Err(Error::new(format!(
                "`consumer-header` `{header}` is not a valid header name"
            )));
        }
        if self.realm.contains(['"', '\\']) || self.realm.chars().any(char::is_control) {
            return Err("`realm` may not contain quotes, backslashes or control characters".into());
        }
        // A BTreeMap, not a HashMap: its random seed would make the component import
        // `wasi:random` for nothing.
        let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
        let mut keys = Vec::new();
        for (consumer, consumer_keys) in &self.consumers {
            if consumer_keys.is_empty() {
                return Err(Error::new(format!(
                    "consumer `{consumer}` has no key: give it one, e.g. {consumer} = [\"a-long-random-key\"], \
                     or remove it"
                )));
            }
            for key in consumer_keys {
                if key.is_empty() || key.chars().any(char::is_control) {
                    return Err(Error::new(format!(
                        "consumer `{consumer}` has an empty key or one with control characters: \
                         a key must be sendable as a header value"
                    )));
                }
                if let Some(other) = owners.insert(key, consumer) {
                    return Err(Error::new(format!(
                        "consumers `{other}` and `{consumer}` share a key: every key must identify one consumer"
                    )));
                }
                keys.push((key.clone(), consumer.clone()));
            }
        }
        Ok(keys)
    }

    /// Checks `groups` and returns each consumer's groups, joined with `,` (consumers without a
    /// group are left out).
    pub fn groups_by_consumer(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut by_consumer: BTreeMap<String, String> = BTreeMap::new();
        for (group, members) in &self.groups {
            if group.is_empty() || group.contains(',') || group.trim() != group {
                return Err(Error::new(format!(
                    "group `{group}`: a group name may not be empty, contain `,` or start or end with spaces"
                )));
            }
            for member in members {
                if !self.consumers.contains_key(member) {
                    return Err(Error::new(format!(
                        "group `{group}` names `{member}`, who is not in `consumers`"
                    )));
                }
                let groups = by_consumer.entry(member.clone()).or_default();
                if !groups.split(',').any(|g| g == group) {
                    if !groups.is_empty() {
                        groups.push(',');
                    }
                    groups.push_str(group);
                }
            }
        }
        Ok(by_consumer)
    }
}

/// Whether `name` is an HTTP token (a valid header name).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
