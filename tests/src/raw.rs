//! Raw HTTP/1.1 over TCP, for requests a well-behaved client cannot make: unnormalised paths,
//! broken chunked bodies, bodies abandoned or left unfinished.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a raw exchange may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// Sends `request` as written, keeping the connection open, and returns everything the gateway
/// sends until it closes the connection (send `Connection: close`, or a request it must close
/// after: a broken or unfinished body).
pub async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("send the request");
    read_until_closed(&mut stream).await
}

/// Sends `request` (a head and the start of a body), then closes the sending side as a
/// client that gives up would; returns what the gateway sent before closing.
pub async fn abandon(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("send the request");
    stream.shutdown().await.expect("close the sending side");
    read_until_closed(&mut stream).await
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    // A reset after the answer (the gateway closing with unread input) ends the read too.
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("the gateway answered and closed within the deadline");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw answer (`0` when there is none).
pub fn status(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
