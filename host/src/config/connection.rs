//! How the gateway connects to an upstream: its `protocol` and its `tls` table, as written and
//! validated ([`UpstreamProtocol`], [`UpstreamTls`]), with their checks. The PEM files are read
//! when the gateway loads (`crate::tls::client`), where their errors point back at these
//! entries.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::base::Base;
use super::diagnostic::Diagnostic;
use super::listener::CertificateSpec;
use super::suggest;

/// An upstream's `tls` table: how the gateway connects to its targets over TLS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawUpstreamTls {
    pub(super) ca: Option<Spanned<String>>,
    pub(super) server_name: Option<Spanned<String>>,
    pub(super) cert: Option<Spanned<String>>,
    pub(super) key: Option<Spanned<String>>,
}

/// `protocol`: the HTTP version an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (default), over TLS with ALPN `http/1.1`.
    #[default]
    Http1,
    /// HTTP/2: with prior knowledge (h2c) in plain text, ALPN `h2` over TLS. gRPC needs it.
    Http2,
    /// Over TLS, whichever of `h2` and `http/1.1` the target chooses by ALPN.
    Auto,
}

/// An upstream's `tls` table (see `docs/tls.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `ca`: the CA certificates (PEM) that targets' certificates must chain to; the system's
    /// roots when absent.
    pub ca: Option<PathBuf>,
    /// `server-name`: the name sent as SNI and verified in the certificate; the target's host
    /// when absent.
    pub server_name: Option<String>,
    /// `cert` and `key`: the gateway's client certificate, for targets that require mTLS.
    pub client_certificate: Option<CertificateSpec>,
    /// Where the `tls` table is in the manifest.
    pub span: Range<usize>,
    /// Where `ca` is written, when it is.
    pub ca_span: Range<usize>,
}

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
    base: Base<'_>,
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
            cert: base.join(cert.span(), cert.get_ref(), errors),
            key: base.join(key.span(), key.get_ref(), errors),
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
        ca: ca.map(|ca| base.join(ca.span(), ca.get_ref(), errors)),
        server_name,
        client_certificate,
        span,
        ca_span,
    })
}
