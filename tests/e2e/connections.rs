//! Client connections are bounded (`[limits]`): one that sends nothing is closed after
//! `header-timeout`, an idle keep-alive connection after `keepalive-timeout` (HTTP/2 with a
//! GOAWAY), and beyond `max-connections` new connections are closed at accept and counted while
//! the open ones keep working.

use std::time::{Duration, Instant};

use portcullis_tests::{Client, EchoUpstream, TestGateway, metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn manifest(upstream: &EchoUpstream, limits: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[limits]
{limits}

[upstreams.backend]
targets = ["{}"]

[routes.all]
upstream = "backend"
match.path-prefix = "/"
"#,
        upstream.authority()
    )
}

/// The value of a connection metric of listener `public` on the admin API.
async fn connection_metric(gateway: &TestGateway, name: &str, labels: &[(&str, &str)]) -> f64 {
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));
    let samples = metrics::parse(&admin.get("/metrics").await.text());
    let mut labels = labels.to_vec();
    labels.push(("listener", "public"));
    metrics::value(&samples, name, &labels).unwrap_or(0.0)
}

/// Reads until the peer closes; how long that took. Panics if it stays open for `limit`.
async fn wait_for_close(stream: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("the connection was still open after {limit:?}"));
        match read {
            Ok(0) | Err(_) => return (started.elapsed(), received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Sends a request's head one byte every 50 ms (120 bytes: six seconds if nothing cuts it
/// short) until the gateway closes the connection, then waits for the close.
async fn trickle_until_closed(stream: &mut TcpStream) {
    let trickle = format!(
        "GET / HTTP/1.1\r\nhost: example.com\r\nx-slow: {}",
        "z".repeat(80)
    );
    for byte in trickle.as_bytes() {
        if stream.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_close(stream, Duration::from_secs(5)).await;
}

/// Sends one keep-alive request and reads its whole response (the echo upstream's JSON).
async fn request(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nhost: example.com\r\n\r\n")
        .await
        .expect("send a request");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.expect("read the response");
        assert!(n > 0, "closed before a whole response");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("a content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let upstream = EchoUpstream::start("backend").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"header-timeout = "300ms""#)).await;

    let mut silent = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    let (after, received) = wait_for_close(&mut silent, Duration::from_secs(5)).await;

    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
    assert!(received.is_empty());
    let closed = connection_metric(
        &gateway,
        "portcullis_connections_timed_out_total",
        &[("timeout", "header")],
    )
    .await;
    assert_eq!(closed, 1.0);
}

#[tokio::test]
async fn a_request_that_trickles_in_is_cut_at_the_header_timeout() {
    let upstream = EchoUpstream::start("backend").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"header-timeout = "400ms""#)).await;

    let mut slow = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    let started = Instant::now();
    trickle_until_closed(&mut slow).await;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_request_that_trickles_in_on_a_kept_alive_connection_is_cut_at_its_keepalive_deadline() {
    // The watchdog alone bounds it (hyper's own header timer is off): a connection held by a
    // request that never completes is closed when an idle one would be, or `header-timeout`
    // after the request's first byte when that is later.
    let upstream = EchoUpstream::start("backend").await;
    let limits = r#"header-timeout = "400ms"
keepalive-timeout = "1s""#;
    let gateway = TestGateway::start(&manifest(&upstream, limits)).await;

    let mut client = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    assert!(request(&mut client).await.starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    trickle_until_closed(&mut client).await;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        upstream.requests(),
        1,
        "only the first request went through"
    );
}

#[tokio::test]
async fn an_idle_keepalive_http1_connection_is_closed_after_the_keepalive_timeout() {
    let upstream = EchoUpstream::start("backend").await;
    let limits = r#"header-timeout = "200ms"
keepalive-timeout = "800ms""#;
    let gateway = TestGateway::start(&manifest(&upstream, limits)).await;

    let mut client = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    // Kept alive past the header timeout: a second request after 400 ms is served.
    assert!(request(&mut client).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(request(&mut client).await.starts_with("HTTP/1.1 200"));
    let (after, received) = wait_for_close(&mut client, Duration::from_secs(5)).await;

    assert!(
        after >= Duration::from_millis(700),
        "closed after {after:?}"
    );
    assert!(received.is_empty());
    let closed = connection_metric(
        &gateway,
        "portcullis_connections_timed_out_total",
        &[("timeout", "keepalive")],
    )
    .await;
    assert_eq!(closed, 1.0);
}

/// HTTP/2 frame types, RFC 9113 section 6.
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;

#[tokio::test]
async fn an_h2c_connection_that_opens_no_stream_gets_a_goaway_after_the_header_timeout() {
    let upstream = EchoUpstream::start("backend").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"header-timeout = "300ms""#)).await;

    let mut client = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("send the preface");
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    client
        .write_all(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0])
        .await
        .expect("send SETTINGS");
    let (after, received) = wait_for_close(&mut client, Duration::from_secs(10)).await;

    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
    let frames = frame_types(&received);
    assert_eq!(frames.first(), Some(&SETTINGS), "{frames:?}");
    assert!(frames.contains(&GOAWAY), "no GOAWAY among {frames:?}");
}

/// The type of each whole frame in `bytes`.
fn frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let length = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        types.push(rest[3]);
        rest = &rest[(9 + length).min(rest.len())..];
    }
    types
}

#[tokio::test]
async fn beyond_max_connections_new_connections_are_closed_and_counted_while_open_ones_work() {
    let upstream = EchoUpstream::start("backend").await;
    let gateway = TestGateway::start(&manifest(&upstream, "max-connections = 2")).await;
    let mut first = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    let mut second = TcpStream::connect(gateway.address())
        .await
        .expect("connect");
    assert!(request(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(request(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(gateway.address())
        .await
        .expect("the kernel accepts");
    let _ = third
        .write_all(b"GET /hello HTTP/1.1\r\nhost: example.com\r\n\r\n")
        .await;
    let (_, received) = wait_for_close(&mut third, Duration::from_secs(5)).await;

    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    assert!(request(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(request(&mut second).await.starts_with("HTTP/1.1 200"));
    // The admin API is outside the cap: operators are never locked out.
    assert_eq!(
        connection_metric(&gateway, "portcullis_connections_refused_total", &[]).await,
        1.0
    );
    assert_eq!(
        connection_metric(&gateway, "portcullis_connections_open", &[]).await,
        2.0
    );
    drop(first);
    let served = tokio::time::timeout(Duration::from_secs(5), async {
        // The gateway notices the closed connection soon; until then the cap may refuse.
        loop {
            let mut attempt = TcpStream::connect(gateway.address())
                .await
                .expect("connect");
            let _ = attempt
                .write_all(b"GET /hello HTTP/1.1\r\nhost: example.com\r\n\r\n")
                .await;
            let mut buffer = [0u8; 12];
            if attempt.read_exact(&mut buffer).await.is_ok() {
                return buffer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a slot is free again once a connection closes");
    assert_eq!(&served, b"HTTP/1.1 200");
}
