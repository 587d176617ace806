//! Where the manifest comes from: a file on the gateway's disk (the default, watched for
//! changes), or a key in etcd that every gateway of a fleet watches (`docs/fleet.md`).
//!
//! This file only names the source: it parses `--config` (`etcd://HOST:PORT[,HOST:PORT]/PREFIX`
//! or a path) and holds the connection settings. Reading and watching etcd is
//! `reload::etcd`; the cache of the last good manifest is `reload::cache`.

use std::path::PathBuf;

/// Where a gateway reads its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A manifest file; relative paths in it are relative to its directory.
    File(PathBuf),
    /// A key in etcd.
    Etcd(EtcdSource),
}

/// The manifest in etcd: where the cluster is, the prefix the manifest's key is under, and how
/// to authenticate. Its `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdSource {
    /// `HOST:PORT` of each member, as given.
    pub endpoints: Vec<String>,
    /// The prefix, with one leading `/` and no trailing one: `/portcullis`.
    pub prefix: String,
    /// TLS to etcd, when its members serve it.
    pub tls: Option<EtcdTls>,
    /// A user of etcd's authentication, and its password.
    pub user: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSource")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("tls", &self.tls)
            .field(
                "user",
                &self.user.as_ref().map(|(user, _)| (user, "<hidden>")),
            )
            .finish()
    }
}

/// TLS settings for etcd: the CA that signed its members' certificates, and the gateway's
/// client certificate when etcd asks for one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcdTls {
    /// PEM file of the CA; the system's roots are not used.
    pub ca: Option<PathBuf>,
    /// PEM file of the client certificate (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key: Option<PathBuf>,
}

/// The name of the manifest's key under the prefix.
pub const MANIFEST_KEY: &str = "manifest";

/// Why `--config` does not name a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{given}` is not an etcd URL: {reason}\n  = help: write etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/portcullis (several members: etcd://10.0.0.1:2379,10.0.0.2:2379/portcullis)"
)]
pub struct SourceError {
    given: String,
    reason: &'static str,
}

impl ConfigSource {
    /// `etcd://...` as etcd, anything else as a file path.
    pub fn parse(given: &str) -> Result<Self, SourceError> {
        if given.starts_with("etcd://") {
            EtcdSource::parse(given).map(Self::Etcd)
        } else {
            Ok(Self::File(PathBuf::from(given)))
        }
    }

    /// How the source is named in messages and in `GET /status`: the path, or the etcd URL.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Etcd(etcd) => etcd.url(),
        }
    }
}

impl EtcdSource {
    /// Parses `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`, without TLS or a user (flags add them).
    pub fn parse(given: &str) -> Result<Self, SourceError> {
        let error = |reason| SourceError {
            given: given.to_owned(),
            reason,
        };
        let rest = given
            .strip_prefix("etcd://")
            .ok_or_else(|| error("it does not start with `etcd://`"))?;
        let (hosts, prefix) = rest
            .split_once('/')
            .ok_or_else(|| error("it has no prefix after the members (`/portcullis`)"))?;
        if hosts.contains('@') {
            return Err(error(
                "a user in the URL would show in process lists; use --etcd-user and PORTCULLIS_ETCD_PASSWORD",
            ));
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            endpoints.push(endpoint(host).map_err(error)?);
        }
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err(error(
                "the prefix is empty; name one, so that other data in etcd stays apart",
            ));
        }
        if prefix.contains(['?', '#']) {
            return Err(error("a prefix has no query or fragment"));
        }
        Ok(Self {
            endpoints,
            prefix: format!("/{prefix}"),
            tls: None,
            user: None,
        })
    }

    /// The key holding the manifest: `<prefix>/manifest`.
    pub fn manifest_key(&self) -> String {
        format!("{}/{MANIFEST_KEY}", self.prefix)
    }

    /// How errors in the manifest name it: `etcd:/portcullis/manifest`, followed by the line
    /// and column (`etcd:/portcullis/manifest:12:5`).
    pub fn manifest_name(&self) -> String {
        format!("etcd:{}", self.manifest_key())
    }

    /// The URL as given, normalized: `etcd://HOST:PORT,HOST:PORT/prefix`.
    pub fn url(&self) -> String {
        format!("etcd://{}{}", self.endpoints.join(","), self.prefix)
    }

    /// The endpoints as the client wants them: `http://` or, with TLS, `https://`.
    pub fn client_endpoints(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect()
    }
}

/// One `HOST:PORT`, checked: a port is required (etcd has no port by convention worth
/// guessing between 2379 and a proxy's).
fn endpoint(host: &str) -> Result<String, &'static str> {
    let (name, port) = host
        .rsplit_once(':')
        .ok_or("each member needs a port, e.g. `127.0.0.1:2379`")?;
    if name.is_empty() || name.contains(['/', ' ']) {
        return Err("a member's host is empty or malformed");
    }
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err("a member's port is not a number from 1 to 65535");
    }
    Ok(host.to_owned())
}

#[cfg(test)]
mod tests;
