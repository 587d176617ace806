//! Downstream TLS: a rustls `ServerConfig` per listener, built from the manifest's PEM files.
//! Certificates are chosen by SNI (`resolver`), ALPN offers `h2` and `http/1.1`, only TLS 1.2
//! and 1.3 are spoken, and client certificates are verified against a CA when the listener asks
//! (`client-auth`). The verified client identity is handed to plugins (`identity`); plain
//! listeners may redirect to HTTPS (`redirect`).
//!
//! # TLS (`docs/tls.md`)
//!
#![doc = include_str!("../../docs/tls.md")]

pub mod client;
pub mod identity;
mod resolver;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ClientAuthMode, Diagnostic, Listener, ListenerTls};

pub use identity::ClientIdentity;
pub use tokio_rustls::TlsAcceptor;

/// The ALPN protocols offered, preferred first.
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The crypto provider: `ring`, with TLS 1.2 and 1.3 only.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS acceptor of `listener`, `None` for a plain listener. Unreadable or invalid files are
/// errors pointing at their entry in the manifest, naming the file and the listener.
pub fn acceptor(listener: &Listener) -> Result<Option<TlsAcceptor>, Vec<Diagnostic>> {
    let Some(tls) = &listener.tls else {
        return Ok(None);
    };
    server_config(&listener.name, tls).map(|config| Some(TlsAcceptor::from(Arc::new(config))))
}

/// Builds the rustls configuration of a listener's `tls` table.
pub fn server_config(listener: &str, tls: &ListenerTls) -> Result<ServerConfig, Vec<Diagnostic>> {
    let provider = provider();
    let mut errors = Vec::new();
    let mut keys = Vec::new();
    for spec in &tls.certificates {
        match certified_key(listener, &provider, spec) {
            Ok(key) => keys.push((spec.server_names.clone(), Arc::new(key))),
            Err(error) => errors.push(error),
        }
    }
    let verifier = match &tls.client_auth {
        None => None,
        Some(auth) => match client_verifier(listener, &provider, auth) {
            Ok(verifier) => Some(verifier),
            Err(error) => {
                errors.push(error);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let resolver = resolver::SniResolver::new(keys, tls.default);
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| {
            vec![Diagnostic {
                message: format!("listener `{listener}`: TLS cannot be set up: {e}"),
                span: None,
                help: None,
            }]
        })?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Reads one `certificates` entry: the chain, the key, and checks that they belong together.
fn certified_key(
    listener: &str,
    provider: &CryptoProvider,
    spec: &crate::config::CertificateSpec,
) -> Result<CertifiedKey, Diagnostic> {
    let what = format!("listener `{listener}`");
    let (chain, key) = read_identity(&what, "certificate", spec)?;
    let key = provider.key_provider.load_private_key(key).map_err(|e| {
        key_error(
            spec,
            format!(
                "{what}: key file `{}` cannot be used: {e}",
                spec.key.display()
            ),
        )
    })?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(e) => Err(key_error(
            spec,
            format!(
                "{what}: key file `{}` does not match certificate `{}`: {e}",
                spec.key.display(),
                spec.cert.display()
            ),
        )),
    }
}

/// Reads a `cert` and `key` pair from PEM files: the chain, leaf first, and the private key.
/// `what` names their owner (``listener `public` ``), `certificate` what the chain is; each
/// error points at the entry of the file at fault.
fn read_identity(
    what: &str,
    certificate: &str,
    spec: &crate::config::CertificateSpec,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Diagnostic> {
    let chain = read_certificates(&spec.cert).map_err(|e| {
        Diagnostic::new(
            spec.cert_span.clone(),
            format!("{what}: {certificate} {e}"),
            format!(
                "give a PEM file with the {certificate} chain, leaf first (`-----BEGIN CERTIFICATE-----`)"
            ),
        )
    })?;
    let bytes = read(&spec.key).map_err(|e| key_error(spec, format!("{what}: key {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        key_error(
            spec,
            format!(
                "{what}: key file `{}` holds no usable private key: {e}",
                spec.key.display()
            ),
        )
    })?;
    Ok((chain, key))
}

/// An error about the `key` of a `cert` and `key` pair.
fn key_error(spec: &crate::config::CertificateSpec, message: String) -> Diagnostic {
    Diagnostic::new(
        spec.key_span.clone(),
        message,
        "give a PEM file with the private key (`-----BEGIN PRIVATE KEY-----`, RSA or EC)",
    )
}

/// The verifier of client certificates, chaining to the CA certificates of `auth.ca`; an error
/// points at `ca`.
fn client_verifier(
    listener: &str,
    provider: &Arc<CryptoProvider>,
    auth: &crate::config::ClientAuth,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Diagnostic> {
    let ca_error = |message: String| {
        Diagnostic::new(
            auth.ca_span.clone(),
            message,
            "give a PEM file holding the CA certificate(s) that issue client certificates",
        )
    };
    let roots = read_roots(&auth.ca)
        .map_err(|e| ca_error(format!("listener `{listener}`: client CA {e}")))?;
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = match auth.mode {
        ClientAuthMode::Required => builder,
        ClientAuthMode::Optional => builder.allow_unauthenticated(),
    };
    builder.build().map_err(|e| {
        ca_error(format!(
            "listener `{listener}`: client CA file `{}` cannot verify clients: {e}",
            auth.ca.display()
        ))
    })
}

/// Why a PEM file cannot be used. Its text follows the label of what the file is for
/// (``listener `public`: client CA``, ``upstream `orders`: CA``, ``...: key``).
#[derive(Debug, thiserror::Error)]
enum PemError {
    /// The file cannot be read.
    #[error("file `{}` cannot be read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not PEM.
    #[error("file `{}` is not valid PEM: {source}", path.display())]
    NotPem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    /// The file is PEM but holds no certificate.
    #[error("file `{}` holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    /// A certificate cannot be a trust anchor.
    #[error("file `{}` holds an unusable certificate: {source}", path.display())]
    UnusableCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
}

/// The trust anchors in the PEM file at `path`.
fn read_roots(path: &Path) -> Result<RootCertStore, PemError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|source| PemError::UnusableCertificate {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(roots)
}

/// The certificates of a PEM file, at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read(path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PemError::NotPem {
            path: path.to_owned(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(PemError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Unreadable {
        path: path.to_owned(),
        source,
    })
}
