//! The config of `basic-auth`, and the checks that run at load time: hashes are parsed here, once.

use std::collections::BTreeMap;

use portcullis_sdk::Error;
use serde::Deserialize;

use crate::User;
use crate::hash::PasswordHash;

/// The most bcrypt rounds accepted (2^14): each step doubles the CPU time of a verification.
pub(crate) const MAX_BCRYPT_COST: u32 = 14;
/// The most Argon2 memory accepted per verification, in KiB (256 MiB).
pub(crate) const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// The largest verification cache.
const MAX_CACHE_SIZE: usize = 100_000;

/// `basic-auth`'s config (see docs/plugins/basic-auth.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// User name to password hash (bcrypt or Argon2).
    pub consumers: BTreeMap<String, String>,
    /// Group name to its members.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Header carrying the consumer's name upstream; `""` for none.
    #[serde(default = "default_consumer_header")]
    pub consumer_header: String,
    /// Remove the `authorization` header before the upstream sees the request.
    #[serde(default = "yes")]
    pub hide_credentials: bool,
    /// The realm in the `WWW-Authenticate` challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// How many successful verifications an instance remembers; 0 for none.
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
}

fn default_consumer_header() -> String {
    "x-consumer".to_owned()
}

fn default_realm() -> String {
    "portcullis".to_owned()
}

fn default_cache_size() -> usize {
    1024
}

fn yes() -> bool {
    true
}

impl Config {
    /// Checks the config; returns the users and the decoy hash.
    pub(crate) fn validate(&self) -> Result<(BTreeMap<String, User>, PasswordHash), Error> {
        if self.consumers.is_empty() {
            return Err("`consumers` is empty: add at least one, e.g. consumers = { alice = \"$2b$10$...\" } \
                        (a bcrypt or Argon2 hash, from `htpasswd -nbB alice password` or `argon2`)"
                .into());
        }
        let mut users = BTreeMap::new();
        for (name, hash) in &self.consumers {
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
                return Err(Error::new(format!(
                    "consumer `{name}`: a user name may not be empty or contain `:` or control characters"
                )));
            }
            let parsed = PasswordHash::parse(hash)
                .map_err(|e| Error::new(format!("consumer `{name}`: the password hash {e}")))?;
            if let Some(cost) = parsed.bcrypt_cost().filter(|cost| *cost > MAX_BCRYPT_COST) {
                return Err(Error::new(format!(
                    "consumer `{name}`: bcrypt cost {cost} is too slow for a gateway (at most {MAX_BCRYPT_COST}; \
                     cost 10 takes about 0.1 s per verification)"
                )));
            }
            if let Some(kib) = parsed
                .argon2_memory_kib()
                .filter(|kib| *kib > MAX_ARGON2_MEMORY_KIB)
            {
                return Err(Error::new(format!(
                    "consumer `{name}`: Argon2 memory cost {kib} KiB is over the {MAX_ARGON2_MEMORY_KIB} KiB accepted"
                )));
            }
            users.insert(
                name.clone(),
                User {
                    hash: parsed,
                    groups: String::new(),
                },
            );
        }
        for (group, members) in &self.groups {
            if group.is_empty() || group.contains(',') || group.trim() != group {
                return Err(Error::new(format!(
                    "group `{group}`: a group name may not be empty, contain `,` or start or end with spaces"
                )));
            }
            for member in members {
                let user = users.get_mut(member).ok_or_else(|| {
                    Error::new(format!(
                        "group `{group}` names `{member}`, who is not in `consumers`"
                    ))
                })?;
                if !user.groups.split(',').any(|g| g == group) {
                    if !user.groups.is_empty() {
                        user.groups.push(',');
                    }
                    user.groups.push_str(group);
                }
            }
        }
        if !self.consumer_header.is_empty() && !is_token(&self.consumer_header) {
            return Err(Error::new(format!(
                "`consumer-header` `{}` is not a valid header name",
                self.consumer_header
            )));
        }
        if self.realm.contains(['"', '\\']) || self.realm.chars().any(char::is_control) {
            return Err("`realm` may not contain quotes, backslashes or control characters".into());
        }
        if self.cache_size > MAX_CACHE_SIZE {
            return Err(Error::new(format!(
                "`cache-size` is {}; at most {MAX_CACHE_SIZE}",
                self.cache_size
            )));
        }
        let decoy = users
            .values()
            .next()
            .map(|user| user.hash.clone())
            .ok_or("`consumers` is empty")?;
        Ok((users, decoy))
    }
}

/// Whether `name` is an HTTP token (a valid header name).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
