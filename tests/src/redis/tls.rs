//! A Redis server speaking TLS, with a certificate for 127.0.0.1 from a test CA of its own and
//! client certificates required (mTLS), as `redis-server --tls-port` does it. It also listens in
//! plain text, for the test's own `redis-cli` checks only.

use std::path::PathBuf;

use super::{RedisServer, free_port};
use crate::tls::TestCa;

/// A running TLS `redis-server` and the files a gateway needs to reach it.
pub struct TlsRedis {
    /// The server (its plain port is for the test's own checks).
    pub server: RedisServer,
    tls_port: u16,
    dir: tempfile::TempDir,
}

impl TlsRedis {
    /// Starts a server on free ports; `ca.pem`, `client.pem` and `client.key` are written for
    /// the gateways, and `other-ca.pem`, a CA that did not issue the server's certificate.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a directory for the TLS files");
        let ca = TestCa::new("Portcullis Redis test CA");
        ca.server(&["127.0.0.1", "localhost"])
            .write(dir.path(), "server");
        ca.client("gateway", "gateway.test")
            .write(dir.path(), "client");
        std::fs::write(dir.path().join("ca.pem"), &ca.cert.cert_pem).expect("write the CA");
        let other = TestCa::new("Another CA");
        std::fs::write(dir.path().join("other-ca.pem"), &other.cert.cert_pem)
            .expect("write the other CA");
        let tls_port = free_port();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let options = [
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            file("server.pem"),
            "--tls-key-file".to_owned(),
            file("server.key"),
            "--tls-ca-cert-file".to_owned(),
            file("ca.pem"),
            "--tls-auth-clients".to_owned(),
            "yes".to_owned(),
        ];
        let server = RedisServer::start_with(free_port(), &options);
        Self {
            server,
            tls_port,
            dir,
        }
    }

    /// `rediss://127.0.0.1:<tls port>`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }

    /// A file written at start: `ca.pem`, `other-ca.pem`, `client.pem`, `client.key`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
