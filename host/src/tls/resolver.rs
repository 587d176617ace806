//! Chooses a listener's certificate by the SNI name of the ClientHello: an exact name, then a
//! one-label wildcard (`*.example.com` for `a.example.com`), then the default certificate.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Certificates by server name.
#[derive(Debug)]
pub(super) struct SniResolver {
    /// Names (lowercase, exact or `*.` wildcard) and the certificate each selects.
    by_name: Vec<(String, Arc<CertifiedKey>)>,
    /// For clients that send no name, or one that no certificate has.
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// `keys` in manifest order with their server names; `default` indexes `keys`.
    pub(super) fn new(keys: Vec<(Vec<String>, Arc<CertifiedKey>)>, default: usize) -> Self {
        let default = keys.get(default).map(|(_, key)| key.clone());
        let by_name = keys
            .into_iter()
            .flat_map(|(names, key)| names.into_iter().map(move |name| (name, key.clone())))
            .collect();
        Self { by_name, default }
    }

    /// The certificate for `name` (already lowercase, as rustls hands it).
    fn find(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = name.strip_suffix('.').unwrap_or(name);
        let exact = self.by_name.iter().find(|(n, _)| n == name);
        let wildcard = || {
            let (_, parent) = name.split_once('.')?;
            self.by_name
                .iter()
                .find(|(n, _)| n.strip_prefix("*.") == Some(parent))
        };
        exact.or_else(wildcard).map(|(_, key)| key)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.find(&name.to_ascii_lowercase()))
            .or(self.default.as_ref())
            .cloned()
    }
}
