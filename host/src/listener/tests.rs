//! The listener as specifications, on real sockets: the connection cap closes a connection at
//! accept while open ones keep working, across every listener; a plain listener told to
//! redirect answers `301` or `308` without calling an upstream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{ConnectionCap, Listener};
use crate::snapshot::testing::{ManifestDir, exchange, read_answer, runtime, send, upstream};
use crate::snapshot::{Current, load};

/// Listeners `public` and `other` (`listener` appended to `public`'s table), `[limits]`
/// as given, and one route to `upstream`.
fn manifest(upstream: SocketAddr, listener: &str, limits: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"
{listener}

[listeners.other]
address = "127.0.0.1:0"

[limits]
{limits}

[upstreams.echo]
targets = ["{upstream}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"
"#
    )
}

/// Serves listeners `public` and `other` of `manifest`, sharing `cap`, until the test ends.
struct Serving {
    public: SocketAddr,
    other: SocketAddr,
    _stop: watch::Sender<Option<Instant>>,
    _dir: ManifestDir,
}

async fn serve(manifest: &str, cap: &Arc<ConnectionCap>) -> Serving {
    let dir = ManifestDir::new(manifest);
    let snapshot = load(&runtime(), &dir.path(), 1, None).await.expect("loads");
    let current = Arc::new(Current::new(snapshot));
    let (stop, stopped) = watch::channel(None);
    let mut addresses = Vec::new();
    for name in ["public", "other"] {
        let listener = Listener::bind(name, "127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("bind");
        addresses.push(listener.local_addr().expect("an address"));
        tokio::spawn(listener.serve(current.clone(), cap.clone(), stopped.clone()));
    }
    Serving {
        public: addresses[0],
        other: addresses[1],
        _stop: stop,
        _dir: dir,
    }
}

/// Waits until `cap` counts `open` connections (a closed one is noticed soon, not at once).
async fn until_open(cap: &ConnectionCap, open: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while cap.open() != open {
        assert!(Instant::now() < deadline, "{} open, not {open}", cap.open());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connects to `address`, sends a request and reads until the connection ends.
async fn refused(address: SocketAddr) -> bool {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("the kernel accepts");
    let _ = stream
        .write_all(b"GET / HTTP/1.1\r\nhost: example.com\r\n\r\n")
        .await;
    read_answer(&mut stream).await.is_none()
}

#[tokio::test]
async fn a_connection_over_the_cap_is_closed_at_accept_while_open_ones_work() {
    let backend = upstream("ok").await;
    let cap = Arc::new(ConnectionCap::new(1_000));
    let gateway = serve(&manifest(backend, "", "max-connections = 1"), &cap).await;

    let mut first = TcpStream::connect(gateway.public).await.expect("connect");
    let answer = exchange(&mut first, "/").await.expect("served");
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
    assert_eq!(cap.open(), 1);

    assert!(refused(gateway.public).await, "closed without an answer");
    assert_eq!(cap.open(), 1, "the refused connection took no slot");
    let answer = exchange(&mut first, "/").await.expect("still served");
    assert_eq!(answer.status, 200);

    drop(first);
    until_open(&cap, 0).await;
    let answer = send(gateway.public, "GET", "/")
        .await
        .expect("a slot is free");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn the_cap_counts_connections_on_every_listener_together() {
    let backend = upstream("ok").await;
    let cap = Arc::new(ConnectionCap::new(1_000));
    let gateway = serve(&manifest(backend, "", "max-connections = 1"), &cap).await;

    let mut open = TcpStream::connect(gateway.public).await.expect("connect");
    assert_eq!(exchange(&mut open, "/").await.expect("served").status, 200);

    assert!(
        refused(gateway.other).await,
        "the other listener is at the cap too"
    );
}

#[tokio::test]
async fn without_max_connections_the_caps_default_applies() {
    let backend = upstream("ok").await;
    let cap = Arc::new(ConnectionCap::new(1));
    let gateway = serve(&manifest(backend, "", ""), &cap).await;

    let mut open = TcpStream::connect(gateway.public).await.expect("connect");
    assert_eq!(exchange(&mut open, "/").await.expect("served").status, 200);

    assert!(refused(gateway.public).await);
}

#[tokio::test]
async fn a_keep_alive_connection_that_gave_its_buffers_back_is_served_again() {
    let backend = upstream("ok").await;
    let cap = Arc::new(ConnectionCap::new(1_000));
    let gateway = serve(&manifest(backend, "", ""), &cap).await;

    let mut stream = TcpStream::connect(gateway.public).await.expect("connect");
    assert_eq!(
        exchange(&mut stream, "/").await.expect("served").status,
        200
    );
    // Quiet past `QUIET`: the connection is served anew when bytes come.
    tokio::time::sleep(super::http::QUIET + Duration::from_millis(700)).await;
    assert_eq!(
        exchange(&mut stream, "/")
            .await
            .expect("served again")
            .status,
        200
    );
    // Again, with the request arriving in two pieces.
    tokio::time::sleep(super::http::QUIET + Duration::from_millis(700)).await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nho")
        .await
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = exchange_rest(&mut stream, b"st: example.com\r\n\r\n").await;
    assert_eq!(answer.expect("served in pieces").status, 200);
    assert_eq!(cap.open(), 1);
}

/// Sends the rest of a request whose start was sent, and reads the answer.
async fn exchange_rest(
    stream: &mut TcpStream,
    rest: &[u8],
) -> Option<crate::snapshot::testing::Answer> {
    use tokio::io::AsyncReadExt;
    stream.write_all(rest).await.ok()?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") || !received.ends_with(b"ok") {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some(crate::snapshot::testing::Answer {
        status: head.split(' ').nth(1)?.parse().ok()?,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

#[tokio::test]
async fn an_idle_connection_holds_no_http_state_in_its_task() {
    // What a connection's task is sized for, whatever state it is in: hyper's connection and
    // its buffers are boxed while they serve, and dropped while the connection is quiet.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("an address"))
        .await
        .expect("connect");
    let (stream, peer) = listener.accept().await.expect("accepted");
    let dir = ManifestDir::new(&manifest(peer, "", ""));
    let snapshot = load(&runtime(), &dir.path(), 1, None).await.expect("loads");
    let current = Arc::new(Current::new(snapshot));
    let shared = Arc::new(super::Shared {
        name: "public".into(),
        metrics: current.metrics().listener("public"),
        current,
        cap: Arc::new(ConnectionCap::new(1)),
    });
    let serving = super::http::Serving {
        conn: crate::proxy::ConnInfo {
            peer,
            tls: false,
            path: Default::default(),
        },
        identity: None,
        redirect: None,
        limits: Default::default(),
        activity: super::watchdog::Activity::new(Instant::now()),
    };
    let (_drain, draining) = watch::channel(false);
    let task = super::http::serve(stream, serving, &shared, draining.clone());
    let size = std::mem::size_of_val(&task);
    assert!(size <= 2048, "HTTP on a connection holds {size} bytes");
    drop(task);
    // The whole task, TLS handshake included (boxed).
    let (stream, peer) = {
        let _client = TcpStream::connect(listener.local_addr().expect("an address"))
            .await
            .expect("connect");
        listener.accept().await.expect("accepted")
    };
    let accepted = super::Accepted {
        stream,
        peer,
        at: Instant::now(),
        tls: None,
        redirect: None,
        path: Default::default(),
        limits: Default::default(),
        slot: shared.cap.enter(None).expect("a slot"),
    };
    let task = super::connection(accepted, shared.clone(), draining);
    let size = std::mem::size_of_val(&task);
    assert!(size <= 2560, "a connection's task holds {size} bytes");
    drop((task, client));
}

#[tokio::test]
async fn a_redirecting_listener_answers_get_with_301_and_other_methods_with_308() {
    // No upstream listens there: a proxied request would fail.
    let nowhere: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    let cap = Arc::new(ConnectionCap::new(1_000));
    let gateway = serve(&manifest(nowhere, "redirect-to-https = 8443", ""), &cap).await;

    let get = send(gateway.public, "GET", "/a/b?q=1")
        .await
        .expect("answered");
    assert_eq!(get.status, 301);
    assert_eq!(
        get.header("location"),
        Some("https://example.com:8443/a/b?q=1")
    );
    assert_eq!(get.header("content-length"), Some("0"));

    let post = send(gateway.public, "POST", "/orders")
        .await
        .expect("answered");
    assert_eq!(post.status, 308, "the client repeats the method and body");
    assert_eq!(
        post.header("location"),
        Some("https://example.com:8443/orders")
    );

    let plain = send(gateway.other, "GET", "/a").await.expect("answered");
    assert_eq!(plain.status, 502, "the other listener proxies");
}
