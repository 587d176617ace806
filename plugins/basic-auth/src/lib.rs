//! `basic-auth`: HTTP Basic authentication (RFC 7617) against bcrypt or Argon2 password hashes.
//!
//! Hashes are parsed once at load time. Password hashing is slow on purpose, so a successful
//! verification is remembered in the instance (by SHA-256 of user and password, bounded) and
//! the next request with the same credentials skips the hash; instances are reused by default.
//! The consumer and its groups go into the request context (`consumer`, `consumer.groups`).

mod cache;
mod config;
mod hash;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};

pub use config::Config;

use cache::Cache;
use hash::PasswordHash;

/// The context key naming the authenticated consumer.
pub const CONSUMER_KEY: &str = "consumer";
/// The context key listing the consumer's groups, comma-separated.
pub const GROUPS_KEY: &str = "consumer.groups";

/// One user: the password hash and the groups (comma-separated, empty for none).
struct User {
    hash: PasswordHash,
    groups: String,
}

/// The plugin.
pub struct BasicAuth {
    config: Config,
    users: std::collections::BTreeMap<String, User>,
    /// Verified against when the user is unknown, so the answer takes as long as for a known one.
    decoy: PasswordHash,
    cache: std::cell::RefCell<Cache>,
}

/// Why credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Basic` header.
    Missing,
    /// The header is not base64 of `user:password` in UTF-8.
    Malformed,
    /// Unknown user or wrong password (not told apart).
    Invalid,
}

impl Plugin for BasicAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let (users, decoy) = config.validate()?;
        let cache = Cache::new(config.cache_size);
        Ok(Self {
            config,
            users,
            decoy,
            cache: std::cell::RefCell::new(cache),
        })
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let consumer = match self.authenticate(req.header("authorization").as_deref()) {
            Ok(consumer) => consumer,
            Err(refusal) => return Ok(Action::Respond(self.unauthorized(refusal))),
        };
        if self.config.hide_credentials {
            req.remove_header("authorization")?;
        }
        if !self.config.consumer_header.is_empty() {
            req.set_header(&self.config.consumer_header, consumer)?;
        }
        context::set(CONSUMER_KEY, consumer);
        let groups = &self.users[consumer].groups;
        if !groups.is_empty() {
            context::set(GROUPS_KEY, groups);
        }
        Ok(Action::Continue)
    }
}

impl BasicAuth {
    /// The consumer the `authorization` header proves, or why not.
    pub fn authenticate(&self, header: Option<&str>) -> Result<&str, Refusal> {
        let (user, password) = credentials(header.ok_or(Refusal::Missing)?)?;
        let Some((name, found)) = self.users.get_key_value(user.as_str()) else {
            let _ = self.decoy.verify(password.as_bytes());
            return Err(Refusal::Invalid);
        };
        let key = Cache::key(&user, &password);
        if self.cache.borrow().contains(&key) {
            return Ok(name);
        }
        if !found.hash.verify(password.as_bytes()) {
            return Err(Refusal::Invalid);
        }
        self.cache.borrow_mut().insert(key);
        Ok(name)
    }

    fn unauthorized(&self, refusal: Refusal) -> Reply {
        let message = match refusal {
            Refusal::Missing => "no Basic credentials in the request",
            Refusal::Malformed => {
                "the Basic credentials are malformed: expected base64 of `user:password` in UTF-8"
            }
            Refusal::Invalid => "the user name or password is wrong",
        };
        Reply::json(
            401,
            &serde_json::json!({ "error": "unauthorized", "message": message }),
        )
        .header(
            "www-authenticate",
            format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.config.realm),
        )
    }
}

/// User and password from an `authorization` header value.
pub fn credentials(header: &str) -> Result<(String, String), Refusal> {
    let (scheme, encoded) = header.trim().split_once(' ').ok_or(Refusal::Missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::Missing);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| Refusal::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| Refusal::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(Refusal::Malformed)?;
    Ok((user.to_owned(), password.to_owned()))
}

export_plugin!(BasicAuth);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
