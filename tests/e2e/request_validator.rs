//! `request-validator` in front of a real upstream: bodies checked against a JSON Schema
//! compiled at load time; violations named in a 400, non-JSON refused with 415.

use bytes::Bytes;
use http::Method;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!("\n[[routes.api.plugins]]\nplugin = \"request-validator\"\nconfig = {config}\n"),
    )
}

const CONFIG: &str = r#"{ schema = { type = "object", required = ["item", "quantity"], properties = { item = { type = "string" }, quantity = { type = "integer", minimum = 1 } } } }"#;

async fn post(
    gateway: &TestGateway,
    content_type: &str,
    body: &'static str,
) -> portcullis_tests::TestResponse {
    gateway
        .client()
        .send(
            Method::POST,
            "/orders",
            &[("content-type", content_type)],
            Bytes::from_static(body.as_bytes()),
        )
        .await
}

#[tokio::test]
async fn a_body_matching_the_schema_reaches_the_upstream_unchanged() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = post(
        &gateway,
        "application/json",
        r#"{"item":"shoe","quantity":2}"#,
    )
    .await;

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["body"], r#"{"item":"shoe","quantity":2}"#);
}

#[tokio::test]
async fn a_body_violating_the_schema_gets_400_naming_paths_and_messages() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = post(&gateway, "application/json", r#"{"item":7,"quantity":0}"#).await;

    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(body["error"], "invalid_body");
    let violations = body["violations"].as_array().unwrap();
    let paths: Vec<&str> = violations
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/item", "/quantity"], "{body}");
    assert!(
        violations
            .iter()
            .all(|v| v["message"].as_str().is_some_and(|m| !m.is_empty()))
    );
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn broken_json_gets_400_and_another_content_type_415_while_get_passes() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    assert_eq!(
        post(&gateway, "application/json", "{oops").await.status,
        400
    );
    assert_eq!(post(&gateway, "text/plain", "item=shoe").await.status, 415);
    assert_eq!(upstream.requests(), 0);
    assert_eq!(
        gateway.client().get("/orders").await.status,
        200,
        "GET is not checked"
    );
}

#[tokio::test]
async fn an_invalid_schema_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(&upstream, r#"{ schema = { type = "strnig" } }"#))
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `request-validator` on route `api` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("`schema` is not a valid JSON Schema"),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_over_max_body_gets_413_before_it_is_parsed() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"{ schema = { type = "object" }, max-body = 16 }"#,
    ))
    .await;

    let response = post(
        &gateway,
        "application/json",
        r#"{"item":"a long shoe name"}"#,
    )
    .await;

    assert_eq!(response.status, 413);
    assert_eq!(response.json()["limit"], 16);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_worst_case_body_at_the_default_max_body_gets_400_not_a_plugin_failure() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"{ schema = { type = "array", items = { type = "string" } } }"#,
    ))
    .await;
    // 64 KiB of one-digit numbers, every one a violation: the most memory per byte.
    let body = format!("[{}]", vec!["1"; (64 << 10) / 2 - 1].join(","));
    assert!(body.len() <= 64 << 10);

    let response = gateway
        .client()
        .send(
            Method::POST,
            "/",
            &[("content-type", "application/json")],
            Bytes::from(body),
        )
        .await;

    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.json()["violations"].as_array().unwrap().len(), 10);
}
