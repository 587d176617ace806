//! The meaning checks of how the gateway connects to an upstream: its `protocol` and its `tls`
//! table. The PEM files are read when the gateway loads (`crate::tls::client`), where their
//! errors point back at these entries.

use std::path::Path;

use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::raw::RawUpstreamTls;
use super::{CertificateSpec, UpstreamProtocol, UpstreamTls, suggest};

const PROTOCOLS: &[&str] = &["http1", "http2", "auto"];

/// Checks `protocol`; HTTP/1.1 when absent or invalid (the error is in `errors`).
pub(super) fn protocol(
    raw: Option<Spanned<String>>,
    has_tls: bool,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> UpstreamProtocol {
    let Some(raw) = raw else {
        return UpstreamProtocol::Http1;
    };
    match raw.get_ref().as_str() {
        "http1" => UpstreamProtocol::Http1,
        "http2" => UpstreamProtocol::Http2,
        "auto" if has_tls => UpstreamProtocol::Auto,
        "auto" => {
            errors.push(Diagnostic::new(
                raw.span(),
                format!("protocol `auto` in {what} needs TLS"),
                "`auto` lets ALPN choose, which only TLS can do: add a `tls` table, or write \
                 `protocol = \"http2\"` for HTTP/2 in plain text (h2c)",
            ));
            UpstreamProtocol::Http1
        }
        other => {
            errors.push(Diagnostic::new(
                raw.span(),
                format!("unknown protocol `{other}` in {what}"),
                suggest::help(other, "protocols", PROTOCOLS),
            ));
            UpstreamProtocol::Http1
        }
    }
}

/// Checks an upstream's `tls` table; `None` when it cannot be modelled.
pub(super) fn upstream_tls(
    what: &str,
    raw: Spanned<RawUpstreamTls>,
    base: &Path,
    errors: &mut Vec<Diagnostic>,
) -> Option<UpstreamTls> {
    let span = raw.span();
    let RawUpstreamTls {
        ca,
        server_name,
        cert,
        key,
    } = raw.into_inner();
    let mut ok = true;
    let server_name = match server_name {
        Some(name) if rustls_pki_types::ServerName::try_from(name.get_ref().as_str()).is_ok() => {
            Some(name.into_inner())
        }
        Some(name) => {
            ok = false;
            errors.push(Diagnostic::new(
                name.span(),
                format!("invalid server name `{}` in {what}", name.get_ref()),
                "write the DNS name (or IP address) the targets' certificate is issued to, e.g. \"api.internal\"",
            ));
            None
        }
        None => None,
    };
    let client_certificate = match (cert, key) {
        (Some(cert), Some(key)) => Some(CertificateSpec {
            cert: base.join(cert.get_ref()),
            key: base.join(key.get_ref()),
            server_names: Vec::new(),
            cert_span: cert.span(),
            key_span: key.span(),
        }),
        (None, None) => None,
        (Some(only), None) | (None, Some(only)) => {
            ok = false;
            errors.push(Diagnostic::new(
                only.span(),
                format!("{what} has half a client certificate"),
                "a client certificate needs both `cert` and `key` in the upstream's `tls` table",
            ));
            None
        }
    };
    let ca_span = ca.as_ref().map_or(span.clone(), Spanned::span);
    ok.then(|| UpstreamTls {
        ca: ca.map(|ca| base.join(ca.get_ref())),
        server_name,
        client_certificate,
        span,
        ca_span,
    })
}
