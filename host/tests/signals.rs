//! `portcullis run` as a process: SIGTERM stops it gracefully and it exits 0.

#![cfg(unix)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_closes_the_listener_and_exits_0() {
    // A port that was free a moment ago; the gateway binds it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let manifest = dir.path().join("portcullis.toml");
    std::fs::write(
        &manifest,
        format!(
            "[listeners.public]\naddress = \"127.0.0.1:{port}\"\n\n[upstreams.none]\ntargets = [\"127.0.0.1:9\"]\n\n[routes.all]\nupstream = \"none\"\nmatch.path-prefix = \"/\"\n"
        ),
    )
    .expect("write the manifest");
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--cache-dir")
        .arg(cache)
        .args(["run", "--shutdown-timeout", "5s"])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start portcullis");
    let started = Instant::now();
    let mut connected = None;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            connected = Some(stream);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = connected.expect("the gateway listens");
    idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("send a request");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).expect("an answer");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for portcullis") {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("portcullis did not exit within 10s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    assert!(status.success(), "exit status {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "an idle connection held the shutdown for {:?}",
        stopping.elapsed()
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
