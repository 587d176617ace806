//! The config of `rate-limit`, and the checks that run at load time.

use std::time::Duration;

use portcullis_sdk::Error;
use portcullis_sdk::state::Algorithm;
use serde::Deserialize;

/// The most requests any one limit may allow (the gateway's own bound).
pub(crate) const MAX_LIMIT: u32 = 1_000_000;

/// `rate-limit`'s config (see docs/plugins/rate-limit.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Requests allowed per second.
    pub second: Option<u32>,
    /// Requests allowed per minute.
    pub minute: Option<u32>,
    /// Requests allowed per hour.
    pub hour: Option<u32>,
    /// Requests allowed per day.
    pub day: Option<u32>,
    /// What a client is: one or more of `consumer`, `ip`, `header`, `route`, combined.
    #[serde(default = "default_by")]
    pub by: Vec<By>,
    /// The header named by `by = ["header"]`.
    pub header: Option<String>,
    /// `sliding-window` (default) or `token-bucket`.
    #[serde(default)]
    pub algorithm: AlgorithmName,
    /// When the state backend cannot answer: `true` lets the request through (default),
    /// `false` answers 503.
    #[serde(default = "yes")]
    pub fault_tolerant: bool,
    /// Send the `RateLimit-*` header fields on every response (default true).
    #[serde(default = "yes")]
    pub headers: bool,
}

/// A part of the client's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum By {
    /// The `consumer` context key (set by key-auth); the client IP when absent.
    Consumer,
    /// The client's IP address.
    Ip,
    /// The value of `header`; the client IP when absent.
    Header,
    /// The matched route's id.
    Route,
}

/// The algorithm, as written in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmName {
    /// Current window plus the previous one, weighted by overlap.
    #[default]
    SlidingWindow,
    /// GCRA: bursts up to the limit, then a smooth rate.
    TokenBucket,
}

impl AlgorithmName {
    /// The state interface's algorithm.
    pub fn algorithm(self) -> Algorithm {
        match self {
            AlgorithmName::SlidingWindow => Algorithm::SlidingWindow,
            AlgorithmName::TokenBucket => Algorithm::TokenBucket,
        }
    }
}

/// One limit: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed.
    pub count: u32,
    /// The period.
    pub period: Duration,
}

fn default_by() -> Vec<By> {
    vec![By::Ip]
}

fn yes() -> bool {
    true
}

impl Config {
    /// Checks the config and returns its limits, shortest period first.
    pub fn validate(&self) -> Result<Vec<Limit>, Error> {
        let mut limits = Vec::new();
        for (name, count, seconds) in [
            ("second", self.second, 1),
            ("minute", self.minute, 60),
            ("hour", self.hour, 3600),
            ("day", self.day, 86_400),
        ] {
            let Some(count) = count else { continue };
            if count == 0 || count > MAX_LIMIT {
                return Err(Error::new(format!(
                    "`{name}` is {count}; a limit must be from 1 to {MAX_LIMIT}"
                )));
            }
            limits.push(Limit {
                count,
                period: Duration::from_secs(seconds),
            });
        }
        if limits.is_empty() {
            return Err(
                "no limit is set: give at least one of `second`, `minute`, `hour` or `day`, e.g. minute = 100"
                    .into(),
            );
        }
        if self.by.is_empty() {
            return Err(
                "`by` is empty: give at least one of \"consumer\", \"ip\", \"header\", \"route\""
                    .into(),
            );
        }
        for (i, by) in self.by.iter().enumerate() {
            if self.by[..i].contains(by) {
                return Err(Error::new(
                    format!("`by` names {by:?} twice").to_lowercase(),
                ));
            }
        }
        match (&self.header, self.by.contains(&By::Header)) {
            (None, true) => {
                return Err(
                    "`by` includes \"header\" but `header` is not set: name it, e.g. header = \"x-tenant\""
                        .into(),
                );
            }
            (Some(_), false) => {
                return Err(
                    "`header` is set but `by` does not include \"header\": add it, e.g. by = [\"header\"]"
                        .into(),
                );
            }
            (Some(name), true) if !is_token(name) => {
                return Err(Error::new(format!(
                    "`header` `{name}` is not a valid header name"
                )));
            }
            _ => {}
        }
        Ok(limits)
    }
}

/// Whether `name` is an HTTP token (a valid header name).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
