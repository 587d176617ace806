//! The Redis backends of `[state]`: one server (`backend = "redis"`, `url`), a master found
//! through Sentinel (`backend = "redis-sentinel"`, `sentinels`, `master`) or a Cluster
//! (`backend = "redis-cluster"`, `nodes`), each optionally over TLS (`rediss://`, or a `tls`
//! table). Kept apart from `state.rs` because each kind has keys of its own, and a key given to
//! the wrong kind must be an error that names it and the kind that uses it.
//!
//! Why one backend name per kind (as APISIX's `policy = "redis-cluster"`) rather than one
//! `redis` with keys that switch the mode (Kong's `redis_sentinel_master`): the kind is what an
//! operator reads first, it decides which keys are required, and `check` and the logs can say
//! it in one word. Addresses are `host:port` lists, not URLs: a Sentinel or Cluster client
//! talks to many nodes, and TLS and credentials are the same for all of them.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::RawState;
use crate::config::base::Base;
use crate::config::diagnostic::Diagnostic;
use crate::config::spanned::Span;

/// `tls` of `[state]`: the CA to verify Redis with, and a client certificate for mTLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(in crate::config) struct RawTls {
    ca: Option<Spanned<String>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
}

/// Which Redis backend `backend` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Server,
    Sentinel,
    Cluster,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Server => "redis",
            Self::Sentinel => "redis-sentinel",
            Self::Cluster => "redis-cluster",
        }
    }
}

/// A Redis backend of `[state]` (see `docs/state.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// One server, a Sentinel-managed master, or a Cluster.
    pub topology: RedisTopology,
    /// Prefix of every key (default `portcullis`), so several clusters can share a server.
    pub prefix: String,
    /// TLS to every Redis node (and sentinel); `None`: plain TCP.
    pub tls: Option<RedisTls>,
}

/// Where the Redis data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTopology {
    /// `backend = "redis"`: `redis://` or `rediss://[user:password@]host:port[/db]`.
    Server {
        /// The URL as written (it may hold a password: never log it).
        url: String,
    },
    /// `backend = "redis-sentinel"`: the sentinels are asked for the master of `master`, and
    /// again after it fails.
    Sentinel {
        /// The sentinels, `host:port`.
        sentinels: Vec<String>,
        /// The name of the master set (`sentinel monitor <name> ...`).
        master: String,
        /// The database number on the master.
        db: i64,
        /// Credentials for the master (and its replicas).
        auth: RedisAuth,
        /// Credentials for the sentinels (`requirepass` in `sentinel.conf`).
        sentinel_auth: RedisAuth,
    },
    /// `backend = "redis-cluster"`: seed nodes; the client learns the slots from them and
    /// follows `MOVED` and `ASK`.
    Cluster {
        /// Seed nodes, `host:port`.
        nodes: Vec<String>,
        /// Credentials for every node.
        auth: RedisAuth,
    },
}

/// A user name and password (`AUTH`); the password is never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisAuth {
    /// The ACL user; `default` when absent.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
}

impl std::fmt::Debug for RedisAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// TLS to Redis: verified against `ca` or the system's roots, with an optional client
/// certificate. There is no mode that skips verification.
#[derive(Debug, Clone, Default, Eq)]
pub struct RedisTls {
    /// PEM CA certificates the servers' certificates must chain to; the system's roots when
    /// absent.
    pub ca: Option<PathBuf>,
    /// The client certificate chain and its key (PEM), for servers that require mTLS.
    pub client: Option<(PathBuf, PathBuf)>,
    /// Where `ca`, `cert` and `key` are written (or what turned TLS on), for errors.
    pub spans: TlsSpans,
}

/// Where a `tls` table's files are written in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSpans {
    /// `ca` (or the table, the URL).
    pub ca: Range<usize>,
    /// `cert`.
    pub cert: Range<usize>,
    /// `key`.
    pub key: Range<usize>,
}

/// Two tables naming the same files are the same TLS set-up wherever they are written (a
/// reload that only moves lines keeps the store).
impl PartialEq for RedisTls {
    fn eq(&self, other: &Self) -> bool {
        self.ca == other.ca && self.client == other.client
    }
}

impl RedisConfig {
    /// `redis 10.0.0.7:6379`, `redis-sentinel master=mymaster sentinels=10.0.0.1:26379,...`,
    /// `redis-cluster nodes=10.0.0.1:6379,...`; ` tls` when TLS is on. Never a password.
    pub fn label(&self) -> String {
        let mut label = match &self.topology {
            RedisTopology::Server { url } => format!("redis {}", address(url)),
            RedisTopology::Sentinel {
                sentinels, master, ..
            } => format!(
                "redis-sentinel master={master} sentinels={}",
                sentinels.join(",")
            ),
            RedisTopology::Cluster { nodes, .. } => {
                format!("redis-cluster nodes={}", nodes.join(","))
            }
        };
        if self.tls.is_some() {
            label.push_str(" tls");
        }
        label
    }
}

/// `host:port` of a Redis URL, without user or password.
pub(super) fn address(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit('@').next().unwrap_or(authority)
}

/// The keys of the Redis backends, each with the kinds that use it.
fn keys(raw: &RawState) -> [(&'static str, Option<Span>, &'static [Kind]); 9] {
    use Kind::{Cluster, Sentinel, Server};
    [
        ("url", raw.url.as_ref().map(Spanned::span), &[Server]),
        (
            "sentinels",
            raw.sentinels.as_ref().map(Spanned::span),
            &[Sentinel],
        ),
        (
            "master",
            raw.master.as_ref().map(Spanned::span),
            &[Sentinel],
        ),
        ("nodes", raw.nodes.as_ref().map(Spanned::span), &[Cluster]),
        (
            "sentinel-username",
            raw.sentinel_username.as_ref().map(Spanned::span),
            &[Sentinel],
        ),
        (
            "sentinel-password",
            raw.sentinel_password.as_ref().map(Spanned::span),
            &[Sentinel],
        ),
        ("db", raw.db.as_ref().map(Spanned::span), &[Sentinel]),
        (
            "username",
            raw.username.as_ref().map(Spanned::span),
            &[Sentinel, Cluster],
        ),
        (
            "password",
            raw.password.as_ref().map(Spanned::span),
            &[Sentinel, Cluster],
        ),
    ]
}

/// With `backend = "local"`: every Redis key is an error naming it.
pub(super) fn refuse_on_local(raw: &RawState, errors: &mut Vec<Diagnostic>) {
    let mut given: Vec<(&str, Span)> = keys(raw)
        .into_iter()
        .filter_map(|(key, span, _)| span.map(|s| (key, s)))
        .collect();
    given.extend(raw.prefix.as_ref().map(|p| ("prefix", p.span())));
    given.extend(raw.tls.as_ref().map(|t| ("tls", t.span())));
    given.sort_by_key(|(_, span)| span.start);
    for (key, span) in given {
        errors.push(Diagnostic::new(
            span,
            format!("`{key}` in `[state]` is only used by the redis backend"),
            "add `backend = \"redis\"`, or remove the key",
        ));
    }
}

/// Checks the keys of a Redis backend; `None` when a required key is missing (the errors are in
/// `errors`).
pub(super) fn config(
    kind: Kind,
    backend_span: Span,
    raw: &RawState,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<RedisConfig> {
    for (key, span, used_by) in keys(raw) {
        let Some(span) = span else { continue };
        if used_by.contains(&kind) {
            continue;
        }
        errors.push(misplaced(kind, key, span, used_by));
    }
    let prefix = prefix(raw, errors);
    let mut tls = raw.tls.as_ref().map(|t| tls_table(t, base, errors));
    let topology = match kind {
        Kind::Server => {
            let Some(url) = &raw.url else {
                errors.push(Diagnostic::new(
                    backend_span,
                    "the redis state backend needs a `url`",
                    "add `url = \"redis://127.0.0.1:6379\"` to `[state]` (`rediss://` for TLS)",
                ));
                return None;
            };
            let secure = url.get_ref().starts_with("rediss://");
            if let Err((problem, help)) = check_url(url.get_ref()) {
                errors.push(Diagnostic::new(
                    url.span(),
                    format!(
                        "invalid Redis URL `{}` in `[state]`: {problem}",
                        redacted(url.get_ref())
                    ),
                    help,
                ));
            }
            match (&raw.tls, secure) {
                (Some(table), false) => errors.push(Diagnostic::new(
                    table.span(),
                    "`tls` in `[state]` needs a `rediss://` URL: with `redis://` the connection is plain TCP",
                    "write `url = \"rediss://host:6380\"` to speak TLS to Redis, or remove `tls`",
                )),
                (None, true) => {
                    let span = url.span();
                    tls = Some(RedisTls {
                        spans: TlsSpans {
                            ca: span.clone(),
                            cert: span.clone(),
                            key: span,
                        },
                        ..RedisTls::default()
                    });
                }
                _ => {}
            }
            if !secure {
                tls = None;
            }
            RedisTopology::Server {
                url: url.get_ref().clone(),
            }
        }
        Kind::Sentinel => {
            let sentinels = addresses(
                raw.sentinels.as_ref(),
                "sentinels",
                &backend_span,
                "add the sentinels' addresses, e.g. `sentinels = [\"10.0.0.1:26379\", \"10.0.0.2:26379\", \"10.0.0.3:26379\"]`",
                errors,
            );
            let master = match &raw.master {
                Some(m) if valid_master(m.get_ref()) => Some(m.get_ref().clone()),
                Some(m) => {
                    errors.push(Diagnostic::new(
                        m.span(),
                        format!("invalid master name `{}` in `[state]`", m.get_ref()),
                        "write the name the sentinels monitor (`sentinel monitor <name> ...` in sentinel.conf), e.g. `master = \"mymaster\"`",
                    ));
                    None
                }
                None => {
                    errors.push(Diagnostic::new(
                        backend_span.clone(),
                        "the redis-sentinel state backend needs `master`, the name of the master set",
                        "add `master = \"mymaster\"`: the name in `sentinel monitor <name> ...` of sentinel.conf",
                    ));
                    None
                }
            };
            let db = match &raw.db {
                Some(db) if (0..=i64::from(i32::MAX)).contains(db.get_ref()) => *db.get_ref(),
                Some(db) => {
                    errors.push(Diagnostic::new(
                        db.span(),
                        format!(
                            "`db` in `[state]` must be a database number, not {}",
                            db.get_ref()
                        ),
                        "use 0 (the default) to 15 on a default Redis, e.g. `db = 0`",
                    ));
                    0
                }
                None => 0,
            };
            RedisTopology::Sentinel {
                sentinels: sentinels?,
                master: master?,
                db,
                auth: auth(&raw.username, &raw.password),
                sentinel_auth: auth(&raw.sentinel_username, &raw.sentinel_password),
            }
        }
        Kind::Cluster => {
            let nodes = addresses(
                raw.nodes.as_ref(),
                "nodes",
                &backend_span,
                "add some of the cluster's nodes (the client learns the others from them), e.g. `nodes = [\"10.0.0.1:6379\", \"10.0.0.2:6379\", \"10.0.0.3:6379\"]`",
                errors,
            );
            RedisTopology::Cluster {
                nodes: nodes?,
                auth: auth(&raw.username, &raw.password),
            }
        }
    };
    Some(RedisConfig {
        topology,
        prefix,
        tls,
    })
}

/// A key given to a kind of Redis backend that does not use it.
fn misplaced(kind: Kind, key: &str, span: Span, used_by: &[Kind]) -> Diagnostic {
    let message = format!(
        "`{key}` in `[state]` is not used by `backend = \"{}\"`",
        kind.name()
    );
    let help = match (kind, key) {
        (Kind::Server, "username" | "password" | "db") => {
            "the URL carries them: `url = \"redis://user:password@host:6379/2\"`".to_owned()
        }
        (Kind::Cluster, "db") => "Redis Cluster has only database 0: remove `db`".to_owned(),
        (_, "url") => format!(
            "`backend = \"{}\"` takes `{}`, not a URL; or use `backend = \"redis\"` for one server",
            kind.name(),
            if kind == Kind::Sentinel {
                "sentinels` and `master"
            } else {
                "nodes"
            }
        ),
        _ => {
            let users: Vec<String> = used_by
                .iter()
                .map(|k| format!("`backend = \"{}\"`", k.name()))
                .collect();
            format!("it is used by {}; remove it", users.join(" and "))
        }
    };
    Diagnostic::new(span, message, help)
}

fn prefix(raw: &RawState, errors: &mut Vec<Diagnostic>) -> String {
    match &raw.prefix {
        Some(prefix) if !valid_prefix(prefix.get_ref()) => {
            errors.push(Diagnostic::new(
                prefix.span(),
                format!("invalid key prefix `{}` in `[state]`", prefix.get_ref()),
                "use 1 to 64 letters, digits, `-`, `_`, `.` or `:`, e.g. `prefix = \"portcullis-eu\"`",
            ));
            String::new()
        }
        Some(prefix) => prefix.get_ref().clone(),
        None => "portcullis".to_owned(),
    }
}

fn auth(username: &Option<Spanned<String>>, password: &Option<Spanned<String>>) -> RedisAuth {
    RedisAuth {
        username: username.as_ref().map(|u| u.get_ref().clone()),
        password: password.as_ref().map(|p| p.get_ref().clone()),
    }
}

/// The `tls` table: paths resolved against the manifest; `cert` and `key` both or neither.
fn tls_table(table: &Spanned<RawTls>, base: Base<'_>, errors: &mut Vec<Diagnostic>) -> RedisTls {
    let span = table.span();
    let RawTls { ca, cert, key } = table.get_ref();
    let file = |f: &Spanned<String>, errors: &mut Vec<Diagnostic>| {
        (base.join(f.span(), f.get_ref(), errors), f.span())
    };
    let ca = ca.as_ref().map(|c| file(c, errors));
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((file(cert, errors), file(key, errors))),
        (Some(one), None) | (None, Some(one)) => {
            let (given, missing) = if cert.is_some() {
                ("cert", "key")
            } else {
                ("key", "cert")
            };
            errors.push(Diagnostic::new(
                one.span(),
                format!("`tls.{given}` in `[state]` needs `tls.{missing}`"),
                "give both the client certificate (`cert`) and its private key (`key`), or neither",
            ));
            None
        }
        (None, None) => None,
    };
    RedisTls {
        spans: TlsSpans {
            ca: ca.as_ref().map_or(span.clone(), |(_, s)| s.clone()),
            cert: client
                .as_ref()
                .map_or(span.clone(), |((_, s), _)| s.clone()),
            key: client.as_ref().map_or(span, |(_, (_, s))| s.clone()),
        },
        ca: ca.map(|(path, _)| path),
        client: client.map(|((cert, _), (key, _))| (cert, key)),
    }
}

/// A non-empty list of distinct `host:port`; `None` (errors pushed) otherwise.
fn addresses(
    list: Option<&Spanned<Vec<Spanned<String>>>>,
    key: &str,
    backend_span: &Span,
    help: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let Some(list) = list.filter(|l| !l.get_ref().is_empty()) else {
        let span = list.map_or(backend_span.clone(), Spanned::span);
        errors.push(Diagnostic::new(
            span,
            format!("the {} state backend needs `{key}`", backend_name(key)),
            help,
        ));
        return None;
    };
    let mut seen = Vec::new();
    let mut ok = true;
    for entry in list.get_ref() {
        let text = entry.get_ref();
        if let Err(problem) = check_address(text) {
            ok = false;
            errors.push(Diagnostic::new(
                entry.span(),
                format!("invalid address `{text}` in `{key}` of `[state]`: {problem}"),
                "write `host:port`, e.g. `\"10.0.0.1:6379\"` (TLS is the `tls` table, credentials are `username` and `password`)",
            ));
        } else if seen.contains(text) {
            ok = false;
            errors.push(Diagnostic::new(
                entry.span(),
                format!("`{text}` is listed twice in `{key}` of `[state]`"),
                "remove one",
            ));
        } else {
            seen.push(text.clone());
        }
    }
    ok.then_some(seen)
}

fn backend_name(key: &str) -> &'static str {
    if key == "nodes" {
        "redis-cluster"
    } else {
        "redis-sentinel"
    }
}

/// `host:port`: a host name or IP address (IPv6 in brackets) and a port from 1 to 65535.
fn check_address(text: &str) -> Result<(), &'static str> {
    if text.contains("://") {
        return Err("it is a URL");
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("it has no port");
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err("the port is not a number from 1 to 65535");
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let valid = match bare {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => crate::config::units::host_name(host).is_some(),
    };
    if valid {
        Ok(())
    } else {
        Err("the host is not a host name or an IP address")
    }
}

fn valid_master(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_graphic())
}

fn valid_prefix(prefix: &str) -> bool {
    (1..=64).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// The URL with its password replaced by `***`, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

const URL_HELP: &str = "write `redis://host:port`, or `rediss://host:port` for TLS, e.g. `url = \"redis://127.0.0.1:6379\"` (user, password and database number are optional: `redis://:secret@redis.internal:6379/2`)";

/// A light check of `redis[s]://[user[:password]@]host[:port][/db]`; the Redis client parses
/// it again when the gateway starts.
fn check_url(url: &str) -> Result<(), (&'static str, &'static str)> {
    let Some(rest) = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
    else {
        return Err(("it must start with `redis://` or `rediss://`", URL_HELP));
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    if !fragment.is_empty() {
        return Err((
            "a fragment such as `#insecure` is not accepted: certificates are always verified",
            "remove the fragment; for a private CA give its certificate in `tls = { ca = \"certs/redis-ca.pem\" }`",
        ));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(("it names no host", URL_HELP));
    }
    if let Some((host, port)) = host_port.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(("the port is not a number from 0 to 65535", URL_HELP));
    }
    let db = path.trim_start_matches('/');
    let db = db.split_once('?').map_or(db, |(db, _)| db);
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(("the database (after `/`) is not a number", URL_HELP));
    }
    Ok(())
}
