//! The verified client certificate of an mTLS connection, as plugins read it from the request
//! context: `tls.client.subject` (the subject DN, RFC 4514 style: `CN=alice, O=Example`) and
//! `tls.client.sans` (the subject alternative names, comma-joined: `DNS:a.example.com,URI:spiffe://x`).

use std::net::IpAddr;

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

/// Context key of the client certificate's subject DN.
pub const SUBJECT_KEY: &str = "tls.client.subject";
/// Context key of the client certificate's subject alternative names.
pub const SANS_KEY: &str = "tls.client.sans";

/// Who the client proved to be with its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject distinguished name.
    pub subject: String,
    /// Subject alternative names, each prefixed with its kind (`DNS:`, `URI:`, `IP:`, `email:`).
    pub sans: Vec<String>,
}

impl ClientIdentity {
    /// The identity in a verified end-entity certificate; `None` if it cannot be parsed (it was
    /// verified by rustls, so that does not happen with a sane CA).
    pub fn from_certificate(der: &CertificateDer<'_>) -> Option<Self> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let subject = certificate.subject().to_string();
        let mut sans = Vec::new();
        if let Ok(Some(extension)) = certificate.subject_alternative_name() {
            for name in &extension.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => sans.push(format!("DNS:{dns}")),
                    GeneralName::URI(uri) => sans.push(format!("URI:{uri}")),
                    GeneralName::RFC822Name(email) => sans.push(format!("email:{email}")),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_address(bytes) {
                            sans.push(format!("IP:{ip}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(Self { subject, sans })
    }

    /// The context entries plugins see.
    pub fn context_entries(&self) -> [(&'static str, String); 2] {
        [
            (SUBJECT_KEY, self.subject.clone()),
            (SANS_KEY, self.sans.join(",")),
        ]
    }
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}
