//! `ip-restriction` in front of a real upstream: the test client is 127.0.0.1, so lists name
//! it or leave it out; behind a trusted proxy the address comes from `X-Forwarded-For`.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!("\n[[routes.api.plugins]]\nplugin = \"ip-restriction\"\nconfig = {config}\n"),
    )
}

#[tokio::test]
async fn an_allowed_client_passes_and_deny_wins_over_allow() {
    let upstream = EchoUpstream::start("echo").await;
    let allowed = TestGateway::start(&manifest(
        &upstream,
        r#"{ allow = ["127.0.0.0/8", "::1"] }"#,
    ))
    .await;
    let denied = TestGateway::start(&manifest(
        &upstream,
        r#"{ allow = ["127.0.0.0/8"], deny = ["127.0.0.1"] }"#,
    ))
    .await;

    assert_eq!(allowed.client().get("/").await.status, 200);
    let response = denied.client().get("/").await;
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"], "forbidden");
    assert_eq!(
        upstream.requests(),
        1,
        "the denied request never reached the upstream"
    );
}

#[tokio::test]
async fn a_client_outside_the_allow_list_gets_403_whatever_it_claims_in_x_forwarded_for() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"{ allow = ["10.0.0.0/8"] }"#)).await;

    let response = gateway
        .client()
        .get_with("/", &[("x-forwarded-for", "10.0.0.1")])
        .await;

    assert_eq!(response.status, 403);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rightmost_untrusted_forwarded_address_decides() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"{ allow = ["198.51.100.0/24"], trusted-proxies = ["127.0.0.1", "172.16.0.0/12"] }"#,
    ))
    .await;
    let client = gateway.client();

    let response = client
        .get_with(
            "/",
            &[("x-forwarded-for", "10.9.9.9, 198.51.100.4, 172.16.0.9")],
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());

    let response = client
        .get_with("/", &[("x-forwarded-for", "198.51.100.4, 10.9.9.9")])
        .await;
    assert_eq!(
        response.status, 403,
        "a forged entry on the left is not read"
    );

    let response = client
        .get_with("/", &[("x-forwarded-for", "not-an-address")])
        .await;
    assert_eq!(response.status, 400);
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("not-an-address")
    );
}

#[tokio::test]
async fn a_network_with_host_bits_is_refused_at_load_time_with_the_network_meant() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(&upstream, r#"{ deny = ["192.168.1.1/24"] }"#))
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `ip-restriction` on route `api` rejected its config"),
        "{error}"
    );
    assert!(error.contains("did you mean `192.168.1.0/24`"), "{error}");
}
