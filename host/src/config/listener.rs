//! A `[listeners.<name>]` section: the raw table as written, the validated [`Listener`] and its
//! checks (the address, the `tls` table with its certificate entries, SNI names, default
//! certificate and client authentication, and `redirect-to-https`). The PEM files themselves
//! are read when the gateway loads (`crate::tls`), where their errors point back at these
//! entries.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::base::Base;
use super::diagnostic::Diagnostic;
use super::path::{self, RawPathOptions};
use super::spanned::Named;
use super::suggest;
use super::units::{check_name, server_name};
use crate::router::path::PathOptions;

/// A `[listeners.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawListener {
    pub(super) address: Spanned<String>,
    pub(super) tls: Option<Spanned<RawTls>>,
    /// `true` (port 443) or a port number.
    pub(super) redirect_to_https: Option<Spanned<toml::Value>>,
    /// How request paths are normalised before routing (`config/path.rs`).
    pub(super) path: Option<Spanned<RawPathOptions>>,
}

/// A listener's `tls` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTls {
    pub(super) certificates: Spanned<Vec<Spanned<RawCertificate>>>,
    pub(super) client_auth: Option<Spanned<RawClientAuth>>,
}

/// One entry of `tls.certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawCertificate {
    pub(super) cert: Spanned<String>,
    pub(super) key: Spanned<String>,
    pub(super) server_names: Option<Vec<Spanned<String>>>,
}

/// A listener's `tls.client-auth` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawClientAuth {
    pub(super) ca: Spanned<String>,
    pub(super) mode: Option<Spanned<String>>,
}

/// A `[listeners.<name>]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The section's name.
    pub name: String,
    /// The address to bind.
    pub address: SocketAddr,
    /// `tls`: serve HTTPS with these certificates (plain HTTP when absent).
    pub tls: Option<ListenerTls>,
    /// `redirect-to-https`: answer every request with a redirect to HTTPS (plain listeners only).
    pub redirect_to_https: Option<HttpsRedirect>,
    /// `path`: how request paths are normalised before routing (see `docs/routing.md`).
    pub path: PathOptions,
    /// Where the section's name is in the manifest.
    pub span: Range<usize>,
}

/// A listener's `tls` table (see `docs/tls.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificates, chosen by SNI; at least one.
    pub certificates: Vec<CertificateSpec>,
    /// Which entry of `certificates` serves clients whose SNI names none (or who send none).
    pub default: usize,
    /// `client-auth`: verify client certificates (mTLS).
    pub client_auth: Option<ClientAuth>,
}

/// One entry of `tls.certificates`: PEM files, resolved against the manifest's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// SNI names this certificate serves, lowercase; `*.example.com` is a wildcard.
    pub server_names: Vec<String>,
    /// Where `cert` is written in the manifest.
    pub cert_span: Range<usize>,
    /// Where `key` is written in the manifest.
    pub key_span: Range<usize>,
}

/// `tls.client-auth`: client certificates checked against a CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// The CA certificates (PEM) client certificates must chain to.
    pub ca: PathBuf,
    /// Whether a client without a certificate is let in.
    pub mode: ClientAuthMode,
    /// Where `ca` is written in the manifest.
    pub ca_span: Range<usize>,
}

/// `tls.client-auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMode {
    /// A valid client certificate is required to complete the handshake (default).
    #[default]
    Required,
    /// A client certificate is verified if sent; clients without one are let in.
    Optional,
}

/// `redirect-to-https`: where a plain listener sends its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpsRedirect {
    /// The HTTPS port; 443 is left out of the `Location`.
    pub port: u16,
}

/// Checks a listener section; `None` when it cannot be modelled (the errors are in `errors`).
pub(super) fn listener(
    section: Named<RawListener>,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Listener> {
    check_name("listener", &section.name, &section.name_span, errors);
    let RawListener {
        address,
        tls,
        redirect_to_https,
        path,
    } = section.value;
    let name = &section.name;
    let has_tls = tls.is_some();
    let tls = tls.and_then(|tls| listener_tls(name, tls, base, errors));
    let redirect_to_https =
        redirect_to_https.and_then(|value| redirect(name, value, has_tls, errors));
    let path = path::options(name, path, errors);
    match address.get_ref().parse() {
        Ok(parsed) => Some(Listener {
            name: section.name,
            address: parsed,
            tls,
            redirect_to_https,
            path,
            span: section.name_span,
        }),
        Err(_) => {
            errors.push(Diagnostic::new(
                address.span(),
                format!("invalid address `{}` for listener `{}`", address.get_ref(), section.name),
                "write an IP address and a port, e.g. \"127.0.0.1:8080\" or \"[::]:443\" (no host names)",
            ));
            None
        }
    }
}

const MODES: &[&str] = &["required", "optional"];

/// Checks `tls`; `None` when it cannot be modelled (the errors are in `errors`).
fn listener_tls(
    listener: &str,
    raw: Spanned<RawTls>,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<ListenerTls> {
    let raw = raw.into_inner();
    let list_span = raw.certificates.span();
    let entries = raw.certificates.into_inner();
    if entries.is_empty() {
        errors.push(Diagnostic::new(
            list_span,
            format!("listener `{listener}` has TLS but no certificate"),
            "add `tls.certificates = [{ cert = \"certs/site.pem\", key = \"certs/site.key\" }]`",
        ));
        return None;
    }
    let mut ok = true;
    let mut certificates = Vec::new();
    let mut default = None;
    let mut seen: Vec<String> = Vec::new();
    for entry in entries {
        let span = entry.span();
        let index = certificates.len();
        let RawCertificate {
            cert,
            key,
            server_names,
        } = entry.into_inner();
        let mut names = Vec::new();
        for name in server_names.unwrap_or_default() {
            let Some(normal) = server_name(name.get_ref()) else {
                ok = false;
                errors.push(Diagnostic::new(
                    name.span(),
                    format!(
                        "invalid server name `{}` in listener `{listener}`",
                        name.get_ref()
                    ),
                    "write a DNS name (`api.example.com`) or a wildcard (`*.example.com`); IP addresses are never sent as SNI",
                ));
                continue;
            };
            if seen.contains(&normal) {
                ok = false;
                errors.push(Diagnostic::new(
                    name.span(),
                    format!("server name `{normal}` is given twice in listener `{listener}`"),
                    "each name may select one certificate; remove one of them",
                ));
                continue;
            }
            seen.push(normal.clone());
            names.push(normal);
        }
        if names.is_empty() {
            if default.is_some() {
                ok = false;
                errors.push(Diagnostic::new(
                    span,
                    format!("listener `{listener}` has two default certificates"),
                    "only one entry may leave out `server-names`; give this one its `server-names = [\"...\"]`",
                ));
                continue;
            }
            default = Some(index);
        }
        certificates.push(CertificateSpec {
            cert: base.join(cert.span(), cert.get_ref(), errors),
            key: base.join(key.span(), key.get_ref(), errors),
            server_names: names,
            cert_span: cert.span(),
            key_span: key.span(),
        });
    }
    let client_auth = raw
        .client_auth
        .and_then(|auth| client_auth(listener, auth, base, errors));
    ok.then_some(ListenerTls {
        certificates,
        // Without an entry lacking `server-names`, the first one serves unknown names.
        default: default.unwrap_or(0),
        client_auth,
    })
}

fn client_auth(
    listener: &str,
    raw: Spanned<RawClientAuth>,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<ClientAuth> {
    let RawClientAuth { ca, mode } = raw.into_inner();
    let mode = match mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "required")) => ClientAuthMode::Required,
        Some((_, "optional")) => ClientAuthMode::Optional,
        Some((span, other)) => {
            errors.push(Diagnostic::new(
                span.span(),
                format!("invalid client-auth mode `{other}` in listener `{listener}`"),
                suggest::help(other, "modes", MODES),
            ));
            return None;
        }
    };
    Some(ClientAuth {
        ca: base.join(ca.span(), ca.get_ref(), errors),
        mode,
        ca_span: ca.span(),
    })
}

/// Checks `redirect-to-https`: `true` (port 443), `false` (off) or a port.
fn redirect(
    listener: &str,
    value: Spanned<toml::Value>,
    has_tls: bool,
    errors: &mut Vec<Diagnostic>,
) -> Option<HttpsRedirect> {
    let port = match value.get_ref() {
        toml::Value::Boolean(false) => return None,
        toml::Value::Boolean(true) => Some(443),
        toml::Value::Integer(port) => u16::try_from(*port).ok().filter(|p| *p != 0),
        _ => None,
    };
    let Some(port) = port else {
        errors.push(Diagnostic::new(
            value.span(),
            format!("invalid `redirect-to-https` in listener `{listener}`"),
            "write `true` (to port 443) or the HTTPS port, e.g. `redirect-to-https = 8443`",
        ));
        return None;
    };
    if has_tls {
        errors.push(Diagnostic::new(
            value.span(),
            format!("listener `{listener}` redirects to HTTPS but already serves TLS"),
            "put `redirect-to-https` on a plain listener, or remove it",
        ));
        return None;
    }
    Some(HttpsRedirect { port })
}
