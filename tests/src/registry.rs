//! A real OCI registry for a test: the CNCF distribution registry (Debian's `docker-registry`)
//! on a free port of 127.0.0.1 with its own storage directory, killed when dropped and
//! restartable on the same port and storage (the "registry comes back" tests); optionally
//! serving TLS with a certificate from a test CA, and requiring a user and password (htpasswd,
//! bcrypt). A machine without it fails the test with a message saying how to install it: the
//! registry tests never skip silently.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::{free_port, wait_started};
use crate::tls::TestCa;

/// The user and password of a registry started with [`RegistryServer::start_secured`].
pub const USER: &str = "fleet";
/// See [`USER`].
pub const PASSWORD: &str = "s3cret-push";

/// The `service` a token registry names in its challenges and expects in tokens' `aud`.
pub const TOKEN_SERVICE: &str = "portcullis-test-registry";
/// The `iss` a token registry expects.
pub const TOKEN_ISSUER: &str = "portcullis-test-issuer";

/// A running (or stopped) registry.
pub struct RegistryServer {
    child: Option<Child>,
    port: u16,
    tls: bool,
    dir: tempfile::TempDir,
}

impl RegistryServer {
    /// A registry over plain HTTP, open to all.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry serving TLS with a certificate from `ca` for 127.0.0.1, and requiring
    /// [`USER`] and [`PASSWORD`] (HTTP Basic).
    pub fn start_secured(ca: &TestCa) -> Self {
        Self::start_with(Some(ca))
    }

    /// A registry over plain HTTP that requires tokens from the token service at `realm` (the
    /// flow of Docker Hub, GHCR, Harbor): tokens for [`TOKEN_SERVICE`] issued by
    /// [`TOKEN_ISSUER`], signed by a certificate that `root` (a PEM file) issued.
    pub fn start_with_tokens(realm: &str, root: &Path) -> Self {
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    \
             issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            root.display()
        );
        Self::start_configured(None, &auth)
    }

    fn start_with(ca: Option<&TestCa>) -> Self {
        Self::start_configured(ca, "")
    }

    fn start_configured(ca: Option<&TestCa>, auth: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the registry");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(ca) = ca {
            ca.cert.write(dir.path(), "ca");
            ca.server(&["127.0.0.1"]).write(dir.path(), "server");
            let hash = bcrypt::hash(PASSWORD, 5).expect("bcrypt");
            std::fs::write(dir.path().join("htpasswd"), format!("{USER}:{hash}\n"))
                .expect("write htpasswd");
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n\
                 auth:\n  htpasswd:\n    realm: portcullis-test\n    path: {}\n",
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display(),
                dir.path().join("htpasswd").display()
            ));
        }
        config.push_str(auth);
        std::fs::write(dir.path().join("config.yml"), config).expect("write the registry config");
        let mut server = Self {
            child: None,
            port,
            tls: ca.is_some(),
            dir,
        };
        server.restart();
        server
    }

    /// Starts it again on the same port and storage (after [`RegistryServer::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the registry is already running");
        let spawned = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`docker-registry` is not installed, and the registry tests need a real OCI \
                 registry: install it (`apt-get install docker-registry`; `.ci/run` does this) \
                 and run again"
            ),
            Err(e) => panic!("cannot start docker-registry: {e}"),
        };
        let (port, tls) = (self.port, self.tls);
        wait_started(
            &mut child,
            &format!("docker-registry on port {port}"),
            Duration::from_secs(20),
            || listening(port, tls),
        );
        self.child = Some(child);
    }

    /// `127.0.0.1:<port>`: the registry part of a reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oci://127.0.0.1:<port>/<repository>`.
    pub fn reference(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.host())
    }

    /// How a gateway reaches this registry when it serves plain HTTP, with its plugin store
    /// in `store`.
    pub fn plain_settings(&self, store: &Path) -> portcullis::oci::RegistrySettings {
        portcullis::oci::RegistrySettings {
            plain_http: vec![self.host()],
            store: Some(store.to_owned()),
            ..portcullis::oci::RegistrySettings::default()
        }
    }

    /// The CA file a gateway needs to trust it (a secured registry only).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Writes a Docker `config.json` with this registry's credentials into `dir`; returns it.
    pub fn write_auth(&self, dir: &Path, password: &str) -> PathBuf {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        let file = dir.join("registry-auth.json");
        std::fs::write(
            &file,
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.host()),
        )
        .expect("write the registry credentials");
        file
    }

    /// Kills it (SIGKILL) and waits for it to exit; its storage stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The prebuilt `headers` component (built from this repo), made a distinct artifact by a
/// custom section naming `version`: the same behaviour, another digest, as a rebuilt plugin
/// has. Custom sections may follow the last section of a component; the engine ignores them.
pub fn headers_component(version: &str) -> Vec<u8> {
    let mut bytes = portcullis::plugin::catalog::get("headers")
        .expect("the headers plugin is embedded")
        .to_vec();
    let name = b"portcullis-test-version";
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name);
    payload.extend_from_slice(version.as_bytes());
    bytes.push(0); // custom section
    bytes.extend(leb128(payload.len()));
    bytes.extend(payload);
    bytes
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Whether it accepts connections (a TLS one answers the TCP handshake; a plain one also
/// answers `GET /v2/`).
fn listening(port: u16, tls: bool) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    if tls {
        return true;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
    let request = "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.1 401")
}
