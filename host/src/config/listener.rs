//! The meaning checks of a listener's `tls` table and `redirect-to-https`: certificate entries,
//! SNI names, the default certificate, client authentication. The PEM files themselves are read
//! when the gateway loads (`crate::tls`), where their errors point back at these entries.

use std::path::Path;

use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::raw::{RawCertificate, RawClientAuth, RawTls};
use super::{CertificateSpec, ClientAuth, ClientAuthMode, HttpsRedirect, ListenerTls, suggest};

const MODES: &[&str] = &["required", "optional"];

/// Checks `tls`; `None` when it cannot be modelled (the errors are in `errors`).
pub(super) fn tls(
    listener: &str,
    raw: Spanned<RawTls>,
    base: &Path,
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
            cert: base.join(cert.get_ref()),
            key: base.join(key.get_ref()),
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
    base: &Path,
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
        ca: base.join(ca.get_ref()),
        mode,
        ca_span: ca.span(),
    })
}

/// Checks `redirect-to-https`: `true` (port 443), `false` (off) or a port.
pub(super) fn redirect(
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

/// A host name (DNS name or IP address, no port) in lowercase without a trailing dot.
pub(super) fn host_name(name: &str) -> Option<String> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Some(bare.to_ascii_lowercase());
    }
    server_name(name).filter(|n| !n.starts_with("*."))
}

/// A server name in lowercase without a trailing dot, if it is a DNS name or a `*.` wildcard.
fn server_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let rest = name.strip_prefix("*.").unwrap_or(&name);
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let is_ip = rest.parse::<std::net::IpAddr>().is_ok();
    (!is_ip && rest.len() <= 253 && rest.split('.').all(label)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::server_name;

    #[test]
    fn server_names_are_dns_names_or_wildcards_in_lowercase() {
        assert_eq!(
            server_name("API.example.com."),
            Some("api.example.com".into())
        );
        assert_eq!(server_name("*.example.com"), Some("*.example.com".into()));
        assert_eq!(server_name("a.*.example.com"), None);
        assert_eq!(server_name("127.0.0.1"), None);
        assert_eq!(server_name(""), None);
        assert_eq!(server_name("-a.example.com"), None);
    }
}
