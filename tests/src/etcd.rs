//! A real etcd for a test: `etcd` (Debian's `etcd-server`) on free ports of 127.0.0.1 with a
//! data directory of its own, killed when dropped, and restartable on the same ports and data
//! (the "etcd comes back" tests); optionally serving TLS and requiring client certificates.
//! Health is read on a plain-HTTP metrics port of its own, so it reads the same with TLS. A machine without `etcd` fails the test with a message saying
//! how to install it: the fleet tests never skip silently.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::{free_port, wait_started};
use crate::tls::TestCa;

/// A running (or stopped) single-member etcd.
pub struct EtcdServer {
    child: Option<Child>,
    client_port: u16,
    peer_port: u16,
    metrics_port: u16,
    tls: bool,
    dir: tempfile::TempDir,
}

impl EtcdServer {
    /// Starts a member on free ports and waits until it reports itself healthy.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a member serving TLS with a certificate from `ca` for 127.0.0.1, and requiring
    /// client certificates signed by `ca`.
    pub fn start_tls(ca: &TestCa) -> Self {
        Self::start_with(Some(ca))
    }

    fn start_with(ca: Option<&TestCa>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for etcd");
        if let Some(ca) = ca {
            ca.cert.write(dir.path(), "ca");
            ca.server(&["127.0.0.1"]).write(dir.path(), "server");
        }
        let mut server = Self {
            child: None,
            client_port: free_port(),
            peer_port: free_port(),
            metrics_port: free_port(),
            tls: ca.is_some(),
            dir,
        };
        server.restart();
        server
    }

    /// Starts the member again, on the same ports and data (after [`EtcdServer::kill`]); what
    /// was written before is still there.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        let scheme = if self.tls { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let metrics = format!("http://127.0.0.1:{}", self.metrics_port);
        let mut command = Command::new("etcd");
        if self.tls {
            let file = |name: &str| self.dir.path().join(name);
            command
                .arg("--cert-file")
                .arg(file("server.pem"))
                .arg("--key-file")
                .arg(file("server.key"))
                .arg("--trusted-ca-file")
                .arg(file("ca.pem"))
                .arg("--client-cert-auth");
        }
        let spawned = command
            .args(["--name", "fleet-test"])
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("fleet-test={peer}")])
            .args(["--listen-metrics-urls", &metrics])
            .args(["--log-level", "error", "--logger", "zap"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`etcd` is not installed, and the fleet tests need a real etcd: install it \
                 (`apt-get install etcd-server`; `.ci/run` does this) and run again"
            ),
            Err(e) => panic!("cannot start etcd: {e}"),
        };
        let metrics_port = self.metrics_port;
        wait_started(
            &mut child,
            &format!("etcd on port {}", self.client_port),
            Duration::from_secs(20),
            || healthy_at(metrics_port),
        );
        self.child = Some(child);
    }

    /// `etcd://127.0.0.1:<port>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://127.0.0.1:{}/{prefix}", self.client_port)
    }

    /// The directory holding `ca.pem` (and, for TLS, the server's certificate and key).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Whether `GET /health` on the metrics port answers `"health":"true"`.
    pub fn healthy(&self) -> bool {
        healthy_at(self.metrics_port)
    }

    /// Kills the member (SIGKILL) and waits for it to exit; its data stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether etcd's `GET /health` on `metrics_port` answers `"health":"true"`.
fn healthy_at(metrics_port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
    let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.contains("\"health\":\"true\"")
}
