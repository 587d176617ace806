//! A real Redis server for a test: `redis-server` on a free port of 127.0.0.1, without
//! persistence, killed when dropped. A machine without `redis-server` fails the test with a
//! message saying how to install it: the Redis tests never skip silently.
//!
//! For a fleet's state: a server over TLS (`tls`), a master with a replica watched by three
//! sentinels (`sentinel`), and a three-master Cluster (`cluster`), all on 127.0.0.1 with
//! ephemeral ports, all killed when dropped.

pub mod cluster;
pub mod sentinel;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::ports::free_port;
use crate::ports::wait_started;

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> Self {
        let port = free_port();
        Self::start_on(port)
    }

    /// Starts a server on `port` (to bring one back where a killed one was).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// Starts a server on `port` with more command-line options (`--tls-port ...`,
    /// `--replicaof ...`, `--cluster-enabled yes`, ...).
    pub fn start_with(port: u16, options: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(options);
        let mut child = spawn(command);
        wait_started(
            &mut child,
            &format!("redis-server on port {port}"),
            Duration::from_secs(10),
            || answers(port),
        );
        Self {
            child: Some(child),
            port,
            _dir: dir,
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs a command with `redis-cli` and returns its output (`redis-cli` comes with
    /// `redis-server`, in Debian's `redis-tools`).
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// Whether it answers `PING` with `PONG`.
    pub fn answers(&self) -> bool {
        answers(self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `command` (a `redis-server`), its output thrown away; fails the test, saying what to
/// install, when it is missing.
pub(crate) fn spawn(mut command: Command) -> Child {
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`redis-server` is not installed, and the Redis state tests need a real server: \
             install it (`apt-get install redis-server`; `.ci/run` does this) and run again"
        ),
        Err(e) => panic!("cannot start redis-server: {e}"),
    }
}

/// `redis-cli -p <port> <args>` (plain TCP), its standard output; fails the test when
/// `redis-cli` is missing or fails.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`redis-cli` is not installed, and the Redis fleet tests need it: install \
             `redis-tools` (`apt-get install redis-server` brings it; `.ci/run` does this)"
        ),
        Err(e) => panic!("cannot run redis-cli: {e}"),
    };
    assert!(
        output.status.success(),
        "redis-cli -p {port} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits up to `within` for `ready`, polling every 50 ms; fails the test with `what` if it
/// never holds.
pub fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the server (or sentinel) on `port` answers `PING` with `PONG`, over plain TCP.
pub fn answers(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
