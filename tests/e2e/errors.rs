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

/// Sends raw bytes and returns the raw answer (for requests a well-behaved client cannot make).
async fn raw_exchange(address: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    );
    read.await
        .expect("the gateway answered and closed")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_with_two_host_headers_is_refused_with_400() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream.authority(), "5s")).await;

    let answer = raw_exchange(
        gateway.address(),
        "GET /api/x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n",
    )
    .await;

    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("more than one Host"), "{answer}");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn an_absolute_form_request_is_routed_and_forwarded_with_the_same_host() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream.authority(), "5s")).await;

    let answer = raw_exchange(
        gateway.address(),
        "GET http://public.example/api/x HTTP/1.1\r\nHost: admin.example\r\nConnection: close\r\n\r\n",
    )
    .await;

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#""host":["public.example"]"#),
        "the upstream sees the routed host: {answer}"
    );
}
