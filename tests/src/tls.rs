//! TLS for tests: a test CA, server and client certificates made with `rcgen` and written as
//! PEM files beside the manifest, and a client that speaks HTTPS over tokio-rustls and hyper's
//! client connections, reporting what was negotiated (version, ALPN, the server's certificate).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::client::TestResponse;

/// A certificate and its key, as PEM and DER.
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Issued {
    /// Writes `<name>.pem` and `<name>.key` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) {
        std::fs::write(dir.join(format!("{name}.pem")), &self.cert_pem).expect("write a cert");
        std::fs::write(dir.join(format!("{name}.key")), &self.key_pem).expect("write a key");
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// A server configuration presenting this certificate, offering `alpn`, and requiring a
    /// client certificate from `client_ca` when given (for TLS upstreams in tests).
    pub fn server_config(&self, alpn: &[&str], client_ca: Option<&TestCa>) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.cert.der.clone()).expect("the CA as a root");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("a client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(vec![self.der.clone()], self.key())
            .expect("a server certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config
    }
}

/// A certificate authority for one test.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    /// The CA's own certificate.
    pub cert: Issued,
}

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        let cert = Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        };
        Self { params, key, cert }
    }

    /// A server certificate for `names` (DNS SANs).
    pub fn server(&self, names: &[&str]) -> Issued {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate with common name `cn` and a DNS SAN `san`.
    pub fn client(&self, cn: &str, san: &str) -> Issued {
        let mut params = CertificateParams::new(vec![san.to_owned()]).expect("client params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Portcullis Tests");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().expect("a key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("a certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

/// How a TLS client connects.
pub struct TlsClient {
    /// The CA trusted for the server's certificate.
    pub roots: CertificateDer<'static>,
    /// The SNI name sent (and checked against the certificate).
    pub server_name: String,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
    /// TLS versions offered.
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// A client certificate to present.
    pub identity: Option<Issued>,
}

/// What the handshake settled, and the answer.
pub struct TlsExchange {
    /// The negotiated TLS version.
    pub version: ProtocolVersion,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The DNS SANs of the server's certificate.
    pub server_sans: Vec<String>,
    /// The response to `GET path`.
    pub response: TestResponse,
}

impl TlsClient {
    /// A client trusting `ca`, sending SNI `server_name`, offering h2 and http/1.1 over TLS 1.2
    /// and 1.3.
    pub fn new(ca: &TestCa, server_name: &str) -> Self {
        Self {
            roots: ca.cert.der.clone(),
            server_name: server_name.to_owned(),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            identity: None,
        }
    }

    /// Connects to `address`, sends `GET path` and reads the answer; `Err` with the reason
    /// when the handshake or the request fails.
    pub async fn get(&self, address: SocketAddr, path: &str) -> Result<TlsExchange, String> {
        let mut roots = RootCertStore::empty();
        roots.add(self.roots.clone()).map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions)
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some(issued) => builder
                .with_client_auth_cert(vec![issued.der.clone()], issued.key())
                .map_err(|e| e.to_string())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        let connector = TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(self.server_name.clone()).map_err(|e| e.to_string())?;
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (_, session) = stream.get_ref();
        let version = session.protocol_version().ok_or("no TLS version")?;
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let server_sans = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(dns_sans)
            .unwrap_or_default();
        let request = Request::get(path)
            .header("host", &self.server_name)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let io = TokioIo::new(stream);
        let response = if alpn.as_deref() == Some(b"h2") {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            let (mut parts, body) = request.into_parts();
            parts.uri = format!("https://{}{path}", self.server_name)
                .parse()
                .map_err(|e: http::uri::InvalidUri| e.to_string())?;
            sender
                .send_request(Request::from_parts(parts, body))
                .await
                .map_err(|e| format!("request: {e}"))?
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("http1 handshake: {e}"))?;
            tokio::spawn(conn);
            sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(TlsExchange {
            version,
            alpn,
            server_sans,
            response: TestResponse {
                status: parts.status,
                headers: parts.headers,
                body,
                version: parts.version,
            },
        })
    }
}

fn dns_sans(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let Ok(Some(sans)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    sans.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
            _ => None,
        })
        .collect()
}
