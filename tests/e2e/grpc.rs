//! gRPC pass-through: a tonic client reaches a real tonic server through the gateway, over
//! h2c on both sides, for every kind of call; statuses, messages and metadata arrive intact,
//! with or without plugins on the route.

use portcullis_tests::TestGateway;
use portcullis_tests::grpc::proto::EchoRequest;
use portcullis_tests::grpc::{self, GrpcUpstream};
use tokio_stream::StreamExt;

/// The Echo service behind a route for its package, speaking HTTP/2 to the server.
fn manifest(server: &GrpcUpstream, plugins: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]
protocol = "http2"

[routes.grpc]
upstream = "echo"
match.path-prefix = "/portcullis.test.v1.Echo/"
{plugins}"#,
        server.addr()
    )
}

fn request(message: &str, count: i32, fail_with: i32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        count,
        fail_with,
    }
}

#[tokio::test]
async fn a_unary_call_and_its_metadata_pass_through() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let gateway = TestGateway::start(&manifest(&server, "")).await;
    let mut client = grpc::client(gateway.address()).await.expect("connect");

    let mut call = tonic::Request::new(request("hello", 0, 0));
    call.metadata_mut()
        .insert("x-echo", "from-the-client".parse().expect("metadata"));
    let reply = client.unary(call).await.expect("the call succeeds");

    assert_eq!(reply.get_ref().message, "hello");
    assert_eq!(reply.get_ref().echo_metadata, "from-the-client");
    assert!(
        reply.metadata().get("via").is_some(),
        "the reply came through the gateway"
    );
}

#[tokio::test]
async fn a_failed_call_keeps_its_status_code_and_message() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let gateway = TestGateway::start(&manifest(&server, "")).await;
    let mut client = grpc::client(gateway.address()).await.expect("connect");

    let status = client
        .unary(request("no such echo", 0, tonic::Code::NotFound as i32))
        .await
        .expect_err("the server fails the call");

    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(status.message(), "no such echo");
}

#[tokio::test]
async fn server_streaming_delivers_every_message_then_the_trailing_status() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let gateway = TestGateway::start(&manifest(&server, "")).await;
    let mut client = grpc::client(gateway.address()).await.expect("connect");

    let mut stream = client
        .server_stream(request("tick", 5, tonic::Code::ResourceExhausted as i32))
        .await
        .expect("the stream opens")
        .into_inner();
    let mut messages = Vec::new();
    let mut end = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(reply) => messages.push(reply.message),
            Err(status) => end = Some(status),
        }
    }

    assert_eq!(messages, ["tick 0", "tick 1", "tick 2", "tick 3", "tick 4"]);
    let end = end.expect("the stream ends with the server's status, carried in trailers");
    assert_eq!(end.code(), tonic::Code::ResourceExhausted);
    assert_eq!(end.message(), "tick");
}

#[tokio::test]
async fn client_streaming_and_bidirectional_calls_pass_through() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let gateway = TestGateway::start(&manifest(&server, "")).await;
    let mut client = grpc::client(gateway.address()).await.expect("connect");

    let words = ["one", "two", "three"].map(|w| request(w, 0, 0));
    let joined = client
        .client_stream(tokio_stream::iter(words.clone()))
        .await
        .expect("the call succeeds");
    assert_eq!(joined.get_ref().message, "one two three");
    assert_eq!(joined.get_ref().index, 3);

    // Bidirectional: each reply must come back before the next request is sent, so the
    // gateway cannot be buffering either direction.
    let (send, receive) = tokio::sync::mpsc::channel(1);
    let mut replies = client
        .chat(tokio_stream::wrappers::ReceiverStream::new(receive))
        .await
        .expect("the chat opens")
        .into_inner();
    for (index, word) in words.into_iter().enumerate() {
        let message = word.message.clone();
        send.send(word).await.expect("send");
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), replies.next())
            .await
            .expect("the reply arrives while the call is open")
            .expect("a reply")
            .expect("not an error");
        assert_eq!(
            (reply.message, reply.index),
            (message, index as i32),
            "replies come back in order, one per request"
        );
    }
    drop(send);
    assert!(
        replies.next().await.is_none(),
        "the call ends cleanly with status OK"
    );
}

#[tokio::test]
async fn plugins_on_the_route_see_grpc_calls_and_trailers_survive_them() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let plugins = r#"
[[routes.grpc.plugins]]
plugin = "headers"
config = { request = { set = { x-echo = "set-by-a-plugin" } }, response = { set = { x-chain = "ran" } } }
"#;
    let gateway = TestGateway::start(&manifest(&server, plugins)).await;
    let mut client = grpc::client(gateway.address()).await.expect("connect");

    let reply = client
        .unary(request("hi", 0, 0))
        .await
        .expect("the call succeeds");
    assert_eq!(reply.get_ref().echo_metadata, "set-by-a-plugin");
    assert_eq!(
        reply
            .metadata()
            .get("x-chain")
            .and_then(|v| v.to_str().ok()),
        Some("ran")
    );

    let status = client
        .unary(request("denied", 0, tonic::Code::PermissionDenied as i32))
        .await
        .expect_err("the server fails the call");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(status.message(), "denied");
}
