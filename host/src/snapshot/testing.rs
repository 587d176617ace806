//! What the in-process tests of the snapshot and of the layers above it (the listener, the
//! reloader) share: one Wasm runtime, manifests written to a temporary directory, an upstream
//! that answers every request alike, and a raw HTTP/1.1 client, all on real sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::plugin::{Runtime, RuntimeOptions};

/// One runtime for the test process, as in production (each engine reserves address space for
/// its instance pool). Compiled components are cached where the integration tests cache them.
pub(crate) fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let options = RuntimeOptions {
                cache_dir: Some(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache"),
                ),
                no_cache: false,
                ..Default::default()
            };
            Arc::new(Runtime::new(&options).expect("the Wasm runtime starts"))
        })
        .clone()
}

/// A temporary directory holding `portcullis.toml`.
pub(crate) struct ManifestDir {
    dir: tempfile::TempDir,
}

impl ManifestDir {
    /// A directory with `manifest` written in it.
    pub(crate) fn new(manifest: &str) -> Self {
        let dir = Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        dir.write(manifest);
        dir
    }

    /// Replaces the manifest's text.
    pub(crate) fn write(&self, manifest: &str) {
        std::fs::write(self.path(), manifest).expect("the manifest is written");
    }

    /// The manifest's path.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("portcullis.toml")
    }
}

/// An upstream on `127.0.0.1:0` answering every request `200` with `body`, then closing the
/// connection; it serves until the test's runtime ends.
pub(crate) async fn upstream(body: &'static str) -> SocketAddr {
    let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = socket.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = socket.accept().await {
            tokio::spawn(async move {
                if read_head(&mut stream).await.is_some() {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    address
}

/// An answer as the client read it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: u16,
    /// The head: status line and header fields, lower-cased.
    pub(crate) head: String,
    /// The body.
    pub(crate) body: String,
}

impl Answer {
    /// The value of header `name` (lower-case), if the head has it.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            (field == name).then(|| value.trim())
        })
    }
}

/// Sends `method path` with `host` on a new connection to `address`, asking it to close, and
/// reads the whole answer; `None` when the connection closes without one.
pub(crate) async fn send(address: SocketAddr, method: &str, path: &str) -> Option<Answer> {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: example.com\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    read_answer(&mut stream).await
}

/// Sends `GET path` on `stream` and reads its answer, leaving the connection open (the answer
/// must have a `content-length`); `None` when the connection closes first.
pub(crate) async fn exchange(stream: &mut TcpStream, path: &str) -> Option<Answer> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: example.com\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let answer = Answer {
            status: head.split(' ').nth(1)?.parse().ok()?,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        };
        let length: usize = answer.header("content-length")?.parse().ok()?;
        if answer.body.len() >= length {
            return Some(answer);
        }
    }
}

/// Reads one answer to the end of the connection; `None` when nothing came.
pub(crate) async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

/// Reads a request's head (up to the blank line); `None` when the connection ends first.
async fn read_head(stream: &mut TcpStream) -> Option<()> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..n]);
    }
    Some(())
}
