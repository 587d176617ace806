//! The `[admin]` table: where the admin API listens, its token and the host names it answers
//! to. The raw table as written, the validated [`Admin`], and its check, which refuses an admin
//! API open to the network without a token.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::spanned::Span;
use super::units::host_name;

/// The `[admin]` table: the admin API's listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawAdmin {
    pub(super) address: Option<Spanned<String>>,
    pub(super) token: Option<Spanned<String>>,
    pub(super) hosts: Option<Vec<Spanned<String>>>,
}

/// The `[admin]` table (see `docs/admin.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `address`: where the admin API listens (default `127.0.0.1:9901`).
    pub address: SocketAddr,
    /// `token`: when set, every admin request needs `Authorization: Bearer <token>`. Required
    /// when `address` is not a loopback address.
    pub token: Option<String>,
    /// `hosts`: names the admin API may be reached by (lowercase), besides `localhost`, loopback
    /// addresses and its own address; checked against `Host` when there is no token.
    pub hosts: Vec<String>,
}

/// The admin API's listener: loopback by default; anywhere else only with a token.
pub(super) fn admin(span: Span, raw: RawAdmin, errors: &mut Vec<Diagnostic>) -> Option<Admin> {
    let address = match &raw.address {
        None => SocketAddr::from(([127, 0, 0, 1], 9901)),
        Some(address) => match address.get_ref().parse::<SocketAddr>() {
            Ok(parsed) => parsed,
            Err(_) => {
                errors.push(Diagnostic::new(
                    address.span(),
                    format!("invalid admin address `{}`", address.get_ref()),
                    "write an IP address and a port, e.g. \"127.0.0.1:9901\"",
                ));
                return None;
            }
        },
    };
    let token = match raw.token {
        Some(token) if token.get_ref().len() < 16 => {
            errors.push(Diagnostic::new(
                token.span(),
                "the admin token is shorter than 16 characters",
                "use a long random token, e.g. the output of `openssl rand -hex 32`",
            ));
            return None;
        }
        Some(token) => Some(token.into_inner()),
        None => None,
    };
    if token.is_none() && !address.ip().is_loopback() {
        errors.push(Diagnostic::new(
            raw.address.as_ref().map_or(span, Spanned::span),
            format!("the admin API on {address} would be open to the network"),
            "bind it to a loopback address (\"127.0.0.1:9901\"), or set `token` so that requests need `Authorization: Bearer <token>`",
        ));
        return None;
    }
    let mut hosts = Vec::new();
    for host in raw.hosts.unwrap_or_default() {
        match host_name(host.get_ref()) {
            Some(name) => hosts.push(name),
            None => {
                errors.push(Diagnostic::new(
                    host.span(),
                    format!("invalid admin host `{}`", host.get_ref()),
                    "write a DNS name or an IP address without port, e.g. \"admin.internal\"",
                ));
                return None;
            }
        }
    }
    Some(Admin {
        address,
        token,
        hosts,
    })
}
