//! The HTTP/1 and HTTP/2 front end through a real socket: one gateway per fuzz process on
//! 127.0.0.1:0 in front of an echo upstream; each input is written raw to a new connection,
//! whose answer is read until the gateway closes it or a short deadline passes. The property:
//! no panic anywhere in the process (libFuzzer's panic hook aborts on any thread), no hang, and
//! the gateway keeps serving: a well-formed request on a fresh connection is answered after
//! every input.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use portcullis::gateway::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one input's connection may stay open: the gateway has no reason to wait longer for
/// more bytes than a client would, and a fuzz run must keep going.
const DEADLINE: Duration = Duration::from_millis(200);
/// How long the gateway may take to answer the liveness request.
const LIVENESS: Duration = Duration::from_secs(5);

/// The gateway's address; it serves for the whole process.
fn gateway() -> SocketAddr {
    static ADDRESS: OnceLock<SocketAddr> = OnceLock::new();
    *ADDRESS.get_or_init(|| {
        let upstream = portcullis_fuzz::echo_upstream();
        let dir = tempfile::tempdir().expect("a directory").keep();
        let path = dir.join("portcullis.toml");
        // Two routes: one plain, one through a plugin (headers), so both request paths run.
        let manifest = format!(
            r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{upstream}"]

[routes.plain]
upstream = "echo"
match.path-prefix = "/"

[routes.plugged]
upstream = "echo"
match.path-prefix = "/p"

[[routes.plugged.plugins]]
plugin = "headers"
config = {{ request = {{ set = {{ x-fuzz = "1" }} }}, response = {{ set = {{ x-seen = "1" }} }} }}
"#
        );
        std::fs::write(&path, manifest).expect("write the manifest");
        let runtime = portcullis_fuzz::wasm_runtime();
        portcullis_fuzz::tokio().block_on(async move {
            let running = Running::start_with(runtime, &path)
                .await
                .unwrap_or_else(|e| panic!("the gateway does not start: {e}"));
            let address = running.addresses()[0].1;
            // Serve until the process ends.
            std::mem::forget(running);
            address
        })
    })
}

/// Writes `bytes` to a new connection and reads until EOF, an error or the deadline.
async fn exchange(address: SocketAddr, bytes: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        panic!("the gateway refused a connection");
    };
    let _ = tokio::time::timeout(DEADLINE, async {
        // The gateway may answer and close before reading everything: a write error is fine.
        let _ = stream.write_all(bytes).await;
        let mut sink = [0u8; 16 << 10];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A well-formed request on a fresh connection gets a whole response.
async fn still_serving(address: SocketAddr) {
    let answered = tokio::time::timeout(LIVENESS, async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        let request = b"GET /alive HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n\r\n";
        stream.write_all(request).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response)
    })
    .await;
    match answered {
        Ok(Some(response)) => assert!(
            response.starts_with(b"HTTP/1.1 200"),
            "the liveness request got: {}",
            String::from_utf8_lossy(&response)
        ),
        Ok(None) => panic!("the liveness request failed"),
        Err(_) => panic!("the gateway did not answer a liveness request within {LIVENESS:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let address = gateway();
    portcullis_fuzz::tokio().block_on(async {
        exchange(address, data).await;
        still_serving(address).await;
    });
});
