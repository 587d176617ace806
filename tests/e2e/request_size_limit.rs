//! `request-size-limit` in front of a real upstream: 413 from `Content-Length` without reading
//! the body, and from the body itself for chunked requests when `read-body` is on.

use bytes::Bytes;
use http::Method;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!("\n[[routes.api.plugins]]\nplugin = \"request-size-limit\"\nconfig = {config}\n"),
    )
}

const CHUNKED: (&str, &str) = ("transfer-encoding", "chunked");

#[tokio::test]
async fn a_content_length_over_the_limit_gets_413_and_one_within_it_passes() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"{ limit = "1KiB" }"#)).await;
    let client = gateway.client();

    let response = client
        .send(Method::POST, "/upload", &[], Bytes::from(vec![b'x'; 1025]))
        .await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"], "request_too_large");
    assert_eq!(response.json()["limit"], 1024);
    assert_eq!(upstream.requests(), 0);

    let response = client
        .send(Method::POST, "/upload", &[], Bytes::from(vec![b'x'; 1024]))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["body"].as_str().unwrap().len(), 1024);
}

#[tokio::test]
async fn a_chunked_body_is_not_checked_unless_read_body_is_on() {
    let upstream = EchoUpstream::start("echo").await;
    let streaming = TestGateway::start(&manifest(&upstream, r#"{ limit = 16 }"#)).await;
    let reading =
        TestGateway::start(&manifest(&upstream, r#"{ limit = 16, read-body = true }"#)).await;
    let body = || Bytes::from(vec![b'x'; 100]);

    let response = streaming
        .client()
        .send(Method::POST, "/", &[CHUNKED], body())
        .await;
    assert_eq!(
        response.status, 200,
        "no Content-Length, body not read: passes"
    );

    let response = reading
        .client()
        .send(Method::POST, "/", &[CHUNKED], body())
        .await;
    assert_eq!(response.status, 413);

    let response = reading
        .client()
        .send(Method::POST, "/", &[CHUNKED], Bytes::from_static(b"small"))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["body"], "small");
}

#[tokio::test]
async fn a_size_that_is_not_one_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(&upstream, r#"{ limit = "1.5MiB" }"#))
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `request-size-limit` on route `api` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("`limit` = `1.5MiB` is not a size"),
        "{error}"
    );
}

#[tokio::test]
async fn a_large_chunked_body_is_measured_when_the_plugin_has_memory_for_it() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "request-size-limit"
memory = "40MiB"
config = { limit = "1MiB", read-body = true }
"#,
    );
    let gateway = TestGateway::start(&manifest).await;

    // Just under the gateway's 16 MiB buffer cap: the copy into the plugin needs more than
    // the default 16 MiB of plugin memory (docs/plugins/request-size-limit.md).
    let response = gateway
        .client()
        .send(
            Method::POST,
            "/",
            &[CHUNKED],
            Bytes::from(vec![b'x'; (16 << 20) - 1024]),
        )
        .await;

    assert_eq!(response.status, 413, "{}", response.text());
}
