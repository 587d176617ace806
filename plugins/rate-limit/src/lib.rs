//! `rate-limit`: at most N requests per second, minute, hour or day for each client, where a
//! client is its consumer, IP address, a header's value, the route, or a combination.
//!
//! The counting happens in the gateway's shared state (`state::rate_limit`, one atomic step), so
//! the limit holds across every instance of the plugin and, with the Redis backend, across every
//! gateway sharing the server. Every response carries `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` and `RateLimit-Policy`; a refused request gets 429 with `Retry-After`. The
//! fields are known once the request is counted, so `on_request` hands them to the gateway for
//! the response (contract 0.1.3) and the plugin has no `on_response` call at all.

mod config;
mod headers;

use portcullis_sdk::state::{self, StateError};
use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};

pub use config::{By, Config, Limit};
use headers::{Fields, Outcome};

/// The context key (shown in the access log) saying why a request was refused or let through
/// unlimited; not set for requests within their limits.
const CONTEXT_KEY: &str = "rate-limit";

/// The longest header value or consumer name used as a key; longer ones are refused with 400.
const MAX_KEY_PART: usize = 256;

/// The plugin, built from a validated config.
pub struct RateLimit {
    config: Config,
    limits: Vec<Limit>,
    /// `RateLimit-Policy`, made once.
    policy: String,
}

impl Plugin for RateLimit {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let limits = config.validate()?;
        let policy = headers::policy(&limits);
        Ok(Self {
            config,
            limits,
            policy,
        })
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let client = match self.client_key(req) {
            Ok(client) => client,
            Err(message) => {
                return Ok(Action::Respond(error_reply(
                    req,
                    400,
                    "bad_request",
                    &message,
                )));
            }
        };
        let algorithm = self.config.algorithm.algorithm();
        let mut outcomes = Vec::with_capacity(self.limits.len());
        for limit in &self.limits {
            let mut seconds = itoa::Buffer::new();
            let key = [client.as_str(), "/", seconds.format(limit.period.as_secs())].concat();
            match state::rate_limit(&key, algorithm, limit.count, limit.period, 1) {
                Ok(decision) => outcomes.push(Outcome {
                    limit: *limit,
                    decision,
                }),
                Err(StateError::Unavailable(_)) if self.config.fault_tolerant => {
                    // The gateway logs the outage (rate-limited); the access log shows each
                    // request let through unlimited, without made-up headers.
                    context::set(CONTEXT_KEY, "unavailable-admitted");
                    return Ok(Action::Continue);
                }
                Err(StateError::Unavailable(_)) => {
                    context::set(CONTEXT_KEY, "unavailable-refused");
                    let reply = error_reply(
                        req,
                        503,
                        "rate_limit_unavailable",
                        "the rate limit cannot be checked right now; try again shortly",
                    )
                    .header("retry-after", "1");
                    return Ok(Action::Respond(reply));
                }
                Err(error) => return Err(error.into()),
            }
        }
        let fields = if self.config.headers {
            headers::fields(&outcomes, &self.policy)
        } else {
            Fields::retry_after_only(&outcomes)
        };
        if let Some(refused) = outcomes.iter().find(|o| !o.decision.allowed) {
            context::set(CONTEXT_KEY, "refused");
            let message = format!("rate limit exceeded: {}", headers::describe(refused.limit));
            let mut reply = error_reply(req, 429, "too_many_requests", &message);
            for (name, value) in fields.to_vec() {
                reply = reply.header(name, value);
            }
            return Ok(Action::Respond(reply));
        }
        if self.config.headers {
            fields.try_each(|name, value| req.set_response_header(name, value))?;
        }
        Ok(Action::Continue)
    }
}

impl RateLimit {
    /// The client's identity: each part of `by`, tagged and length-prefixed so that no value
    /// can pose as another combination.
    fn client_key(&self, req: &Request) -> Result<String, String> {
        let mut key = String::new();
        for by in &self.config.by {
            let (tag, value) = match by {
                By::Consumer => match context::get("consumer") {
                    Some(consumer) => ("c", consumer),
                    None => ("i", req.client_ip()),
                },
                By::Ip => ("i", req.client_ip()),
                By::Route => ("r", req.route()),
                By::Header => {
                    let name = self.config.header.as_deref().unwrap_or_default();
                    match req.header(name) {
                        Some(value) if value.len() > MAX_KEY_PART => {
                            return Err(format!(
                                "the `{name}` header is longer than {MAX_KEY_PART} bytes"
                            ));
                        }
                        Some(value) => ("h", value),
                        None => ("i", req.client_ip()),
                    }
                }
            };
            if value.len() > MAX_KEY_PART {
                return Err(format!(
                    "the client's {tag} key is longer than {MAX_KEY_PART} bytes"
                ));
            }
            key.push_str(tag);
            key.push_str(itoa::Buffer::new().format(value.len()));
            key.push(':');
            key.push_str(&value);
            key.push(';');
        }
        Ok(key)
    }
}

/// A JSON error like the gateway's own: `{"error", "message", "request_id"}`.
fn error_reply(req: &Request, status: u16, error: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &serde_json::json!({ "error": error, "message": message, "request_id": req.id() }),
    )
}

export_plugin!(RateLimit);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
