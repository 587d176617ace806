//! A real WebSocket server for the tests (tokio-tungstenite): it echoes every text and binary
//! message, and answers the text `headers` with the handshake's request path and headers as
//! JSON, so a test can see what the gateway forwarded.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// The echo server, listening on 127.0.0.1 until dropped.
pub struct WebSocketUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl WebSocketUpstream {
    /// Starts the server on an ephemeral port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        Ok(Self { addr, task })
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebSocketUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: tokio::net::TcpStream) {
    let mut seen = serde_json::Map::new();
    // The callback's error type is tungstenite's, large by its design.
    #[allow(clippy::result_large_err)]
    let handshake = |request: &Request, response: Response| {
        seen.insert("path".into(), request.uri().path().into());
        for (name, value) in request.headers() {
            seen.insert(
                name.as_str().into(),
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            );
        }
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, handshake).await else {
        return;
    };
    let seen = serde_json::Value::Object(seen).to_string();
    while let Some(Ok(message)) = socket.next().await {
        let reply = match message {
            Message::Text(text) if text.as_str() == "headers" => Message::text(seen.clone()),
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
