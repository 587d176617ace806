//! `request-transformer` in front of a real upstream: headers, query and JSON body edited
//! before the upstream sees them; non-JSON bodies pass, broken JSON gets 400.

use bytes::Bytes;
use http::Method;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!("\n[[routes.api.plugins]]\nplugin = \"request-transformer\"\nconfig = {config}\n"),
    )
}

const CONFIG: &str = r#"{ headers = { remove = ["x-debug"], rename = { x-old = "x-new" }, set = { x-env = "prod" } }, query = { remove = ["debug"], rename = { q = "search" }, add = { v = "2" } }, body = { remove = ["/password"], rename = { "/name" = "/full_name" }, replace = { "/status" = "active" }, add = { "/meta/source" = "gateway" } } }"#;

#[tokio::test]
async fn headers_query_and_json_body_are_edited_before_the_upstream_sees_them() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .send(
            Method::POST,
            "/orders?q=shoes&debug=1&page=2",
            &[
                ("content-type", "application/json"),
                ("x-debug", "1"),
                ("x-old", "o"),
            ],
            Bytes::from_static(br#"{"name":"Ann","password":"s3cret","status":"new"}"#),
        )
        .await;

    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    assert_eq!(seen["query"], "search=shoes&page=2&v=2");
    assert!(response.upstream_saw_header("x-debug").is_empty());
    assert_eq!(response.upstream_saw_header("x-new"), ["o"]);
    assert_eq!(response.upstream_saw_header("x-env"), ["prod"]);
    let body = seen["body"].as_str().unwrap();
    assert_eq!(
        body,
        r#"{"status":"active","full_name":"Ann","meta":{"source":"gateway"}}"#
    );
    assert_eq!(
        response.upstream_saw_header("content-length"),
        [body.len().to_string()],
        "the gateway fixed the length"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_passes_unchanged() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .send(
            Method::POST,
            "/upload",
            &[("content-type", "text/plain")],
            Bytes::from_static(br#"{"password":"not JSON by its type"}"#),
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.json()["body"],
        r#"{"password":"not JSON by its type"}"#
    );
}

#[tokio::test]
async fn a_body_declared_json_that_is_not_gets_400_and_never_reaches_the_upstream() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .send(
            Method::POST,
            "/orders",
            &[("content-type", "application/json")],
            Bytes::from_static(b"{\"name\": oops"),
        )
        .await;

    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "bad_request");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_pointer_without_a_leading_slash_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(
        &upstream,
        r#"{ body = { remove = ["password"] } }"#,
    ))
    .await
    .err()
    .expect("the manifest is refused");

    assert!(
        error.contains("plugin `request-transformer` on route `api` rejected its config"),
        "{error}"
    );
    assert!(error.contains("`body.remove`: `password`"), "{error}");
}
