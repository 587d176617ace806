//! Downstream TLS: certificates by SNI, ALPN, TLS versions, mTLS, the client's identity handed
//! to plugins, and the redirect from HTTP to HTTPS. Certificates come from a test CA made here.

use portcullis_tests::tls::{TestCa, TlsClient};
use portcullis_tests::{Client, EchoUpstream, TestGateway};
use rustls::ProtocolVersion;

/// The files a TLS manifest names, in their own directory (absolute paths in the manifest).
struct Certs {
    dir: tempfile::TempDir,
    ca: TestCa,
}

impl Certs {
    /// A CA, a certificate for `api.example.com`, and a default one for `default.example.com`.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a directory for certificates");
        let ca = TestCa::new("Portcullis Test CA");
        ca.server(&["api.example.com"]).write(dir.path(), "api");
        ca.server(&["default.example.com"])
            .write(dir.path(), "default");
        std::fs::write(dir.path().join("ca.pem"), &ca.cert.cert_pem).expect("write the CA");
        Self { dir, ca }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// A manifest with one TLS listener; `extra` is added to the listener section.
    fn manifest(&self, upstream: &EchoUpstream, extra: &str, plugins: &str) -> String {
        format!(
            r#"
[listeners.secure]
address = "127.0.0.1:0"
tls.certificates = [
  {{ cert = "{api}", key = "{api_key}", server-names = ["api.example.com"] }},
  {{ cert = "{default}", key = "{default_key}" }},
]
{extra}

[upstreams.echo]
targets = ["{upstream}"]

[routes.all]
upstream = "echo"
match.path-prefix = "/"
{plugins}
"#,
            api = self.path("api.pem"),
            api_key = self.path("api.key"),
            default = self.path("default.pem"),
            default_key = self.path("default.key"),
            upstream = upstream.authority(),
        )
    }
}

#[tokio::test]
async fn sni_chooses_the_certificate_and_unknown_names_get_the_default() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let gateway = TestGateway::start(&certs.manifest(&upstream, "", "")).await;

    let api = TlsClient::new(&certs.ca, "api.example.com")
        .get(gateway.address(), "/")
        .await
        .expect("a TLS exchange for api.example.com");
    let mut other = TlsClient::new(&certs.ca, "default.example.com");
    other.alpn = vec![b"http/1.1".to_vec()];
    let other = other
        .get(gateway.address(), "/")
        .await
        .expect("a TLS exchange for another name");

    assert_eq!(api.server_sans, ["api.example.com"]);
    assert_eq!(api.response.status, 200);
    assert_eq!(other.server_sans, ["default.example.com"]);
    assert_eq!(other.response.status, 200);
}

#[tokio::test]
async fn alpn_h2_over_tls_reaches_the_upstream_with_https_forwarded() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let gateway = TestGateway::start(&certs.manifest(&upstream, "", "")).await;

    let exchange = TlsClient::new(&certs.ca, "api.example.com")
        .get(gateway.address(), "/over/h2?x=1")
        .await
        .expect("an h2 exchange");

    assert_eq!(exchange.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(exchange.response.version, http::Version::HTTP_2);
    assert_eq!(exchange.response.status, 200);
    assert_eq!(exchange.response.json()["path"], "/over/h2");
    assert_eq!(
        exchange.response.upstream_saw_header("x-forwarded-proto"),
        ["https"]
    );
}

#[tokio::test]
async fn http1_is_chosen_by_alpn_when_the_client_offers_only_it() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let gateway = TestGateway::start(&certs.manifest(&upstream, "", "")).await;
    let mut client = TlsClient::new(&certs.ca, "api.example.com");
    client.alpn = vec![b"http/1.1".to_vec()];

    let exchange = client
        .get(gateway.address(), "/")
        .await
        .expect("an exchange");

    assert_eq!(exchange.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(exchange.response.version, http::Version::HTTP_11);
    assert_eq!(exchange.response.status, 200);
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_both_spoken() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let gateway = TestGateway::start(&certs.manifest(&upstream, "", "")).await;
    let mut tls12 = TlsClient::new(&certs.ca, "api.example.com");
    tls12.versions = vec![&rustls::version::TLS12];

    let default = TlsClient::new(&certs.ca, "api.example.com")
        .get(gateway.address(), "/")
        .await
        .expect("a TLS 1.3 exchange");
    let old = tls12
        .get(gateway.address(), "/")
        .await
        .expect("a TLS 1.2 exchange");

    assert_eq!(default.version, ProtocolVersion::TLSv1_3);
    assert_eq!(old.version, ProtocolVersion::TLSv1_2);
}

#[tokio::test]
async fn a_tls_1_1_client_hello_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let gateway = TestGateway::start(&certs.manifest(&upstream, "", "")).await;
    // rustls cannot speak TLS 1.1, so write a TLS 1.1 ClientHello by hand.
    let hello: &[u8] = &[
        0x16, 0x03, 0x01, 0x00, 0x2f, // record: handshake, TLS 1.0, length 47
        0x01, 0x00, 0x00, 0x2b, // ClientHello, length 43
        0x03, 0x02, // client_version TLS 1.1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,    // random
        0x00, // session id
        0x00, 0x02, 0x00, 0x2f, // one suite: TLS_RSA_WITH_AES_128_CBC_SHA
        0x01, 0x00, // null compression
    ];
    let mut stream = tokio::net::TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    stream.write_all(hello).await.expect("send the hello");

    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;

    // Either a fatal alert record (21) or a closed connection; never a ServerHello (22).
    assert!(
        answer.first().is_none_or(|kind| *kind == 21),
        "the gateway answered a TLS 1.1 hello with {answer:02x?}"
    );
}

#[tokio::test]
async fn mtls_required_lets_a_client_certificate_in_and_hands_its_subject_to_plugins() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let manifest = certs.manifest(
        &upstream,
        &format!(
            r#"tls.client-auth = {{ ca = "{}", mode = "required" }}"#,
            certs.path("ca.pem")
        ),
        r#"
[[routes.all.plugins]]
plugin = "headers"
config = { request = { set = { x-client = "${tls.client.subject}", x-client-sans = "${tls.client.sans}" } } }
"#,
    );
    let gateway = TestGateway::start(&manifest).await;
    let mut client = TlsClient::new(&certs.ca, "api.example.com");
    client.identity = Some(certs.ca.client("alice", "alice.clients.example.com"));

    let exchange = client
        .get(gateway.address(), "/whoami")
        .await
        .expect("the client certificate is accepted");

    assert_eq!(exchange.response.status, 200);
    let subject = exchange.response.upstream_saw_header("x-client");
    assert_eq!(subject.len(), 1, "{subject:?}");
    assert!(subject[0].contains("CN=alice"), "{subject:?}");
    assert!(subject[0].contains("O=Portcullis Tests"), "{subject:?}");
    assert_eq!(
        exchange.response.upstream_saw_header("x-client-sans"),
        ["DNS:alice.clients.example.com"]
    );
}

#[tokio::test]
async fn mtls_required_refuses_a_client_without_a_certificate() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let manifest = certs.manifest(
        &upstream,
        &format!(r#"tls.client-auth = {{ ca = "{}" }}"#, certs.path("ca.pem")),
        "",
    );
    let gateway = TestGateway::start(&manifest).await;

    let refused = TlsClient::new(&certs.ca, "api.example.com")
        .get(gateway.address(), "/")
        .await;

    assert!(refused.is_err(), "a client without a certificate got in");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn mtls_refuses_a_certificate_from_another_ca() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let manifest = certs.manifest(
        &upstream,
        &format!(r#"tls.client-auth = {{ ca = "{}" }}"#, certs.path("ca.pem")),
        "",
    );
    let gateway = TestGateway::start(&manifest).await;
    let stranger = TestCa::new("Someone Else");
    let mut client = TlsClient::new(&certs.ca, "api.example.com");
    client.identity = Some(stranger.client("mallory", "mallory.example.com"));

    let refused = client.get(gateway.address(), "/").await;

    assert!(refused.is_err(), "a foreign client certificate got in");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn mtls_optional_lets_clients_without_a_certificate_in_with_no_identity() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    let manifest = certs.manifest(
        &upstream,
        &format!(
            r#"tls.client-auth = {{ ca = "{}", mode = "optional" }}"#,
            certs.path("ca.pem")
        ),
        r#"
[[routes.all.plugins]]
plugin = "headers"
config = { request = { set = { x-client = "${tls.client.subject}" } } }
"#,
    );
    let gateway = TestGateway::start(&manifest).await;

    let exchange = TlsClient::new(&certs.ca, "api.example.com")
        .get(gateway.address(), "/")
        .await
        .expect("a client without a certificate is let in");

    assert_eq!(exchange.response.status, 200);
    let seen = exchange.response.upstream_saw_header("x-client");
    assert!(seen.iter().all(String::is_empty), "{seen:?}");
}

#[tokio::test]
async fn a_plain_listener_redirects_to_https_without_calling_the_upstream() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = format!(
        r#"
[listeners.plain]
address = "127.0.0.1:0"
redirect-to-https = 8443

[upstreams.echo]
targets = ["{}"]

[routes.all]
upstream = "echo"
match.path-prefix = "/"
"#,
        upstream.authority()
    );
    let gateway = TestGateway::start(&manifest).await;
    let client = Client::http1(gateway.address());

    let get = client
        .get_with("/a/b?q=1", &[("host", "api.example.com")])
        .await;
    let post = client
        .send(
            http::Method::POST,
            "/orders",
            &[("host", "api.example.com:8080")],
            bytes::Bytes::from_static(b"{}"),
        )
        .await;

    assert_eq!(get.status, 301);
    assert_eq!(
        get.header("location"),
        Some("https://api.example.com:8443/a/b?q=1")
    );
    assert_eq!(post.status, 308);
    assert_eq!(
        post.header("location"),
        Some("https://api.example.com:8443/orders")
    );
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_missing_key_file_is_a_load_error_naming_the_file_and_the_listener() {
    let upstream = EchoUpstream::start("echo").await;
    let certs = Certs::new();
    std::fs::remove_file(certs.dir.path().join("api.key")).expect("remove the key");

    let error = TestGateway::try_start(&certs.manifest(&upstream, "", ""))
        .await
        .err()
        .expect("the gateway refuses to start");

    assert!(error.contains("listener `secure`"), "{error}");
    assert!(error.contains("api.key"), "{error}");
    assert!(error.contains("cannot be read"), "{error}");
}
