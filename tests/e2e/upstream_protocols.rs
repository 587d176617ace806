//! How the gateway talks to upstreams: HTTP/1.1, HTTP/2 in plain text (h2c) or over TLS by
//! ALPN, TLS verified against a CA file with SNI, and a client certificate for upstreams that
//! require one. Certificates come from a test CA made here.

use portcullis_tests::tls::TestCa;
use portcullis_tests::{EchoUpstream, TestGateway};

/// Files for one test: the CA that issued the upstream's certificate, and a client identity.
struct Pki {
    dir: tempfile::TempDir,
    ca: TestCa,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a directory for certificates");
        let ca = TestCa::new("Upstream Test CA");
        std::fs::write(dir.path().join("ca.pem"), &ca.cert.cert_pem).expect("write the CA");
        ca.client("gateway", "gateway.internal")
            .write(dir.path(), "client");
        Self { dir, ca }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// An echo upstream over TLS with a certificate for `names`, offering `alpn`.
    async fn upstream(&self, names: &[&str], alpn: &[&str], require_client: bool) -> EchoUpstream {
        let issued = self.ca.server(names);
        let config = issued.server_config(alpn, require_client.then_some(&self.ca));
        EchoUpstream::start_tls("secure", config).await
    }
}

fn manifest(upstream: &EchoUpstream, upstream_extra: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.backend]
targets = ["{}"]
{upstream_extra}

[routes.all]
upstream = "backend"
match.path-prefix = "/"
"#,
        upstream.authority()
    )
}

#[tokio::test]
async fn protocol_http2_speaks_h2c_to_a_plain_upstream() {
    let upstream = EchoUpstream::start("h2c").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"protocol = "http2""#)).await;

    let response = gateway.client().get("/").await;

    assert_eq!(response.status, 200);
    assert_eq!(response.json()["version"], "HTTP/2.0");
}

#[tokio::test]
async fn http2_upstreams_see_one_authority_from_http1_and_http2_clients() {
    // The echo upstream answers 400 when `Host` and `:authority` differ, as hypercorn does.
    let upstream = EchoUpstream::start("strict-h2c").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"protocol = "http2""#)).await;

    for (client, client_host) in clients(&gateway) {
        let response = client
            .get_with("/", &[("host", client_host.as_str())])
            .await;

        assert_eq!(response.status, 200, "{}", response.text());
        let seen = response.json();
        assert_eq!(seen["version"], "HTTP/2.0");
        assert_eq!(seen["authority"], upstream.authority().as_str());
        assert!(seen["headers"].get("host").is_none(), "{seen}");
        assert_eq!(seen["headers"]["x-forwarded-host"][0], client_host.as_str());
    }
}

#[tokio::test]
async fn http1_upstreams_see_the_clients_host_from_http1_and_http2_clients() {
    let upstream = EchoUpstream::start("h1").await;
    let gateway = TestGateway::start(&manifest(&upstream, "")).await;

    for (client, client_host) in clients(&gateway) {
        let response = client
            .get_with("/", &[("host", client_host.as_str())])
            .await;

        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["headers"]["host"][0], client_host.as_str());
    }
}

/// An HTTP/1.1 client that asks for `api.example.com`, and an h2c client whose `:authority`
/// is the gateway's address (and whose `Host` agrees with it), each with the host it asks for.
fn clients(gateway: &TestGateway) -> [(portcullis_tests::Client, String); 2] {
    [
        (gateway.client(), "api.example.com".to_owned()),
        (gateway.h2c_client(), gateway.address().to_string()),
    ]
}

#[tokio::test]
async fn tls_upstreams_are_verified_against_the_ca_file_and_alpn_picks_the_version() {
    let pki = Pki::new();
    let cases = [
        ("http1", &["h2", "http/1.1"][..], "http/1.1", "HTTP/1.1"),
        ("http2", &["h2", "http/1.1"][..], "h2", "HTTP/2.0"),
        ("auto", &["h2", "http/1.1"][..], "h2", "HTTP/2.0"),
        ("auto", &["http/1.1"][..], "http/1.1", "HTTP/1.1"),
    ];
    for (protocol, offered, alpn, version) in cases {
        let upstream = pki.upstream(&["127.0.0.1"], offered, false).await;
        let extra = format!(
            "protocol = \"{protocol}\"\ntls = {{ ca = \"{}\" }}",
            pki.path("ca.pem")
        );
        let gateway = TestGateway::start(&manifest(&upstream, &extra)).await;

        let response = gateway.client().get("/over-tls").await;

        assert_eq!(
            response.status,
            200,
            "protocol {protocol}: {}",
            response.text()
        );
        let seen = response.json();
        assert_eq!(
            seen["tls"]["alpn"], alpn,
            "protocol {protocol}, offered {offered:?}"
        );
        assert_eq!(
            seen["version"], version,
            "protocol {protocol}, offered {offered:?}"
        );
        assert_eq!(seen["path"], "/over-tls");
    }
}

#[tokio::test]
async fn server_name_sets_sni_and_the_name_verified() {
    let pki = Pki::new();
    let upstream = pki.upstream(&["api.internal"], &["http/1.1"], false).await;

    // The target is an IP address; the certificate names `api.internal`.
    let without = format!("tls = {{ ca = \"{}\" }}", pki.path("ca.pem"));
    let gateway = TestGateway::start(&manifest(&upstream, &without)).await;
    let refused = gateway.client().get("/").await;
    assert_eq!(refused.status, 502, "{}", refused.text());

    let with = format!(
        "tls = {{ ca = \"{}\", server-name = \"api.internal\" }}",
        pki.path("ca.pem")
    );
    let gateway = TestGateway::start(&manifest(&upstream, &with)).await;
    let response = gateway.client().get("/").await;
    assert_eq!(response.status, 200, "{}", response.text());
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let stranger = TestCa::new("Someone Else");
    let config = stranger
        .server(&["127.0.0.1"])
        .server_config(&["http/1.1"], None);
    let upstream = EchoUpstream::start_tls("impostor", config).await;
    let extra = format!("tls = {{ ca = \"{}\" }}", pki.path("ca.pem"));
    let gateway = TestGateway::start(&manifest(&upstream, &extra)).await;

    let response = gateway.client().get("/").await;

    assert_eq!(response.status, 502);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_client_certificate_is_offered_to_upstreams_that_require_one() {
    let pki = Pki::new();
    let upstream = pki.upstream(&["127.0.0.1"], &["http/1.1"], true).await;

    let anonymous = format!("tls = {{ ca = \"{}\" }}", pki.path("ca.pem"));
    let gateway = TestGateway::start(&manifest(&upstream, &anonymous)).await;
    assert_eq!(gateway.client().get("/").await.status, 502);

    let identified = format!(
        "tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}",
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key")
    );
    let gateway = TestGateway::start(&manifest(&upstream, &identified)).await;
    let response = gateway.client().get("/").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["tls"]["client_certificate"], true);
}

#[tokio::test]
async fn unusable_tls_files_are_load_errors_naming_the_upstream_and_file() {
    let pki = Pki::new();
    let upstream = EchoUpstream::start("unused").await;
    let missing = pki.path("missing-ca.pem");
    let extra = format!("tls = {{ ca = \"{missing}\" }}");

    let error = TestGateway::try_start(&manifest(&upstream, &extra))
        .await
        .err()
        .expect("the manifest is refused");

    assert!(error.contains("upstream `backend`"), "{error}");
    assert!(error.contains("missing-ca.pem"), "{error}");
    assert!(error.contains("cannot be read"), "{error}");
}
