//! Upstream TLS: the rustls `ClientConfig` of an upstream with a `tls` table. Targets are
//! verified against the `ca` file or the system's roots, the client certificate is offered when
//! one is given, and ALPN offers what the upstream's `protocol` allows.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use super::{key_error, provider, read_identity, read_roots};
use crate::config::{Diagnostic, UpstreamProtocol, UpstreamTls};

/// Builds the client configuration of upstream `name`. Unreadable or invalid files are errors
/// pointing at their entry in the manifest.
pub fn config(
    name: &str,
    tls: &UpstreamTls,
    protocol: UpstreamProtocol,
) -> Result<Arc<ClientConfig>, Vec<Diagnostic>> {
    let what = format!("upstream `{name}`");
    let roots = roots(&what, tls)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| {
            vec![Diagnostic::new(
                tls.span.clone(),
                format!("{what}: TLS cannot be set up: {e}"),
                "report this: the built-in TLS provider should support TLS 1.2 and 1.3",
            )]
        })?
        .with_root_certificates(roots);
    let mut config = match &tls.client_certificate {
        None => builder.with_no_client_auth(),
        Some(spec) => {
            let (chain, key) =
                read_identity(&what, "client certificate", spec).map_err(|e| vec![e])?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                vec![key_error(
                    spec,
                    format!(
                        "{what}: key file `{}` cannot be used with certificate `{}`: {e}",
                        spec.key.display(),
                        spec.cert.display()
                    ),
                )]
            })?
        }
    };
    config.alpn_protocols = match protocol {
        UpstreamProtocol::Http1 => vec![b"http/1.1".to_vec()],
        UpstreamProtocol::Http2 => vec![b"h2".to_vec()],
        UpstreamProtocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(Arc::new(config))
}

/// The trust anchors: the `ca` file's certificates, or the system's.
fn roots(what: &str, tls: &UpstreamTls) -> Result<RootCertStore, Vec<Diagnostic>> {
    let ca_error = |message: String| {
        vec![Diagnostic::new(
            tls.ca_span.clone(),
            message,
            "give `ca`, a PEM file with the CA certificate(s) that issue the targets' certificates",
        )]
    };
    if let Some(path) = &tls.ca {
        return read_roots(path).map_err(|e| ca_error(format!("{what}: CA {e}")));
    }
    system_roots().map_err(|why| {
        ca_error(format!(
            "{what}: the system's root certificates cannot be loaded ({why})"
        ))
    })
}

/// The system's root certificates, or why there are none.
fn system_roots() -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(found
            .errors
            .first()
            .map_or_else(|| "none was found".to_owned(), ToString::to_string));
    }
    Ok(roots)
}

/// The client configuration of the gateway's own HTTPS calls (an OCI registry's API): servers
/// are verified against the system's roots plus, when given, the certificates of `extra_ca` (a
/// private registry's CA, as Docker's `certs.d` adds one). ALPN offers HTTP/1.1 only: these
/// calls are a handful per reload, each on a connection of its own.
pub fn general(extra_ca: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, String> {
    // A private registry's CA alone is enough: a machine may have no system roots.
    let mut roots = system_roots().unwrap_or_else(|_| RootCertStore::empty());
    if let Some(path) = extra_ca {
        let extra = read_roots(path).map_err(|e| format!("CA {e}"))?;
        roots.roots.extend(extra.roots);
    }
    if roots.is_empty() {
        return Err("no root certificate: the system has none, and no CA file was given".into());
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS cannot be set up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
