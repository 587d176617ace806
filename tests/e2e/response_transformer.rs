//! `response-transformer` in front of a real upstream: headers and JSON body edited before the
//! client sees them; a body declared JSON that is not becomes a 502.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!(
            "\n[[routes.api.plugins]]\nplugin = \"response-transformer\"\nconfig = {config}\n"
        ),
    )
}

const CONFIG: &str = r#"{ headers = { rename = { x-upstream = "x-served-by" }, set = { cache-control = "no-store" } }, body = { remove = ["/tls", "/version"], rename = { "/path" = "/request/path" }, replace = { "/upstream" = "hidden", "/absent" = 1 }, add = { "/gateway" = "portcullis" } } }"#;

#[tokio::test]
async fn headers_and_json_body_are_edited_before_the_client_sees_them() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    let response = gateway
        .client()
        .get_with("/orders/7", &[("accept-encoding", "gzip")])
        .await;

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-upstream"), None);
    assert_eq!(response.header("x-served-by"), Some("echo"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["upstream"], "hidden");
    assert_eq!(body["request"]["path"], "/orders/7");
    assert_eq!(body["gateway"], "portcullis");
    assert!(body.get("tls").is_none() && body.get("version").is_none());
    assert!(body.get("path").is_none() && body.get("absent").is_none());
    assert!(
        body["headers"].get("accept-encoding").is_none(),
        "the upstream is asked for an uncompressed body it can be edited"
    );
    assert_eq!(
        response.header("content-length"),
        Some(response.body.len().to_string().as_str())
    );
}

#[tokio::test]
async fn an_upstream_body_declared_json_that_is_not_becomes_a_502() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, CONFIG)).await;

    // `/drip/` answers `first;` then the JSON description: not JSON as a whole.
    let response = gateway.client().get("/drip/1").await;

    assert_eq!(response.status, 502);
    assert_eq!(response.json()["error"], "bad_upstream_response");
}

#[tokio::test]
async fn header_only_edits_leave_the_body_streaming_and_untouched() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"{ headers = { remove = ["x-upstream"] } }"#,
    ))
    .await;

    let response = gateway.client().get("/drip/1").await;

    assert_eq!(response.status, 200);
    assert!(response.text().starts_with("first;"));
    assert_eq!(response.header("x-upstream"), None);
}
