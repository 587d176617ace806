//! `portcullis run` as a process: an `--access-log` flag given on the command line wins over the
//! manifest's `[access-log] destination`, while the table still decides what no flag gives (here
//! the format).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn the_access_log_flag_overrides_the_tables_destination_but_not_its_format() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let manifest = dir.path().join("portcullis.toml");
    std::fs::write(
        &manifest,
        format!(
            "[listeners.public]\naddress = \"127.0.0.1:{port}\"\n\n[access-log]\ndestination = \"table.log\"\nformat = \"common\"\n\n[upstreams.none]\ntargets = [\"127.0.0.1:9\"]\n\n[routes.all]\nupstream = \"none\"\nmatch.path-prefix = \"/\"\n"
        ),
    )
    .expect("write the manifest");
    let flag_log = dir.path().join("flag.log");
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--cache-dir")
        .arg(cache)
        .args(["run", "--no-watch", "--access-log"])
        .arg(&flag_log)
        .arg(&manifest)
        .env_remove("PORTCULLIS_ACCESS_LOG")
        .env_remove("PORTCULLIS_ACCESS_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portcullis");
    let started = Instant::now();
    let mut answer = None;
    while answer.is_none() && started.elapsed() < Duration::from_secs(30) {
        answer = get(port, "/flagged");
        if answer.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut line = String::new();
    while line.is_empty() && started.elapsed() < Duration::from_secs(30) {
        line = std::fs::read_to_string(&flag_log).unwrap_or_default();
        if line.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("the gateway answered");
    // The upstream (port 9) refuses: a 502, logged all the same.
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(
        line.contains("\"GET /flagged HTTP/1.1\" 502 "),
        "a common-format line in the flag's file: {line:?}"
    );
    assert!(!dir.path().join("table.log").exists());
}
