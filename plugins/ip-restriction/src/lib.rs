//! `ip-restriction`: allow or deny clients by IP address, with IPv4 and IPv6 CIDR lists (deny
//! wins). Behind trusted proxies (a load balancer, a CDN), the client's address is taken from
//! `X-Forwarded-For`: the rightmost entry that is not itself a trusted proxy, so a client cannot
//! pick its address by sending the header itself.

mod cidr;

use std::net::{IpAddr, SocketAddr};

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};
use serde::Deserialize;

use cidr::{Cidr, any_contains};

/// `ip-restriction`'s config (see docs/plugins/ip-restriction.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Only these networks may pass (when not empty).
    #[serde(default)]
    pub allow: Vec<String>,
    /// These networks are refused, even when `allow` lists them too.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// The plugin, with every network parsed.
#[derive(Debug)]
pub struct IpRestriction {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    trusted: Vec<Cidr>,
}

/// Why a client address could not be worked out.
#[derive(Debug, PartialEq, Eq)]
enum Unresolved {
    /// The host gave a client address that does not parse (should not happen).
    Peer(String),
    /// An `X-Forwarded-For` entry that a trusted proxy would not have written.
    Forwarded(String),
}

impl Plugin for IpRestriction {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let parse = |key: &str, list: &[String]| -> Result<Vec<Cidr>, Error> {
            list.iter().map(|entry| Cidr::parse(key, entry)).collect()
        };
        let plugin = Self {
            allow: parse("allow", &config.allow)?,
            deny: parse("deny", &config.deny)?,
            trusted: parse("trusted-proxies", &config.trusted_proxies)?,
        };
        if plugin.allow.is_empty() && plugin.deny.is_empty() {
            return Err(
                "nothing to restrict: give `allow` (only these networks pass) and/or \
                 `deny` (these networks are refused), e.g. allow = [\"10.0.0.0/8\"]"
                    .into(),
            );
        }
        Ok(plugin)
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let forwarded = if self.trusted.is_empty() {
            Vec::new()
        } else {
            req.header_values("x-forwarded-for")
        };
        let client = match self.client_ip(&req.client_ip(), &forwarded) {
            Ok(client) => client,
            Err(Unresolved::Peer(peer)) => {
                return Err(Error::new(format!(
                    "the gateway gave a client address that is not an IP address: `{peer}`"
                )));
            }
            Err(Unresolved::Forwarded(entry)) => {
                return Ok(Action::Respond(Reply::json(
                    400,
                    &serde_json::json!({
                        "error": "bad_request",
                        "message": format!("X-Forwarded-For has an entry that is not an IP address: `{entry}`"),
                    }),
                )));
            }
        };
        if !self.trusted.is_empty() {
            context::set("client-ip", &client.to_string());
        }
        if self.allows(client) {
            Ok(Action::Continue)
        } else {
            Ok(Action::Respond(Reply::json(
                403,
                &serde_json::json!({
                    "error": "forbidden",
                    "message": "your IP address is not allowed",
                }),
            )))
        }
    }
}

impl IpRestriction {
    /// Whether `ip` may pass: not denied, and allowed when there is an allow list.
    fn allows(&self, ip: IpAddr) -> bool {
        !any_contains(&self.deny, ip) && (self.allow.is_empty() || any_contains(&self.allow, ip))
    }

    /// The client's address: the direct peer, or, when the peer is a trusted proxy, the
    /// rightmost `X-Forwarded-For` entry that is not a trusted proxy (the leftmost when all
    /// are). `forwarded` holds the header's values in order.
    fn client_ip(&self, peer: &str, forwarded: &[String]) -> Result<IpAddr, Unresolved> {
        let mut client = parse_ip(peer).ok_or_else(|| Unresolved::Peer(peer.to_owned()))?;
        if !any_contains(&self.trusted, client) {
            return Ok(client);
        }
        let entries = forwarded
            .iter()
            .rev()
            .flat_map(|value| value.rsplit(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for entry in entries {
            client = parse_ip(entry).ok_or_else(|| Unresolved::Forwarded(entry.to_owned()))?;
            if !any_contains(&self.trusted, client) {
                break;
            }
        }
        Ok(client)
    }
}

/// An address as written in `X-Forwarded-For`: `192.0.2.7`, `2001:db8::1`, and tolerated forms
/// some proxies write, `192.0.2.7:5000` and `[2001:db8::1]:5000`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

export_plugin!(IpRestriction);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
