//! HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the same listener.

use bytes::Bytes;
use http::Method;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream) -> String {
    one_route(
        upstream,
        r#"
[[routes.api.plugins]]
plugin = "headers"
config = { response = { set = { x-through = "chain" } } }
"#,
    )
}

#[tokio::test]
async fn an_h2c_request_goes_through_the_chain_to_an_http1_upstream() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway.h2c_client().get("/h2/path?q=1").await;

    assert_eq!(response.version, http::Version::HTTP_2);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-through"), Some("chain"));
    let seen = response.json();
    assert_eq!(seen["path"], "/h2/path");
    assert_eq!(seen["version"], "HTTP/1.1");
    assert_eq!(response.upstream_saw_header("via"), ["2 portcullis"]);
    assert!(
        !response.upstream_saw_header("host").is_empty(),
        "HTTP/1.1 upstreams need a Host"
    );
}

#[tokio::test]
async fn an_h2c_request_whose_host_differs_from_its_authority_is_refused() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .h2c_client()
        .get_with("/", &[("host", "admin.internal")])
        .await;

    assert_eq!(response.status, 400, "RFC 9113 8.3.1: a malformed request");
    let agreeing = gateway
        .h2c_client()
        .get_with("/", &[("host", &gateway.address().to_string())])
        .await;
    assert_eq!(agreeing.status, 200);
}

#[tokio::test]
async fn http1_and_h2c_share_one_listener() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let h1 = gateway.client().get("/").await;
    let h2 = gateway.h2c_client().get("/").await;

    assert_eq!(
        (h1.version, h1.status.as_u16()),
        (http::Version::HTTP_11, 200)
    );
    assert_eq!(
        (h2.version, h2.status.as_u16()),
        (http::Version::HTTP_2, 200)
    );
}

#[tokio::test]
async fn request_bodies_stream_through_unchanged() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let body = "x".repeat(256 * 1024);

    let response = gateway
        .client()
        .send(Method::POST, "/upload", &[], Bytes::from(body.clone()))
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.json()["body"].as_str().map(str::len),
        Some(body.len())
    );
}

#[tokio::test]
async fn a_plugin_that_asks_for_bodies_can_rewrite_both_and_lengths_follow() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
config = { mode = "bodies" }
"#,
    );
    let gateway = TestGateway::start(&manifest).await;

    let response = gateway
        .client()
        .send(
            Method::POST,
            "/echo",
            &[("content-type", "text/plain")],
            Bytes::from_static(b"hello body"),
        )
        .await;

    assert_eq!(response.status, 200);
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let echoed = text
        .strip_prefix("wrapped:")
        .unwrap_or_else(|| panic!("the plugin wrapped the response: {text}"));
    let seen: serde_json::Value = serde_json::from_str(echoed).expect("the upstream's JSON inside");
    assert_eq!(
        seen["body"], "HELLO BODY",
        "the upstream got the rewritten request body"
    );
    assert_eq!(seen["headers"]["content-length"][0], "10");
    assert_eq!(
        response.header("content-length"),
        Some(response.body.len().to_string().as_str())
    );
}

#[tokio::test]
async fn a_request_body_that_stalls_while_a_plugin_waits_for_it_is_cut_at_the_route_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
config = { mode = "bodies" }
"#,
    )
    .replace(
        "match.path-prefix = \"/\"",
        "match.path-prefix = \"/\"\ntimeout = \"300ms\"",
    );
    let gateway = TestGateway::start(&manifest).await;

    let mut stream = tokio::net::TcpStream::connect(gateway.address())
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /slowloris HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly-part",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer));
    let n = read
        .await
        .expect("the gateway answered without waiting for the rest")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
    assert_eq!(upstream.requests(), 0);
}
