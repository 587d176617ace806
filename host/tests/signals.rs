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

/// A free port on 127.0.0.1 (free a moment ago).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on `port`, the whole answer as text (`Connection: close`).
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    // `localhost`: the admin API answers only to its own names.
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

fn manifest(port: u16, admin: u16, upstream: u16, version: &str) -> String {
    format!(
        r#"[listeners.public]
address = "127.0.0.1:{port}"

[admin]
address = "127.0.0.1:{admin}"

[upstreams.none]
targets = ["127.0.0.1:{upstream}"]

[routes.all]
upstream = "none"
match.path-prefix = "/"

[[routes.all.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-config-version = "{version}" }} }} }}
"#
    )
}

#[test]
fn sighup_reloads_the_manifest_in_the_same_process() {
    let (port, admin, upstream) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, manifest(port, admin, upstream, "one")).expect("write the manifest");
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--cache-dir")
        .arg(cache)
        .args(["run", "--no-watch"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portcullis");
    let started = Instant::now();
    let mut first = None;
    while started.elapsed() < Duration::from_secs(30) && first.is_none() {
        first = get(port, "/");
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = first.expect("the gateway answers");
    // No upstream listens: a 502, decorated by the route's plugin all the same.
    assert!(first.contains("x-config-version: one"), "{first}");

    std::fs::write(&path, manifest(port, admin, upstream, "two")).expect("rewrite");
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(hup.success());
    let mut reloaded = false;
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(20) && !reloaded {
        reloaded = get(port, "/").is_some_and(|a| a.contains("x-config-version: two"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = get(admin, "/status").unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();

    assert!(reloaded, "SIGHUP applied the new manifest");
    assert!(
        status.contains(&format!("\"pid\":{}", child.id())),
        "the same process serves: {status}"
    );
    assert!(status.contains("\"trigger\":\"signal\""), "{status}");
}
