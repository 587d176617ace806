//! The gateway's own answers: 404 without a route, 502 when the upstream is down, 504 when it is
//! slow, each a small JSON body with the request id.

use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(target: &str, timeout: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.backend]
targets = ["{target}"]
timeout = "{timeout}"

[routes.api]
upstream = "backend"
match.path-prefix = "/api"
"#
    )
}

#[tokio::test]
async fn no_matching_route_is_a_404_with_a_json_body_and_request_id() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream.authority(), "5s")).await;

    let response = gateway.client().get("/elsewhere").await;

    assert_eq!(response.status, 404);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["error"], "no_route");
    let id = body["request_id"].as_str().expect("a request id");
    assert_eq!(response.header("x-request-id"), Some(id));
}

#[tokio::test]
async fn an_upstream_that_refuses_connections_gives_502() {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = TestGateway::start(&manifest(&format!("127.0.0.1:{port}"), "5s")).await;

    let response = gateway.client().get("/api/orders").await;

    assert_eq!(response.status, 502);
    assert_eq!(response.json()["error"], "upstream_unavailable");
    assert!(response.json()["request_id"].is_string());
}

#[tokio::test]
async fn an_upstream_slower_than_the_timeout_gives_504() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.backend]
targets = ["{}"]
timeout = "200ms"

[routes.slow]
upstream = "backend"
match.path-prefix = "/slow"
"#,
        upstream.authority()
    );
    let gateway = TestGateway::start(&manifest).await;
    let response = gateway.client().get("/slow/3000").await;

    assert_eq!(response.status, 504);
    assert_eq!(response.json()["error"], "upstream_timeout");
}

#[tokio::test]
async fn a_client_supplied_request_id_is_kept_and_forwarded() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream.authority(), "5s")).await;

    let response = gateway
        .client()
        .get_with("/api/x", &[("x-request-id", "trace-abc-123")])
        .await;

    assert_eq!(
        response.upstream_saw_header("x-request-id"),
        ["trace-abc-123"]
    );
}
