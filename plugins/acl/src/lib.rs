//! `acl`: allows or denies a request by the consumer and groups that an authentication plugin
//! (key-auth, basic-auth, jwt-auth) wrote to the request context before it.
//!
//! The context keys are `consumer` (one name) and `consumer.groups` (names separated by `,`),
//! documented in docs/authentication.md. A refused request gets 403 and never reaches the
//! upstream.

use std::collections::BTreeSet;

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};
use serde::Deserialize;

/// The context key naming the authenticated consumer.
pub const CONSUMER_KEY: &str = "consumer";
/// The context key listing the consumer's groups, comma-separated.
pub const GROUPS_KEY: &str = "consumer.groups";

/// `acl`'s config (see docs/plugins/acl.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Consumers let through.
    #[serde(default)]
    pub allow_consumers: BTreeSet<String>,
    /// Groups let through.
    #[serde(default)]
    pub allow_groups: BTreeSet<String>,
    /// Consumers refused, whatever their groups.
    #[serde(default)]
    pub deny_consumers: BTreeSet<String>,
    /// Groups refused, whatever else allows them.
    #[serde(default)]
    pub deny_groups: BTreeSet<String>,
}

/// What `acl` decides for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it through.
    Allow,
    /// Refuse it, with the reason for the client.
    Deny(String),
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        if self.allow_consumers.is_empty()
            && self.allow_groups.is_empty()
            && self.deny_consumers.is_empty()
            && self.deny_groups.is_empty()
        {
            return Err(
                "no rule: give at least one of `allow-consumers`, `allow-groups`, \
                        `deny-consumers` and `deny-groups`"
                    .into(),
            );
        }
        for (field, names) in [
            ("allow-consumers", &self.allow_consumers),
            ("allow-groups", &self.allow_groups),
            ("deny-consumers", &self.deny_consumers),
            ("deny-groups", &self.deny_groups),
        ] {
            if let Some(bad) = names.iter().find(|n| n.trim().is_empty() || n.trim() != *n) {
                return Err(Error::new(format!(
                    "`{field}` has the name `{bad}`: names may not be empty or start or end with spaces"
                )));
            }
            if field.ends_with("groups")
                && let Some(bad) = names.iter().find(|n| n.contains(','))
            {
                return Err(Error::new(format!(
                    "`{field}` has the group `{bad}`: a group name cannot contain `,` (the context separates groups with it)"
                )));
            }
        }
        for (allow, deny, what) in [
            (&self.allow_consumers, &self.deny_consumers, "consumers"),
            (&self.allow_groups, &self.deny_groups, "groups"),
        ] {
            if let Some(both) = allow.intersection(deny).next() {
                return Err(Error::new(format!(
                    "`{both}` is in both `allow-{what}` and `deny-{what}`: keep it in one"
                )));
            }
        }
        Ok(())
    }

    /// The decision for `consumer` and `groups` (the context's values).
    pub fn decide(&self, consumer: Option<&str>, groups: Option<&str>) -> Decision {
        let consumer = consumer.filter(|c| !c.is_empty());
        let groups: Vec<&str> = groups
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        if consumer.is_none() && groups.is_empty() {
            return Decision::Deny(
                "no authenticated consumer: an authentication plugin must run before acl".into(),
            );
        }
        if let Some(consumer) = consumer.filter(|c| self.deny_consumers.contains(*c)) {
            return Decision::Deny(format!("consumer `{consumer}` is not allowed here"));
        }
        if let Some(group) = groups.iter().find(|g| self.deny_groups.contains(**g)) {
            return Decision::Deny(format!("group `{group}` is not allowed here"));
        }
        if self.allow_consumers.is_empty() && self.allow_groups.is_empty() {
            return Decision::Allow;
        }
        let allowed = consumer.is_some_and(|c| self.allow_consumers.contains(c))
            || groups.iter().any(|g| self.allow_groups.contains(*g));
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny(match consumer {
                Some(consumer) => format!("consumer `{consumer}` is not allowed here"),
                None => "none of the consumer's groups is allowed here".into(),
            })
        }
    }
}

/// The plugin.
pub struct Acl(Config);

impl Plugin for Acl {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self(config))
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, _req: &Request) -> Result<Action, Error> {
        let consumer = context::get(CONSUMER_KEY);
        let groups = context::get(GROUPS_KEY);
        Ok(
            match self.0.decide(consumer.as_deref(), groups.as_deref()) {
                Decision::Allow => Action::Continue,
                Decision::Deny(message) => Action::Respond(Reply::json(
                    403,
                    &serde_json::json!({ "error": "forbidden", "message": message }),
                )),
            },
        )
    }
}

export_plugin!(Acl);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
