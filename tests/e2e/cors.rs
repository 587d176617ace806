//! `cors` in front of a real upstream: preflights answered by the gateway, actual requests
//! decorated, disallowed origins left without CORS headers.

use bytes::Bytes;
use http::Method;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!("\n[[routes.api.plugins]]\nplugin = \"cors\"\nconfig = {config}\n"),
    )
}

const CONFIG: &str = r#"{ origins = ["https://app.example.com", "https://*.example.org"], methods = ["GET", "PUT"], allowed-headers = ["content-type", "authorization"], exposed-headers = ["x-upstream"], credentials = true, max-age = 600 }"#;

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_204_by_the_gateway() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .send(
            Method::OPTIONS,
            "/orders/7",
            &[
                ("origin", "https://shop.eu.example.org"),
                ("access-control-request-method", "PUT"),
                (
                    "access-control-request-headers",
                    "Content-Type, Authorization",
                ),
            ],
            Bytes::new(),
        )
        .await;

    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://shop.eu.example.org")
    );
    assert_eq!(
        response.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("GET, PUT")
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert_eq!(response.header("access-control-max-age"), Some("600"));
    assert!(response.header("vary").unwrap().contains("Origin"));
    assert_eq!(
        upstream.requests(),
        0,
        "a preflight never reaches the upstream"
    );
}

#[tokio::test]
async fn a_preflight_from_a_disallowed_origin_gets_403_without_cors_headers() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .send(
            Method::OPTIONS,
            "/orders/7",
            &[
                ("origin", "https://example.org.evil.test"),
                ("access-control-request-method", "GET"),
            ],
            Bytes::new(),
        )
        .await;

    assert_eq!(response.status, 403);
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert_eq!(response.json()["error"], "cors_forbidden");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn an_actual_request_from_an_allowed_origin_gets_the_origin_back_and_vary() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .get_with("/orders", &[("origin", "https://app.example.com")])
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        response.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        response.header("access-control-expose-headers"),
        Some("x-upstream")
    );
    assert_eq!(response.header("vary"), Some("Origin"));
    assert_eq!(
        response.upstream_saw_header("origin"),
        ["https://app.example.com"],
        "the upstream still sees the origin"
    );
}

#[tokio::test]
async fn an_actual_request_from_a_disallowed_origin_gets_no_cors_headers_but_still_vary() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .get_with("/orders", &[("origin", "https://evil.test")])
        .await;

    assert_eq!(
        response.status, 200,
        "CORS is not access control: the upstream answers"
    );
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert_eq!(response.header("access-control-allow-credentials"), None);
    assert_eq!(response.header("vary"), Some("Origin"));
}

#[tokio::test]
async fn a_star_origin_answers_star_and_a_plain_options_goes_upstream() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"{ origins = ["*"] }"#)).await;
    let client = gateway.client();

    let response = client
        .get_with("/", &[("origin", "https://anyone.test")])
        .await;
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert_eq!(response.header("vary"), None);

    let response = client
        .send(
            Method::OPTIONS,
            "/",
            &[("origin", "https://anyone.test")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        response.status, 200,
        "no Access-Control-Request-Method: not a preflight"
    );
    assert_eq!(response.json()["method"], "OPTIONS");
}

#[tokio::test]
async fn a_star_origin_with_credentials_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(
        &upstream,
        r#"{ origins = ["*"], credentials = true }"#,
    ))
    .await
    .err()
    .expect("the manifest is refused");

    assert!(
        error.contains("plugin `cors` on route `api` rejected its config"),
        "{error}"
    );
    assert!(error.contains("credentials"), "{error}");
}
