//! `portcullis run` raises its soft open-file limit to the hard limit at start, as read from
//! `/proc/<pid>/limits`.

#![cfg(target_os = "linux")]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The soft and hard `Max open files` of process `pid` (`None` for unlimited).
fn open_files(pid: &str) -> (Option<u64>, Option<u64>) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a `Max open files` line");
    let values: Vec<Option<u64>> = line["Max open files".len()..]
        .split_whitespace()
        .take(2)
        .map(|v| v.parse().ok())
        .collect();
    (values[0], values[1])
}

#[test]
fn run_raises_the_soft_open_file_limit_to_the_hard_limit() {
    let (_, hard) = open_files("self");
    // Started with a soft limit below the hard one (when the hard limit allows it).
    let soft_at_start = hard.map_or(512, |h| h.min(1024) / 2).max(64);
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
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -S -n {soft_at_start} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--cache-dir")
        .arg(cache)
        .arg("run")
        .arg(&manifest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portcullis");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("portcullis did not listen within 30s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let (soft, hard_seen) = open_files(&child.id().to_string());
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(hard_seen, hard);
    assert_eq!(soft, hard, "the soft limit stayed at {soft:?}");
}
