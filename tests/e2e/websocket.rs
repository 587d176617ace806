//! HTTP/1.1 upgrades: a WebSocket client reaches a real WebSocket server through the gateway;
//! plugins decide on the handshake like on any request; an idle tunnel is closed after the
//! route's `idle-timeout`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use portcullis_tests::TestGateway;
use portcullis_tests::websocket::WebSocketUpstream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn manifest(server: &WebSocketUpstream, route_extra: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.ws]
targets = ["{}"]

[routes.live]
upstream = "ws"
match.path-prefix = "/live"
{route_extra}"#,
        server.addr()
    )
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
    let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a message arrives")
        .expect("the socket is open")
        .expect("a valid message");
    message.into_text().expect("a text message").to_string()
}

#[tokio::test]
async fn websocket_messages_flow_both_ways_through_the_gateway() {
    let server = WebSocketUpstream::start()
        .await
        .expect("the WebSocket server starts");
    let gateway = TestGateway::start(&manifest(&server, "")).await;

    let (mut socket, response) =
        tokio_tungstenite::connect_async(format!("ws://{}/live/feed", gateway.address()))
            .await
            .expect("the handshake succeeds through the gateway");
    assert_eq!(response.status(), 101);
    assert!(response.headers().contains_key("via"));

    for text in ["one", "two", "three"] {
        socket.send(Message::text(text)).await.expect("send");
        assert_eq!(next_text(&mut socket).await, text);
    }
    let binary = vec![0u8, 1, 2, 255];
    socket
        .send(Message::binary(binary.clone()))
        .await
        .expect("send");
    let echoed = socket.next().await.expect("a reply").expect("valid");
    assert_eq!(echoed.into_data().to_vec(), binary);

    socket.send(Message::text("headers")).await.expect("send");
    let seen: serde_json::Value =
        serde_json::from_str(&next_text(&mut socket).await).expect("JSON");
    assert_eq!(seen["path"], "/live/feed");
    assert_eq!(seen["upgrade"], "websocket");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["via"], "1.1 portcullis");
    socket.close(None).await.expect("close");
}

#[tokio::test]
async fn plugins_decide_on_the_handshake() {
    let server = WebSocketUpstream::start()
        .await
        .expect("the WebSocket server starts");
    let plugins = r#"
[[routes.live.plugins]]
plugin = "key-auth"
config = { consumers = { alice = ["k-123"] } }
"#;
    let gateway = TestGateway::start(&manifest(&server, plugins)).await;
    let url = format!("ws://{}/live", gateway.address());

    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401 handshake, got {other:?}"),
    }

    let mut request = url.into_client_request().expect("a request");
    request
        .headers_mut()
        .insert("apikey", "k-123".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the handshake with a key succeeds");
    socket.send(Message::text("hello")).await.expect("send");
    assert_eq!(next_text(&mut socket).await, "hello");
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_after_the_routes_idle_timeout() {
    let server = WebSocketUpstream::start()
        .await
        .expect("the WebSocket server starts");
    let gateway = TestGateway::start(&manifest(&server, r#"idle-timeout = "300ms""#)).await;

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/live", gateway.address()))
            .await
            .expect("the handshake succeeds");
    // Traffic keeps it open past the timeout...
    for _ in 0..4 {
        socket.send(Message::text("ping")).await.expect("send");
        assert_eq!(next_text(&mut socket).await, "ping");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...silence closes it.
    let end = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("the gateway closes the idle tunnel");
    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "no message, the connection ends: {end:?}"
    );
}

#[tokio::test]
async fn an_upstream_that_declines_the_upgrade_answers_as_usual() {
    // An HTTP server that does not speak WebSocket answers the handshake with a plain 200.
    let upstream = portcullis_tests::EchoUpstream::start("plain").await;
    let manifest = portcullis_tests::manifest::one_route(&upstream, "");
    let gateway = TestGateway::start(&manifest).await;

    let result = tokio_tungstenite::connect_async(format!("ws://{}/", gateway.address())).await;

    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 200);
            let body = response.body().as_deref().unwrap_or_default();
            let seen: serde_json::Value = serde_json::from_slice(body).expect("the echo's JSON");
            assert_eq!(
                seen["headers"]["upgrade"][0], "websocket",
                "the upstream was asked to upgrade"
            );
        }
        other => panic!("expected the upstream's 200, got {other:?}"),
    }
}
