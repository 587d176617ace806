//! A real gateway for a test: the manifest written to a temporary directory, listeners on
//! ephemeral ports, served in the test's own tokio runtime.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use portcullis::gateway::Running;
use portcullis::observe::access_log::AccessLog;
use portcullis::plugin::{Runtime, RuntimeOptions};

use crate::client::Client;

/// One Wasm runtime for the whole test process, as in production: each engine reserves address
/// space for its instance pool, and compiled components are shared.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::new(&options()).expect("the Wasm runtime starts")))
        .clone()
}

/// A runtime of its own for a gateway that pulls plugins from registries with `registries`
/// (its credentials, CA, store): as a gateway process has. Fewer instance slots than the
/// shared runtime's, so that several fit in the test process's address space.
pub fn runtime_with_registries(registries: portcullis::oci::RegistrySettings) -> Arc<Runtime> {
    Arc::new(
        Runtime::new(&RuntimeOptions {
            instance_slots: 32,
            registries,
            ..options()
        })
        .expect("the Wasm runtime starts"),
    )
}

/// Compiled components are cached under `target/`, so reruns do not recompile.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache")
}

/// A gateway serving a manifest.
pub struct TestGateway {
    running: Option<Running>,
    dir: tempfile::TempDir,
}

impl TestGateway {
    /// Starts a gateway on `manifest`. In the text, `@MISBEHAVE@` is replaced by the path of the
    /// `misbehave` test component and `@ABI_0_1_0@` by that of `abi-0-1-0`; listeners should
    /// use `127.0.0.1:0`.
    pub async fn start(manifest: &str) -> Self {
        Self::try_start(manifest)
            .await
            .unwrap_or_else(|e| panic!("the gateway did not start:\n{e}"))
    }

    /// Like `start`, returning the error instead.
    pub async fn try_start(manifest: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        Self::try_start_in(dir, manifest).await
    }

    /// Like `start`, with the manifest written in `dir` (which may hold files it names).
    pub async fn start_in(dir: tempfile::TempDir, manifest: &str) -> Self {
        Self::try_start_in(dir, manifest)
            .await
            .unwrap_or_else(|e| panic!("the gateway did not start:\n{e}"))
    }

    /// Like `start`, with access lines written by `access_log` instead of the log.
    pub async fn start_with_access_log(manifest: &str, access_log: AccessLog) -> Self {
        let dir = tempfile::tempdir().expect("a directory");
        Self::try_start_with(dir, manifest, Some(access_log))
            .await
            .unwrap_or_else(|e| panic!("the gateway did not start:\n{e}"))
    }

    async fn try_start_in(dir: tempfile::TempDir, manifest: &str) -> Result<Self, String> {
        Self::try_start_with(dir, manifest, None).await
    }

    /// Starts with access lines to `access_log`, or where the manifest's `[access-log]` says.
    async fn try_start_with(
        dir: tempfile::TempDir,
        manifest: &str,
        access_log: Option<AccessLog>,
    ) -> Result<Self, String> {
        let path = dir.path().join("portcullis.toml");
        let text = manifest
            .replace("@MISBEHAVE@", crate::guests::MISBEHAVE)
            .replace("@ABI_0_1_0@", crate::guests::ABI_0_1_0);
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let running = match access_log {
            Some(access_log) => Running::start_with_access_log(runtime(), &path, access_log).await,
            None => Running::start_with(runtime(), &path).await,
        };
        let running = running.map_err(|e| e.to_string())?;
        Ok(Self {
            running: Some(running),
            dir,
        })
    }

    /// The address of the first listener.
    pub fn address(&self) -> SocketAddr {
        self.running().addresses()[0].1
    }

    /// An HTTP/1.1 client for the first listener.
    pub fn client(&self) -> Client {
        Client::http1(self.address())
    }

    /// An h2c client for the first listener.
    pub fn h2c_client(&self) -> Client {
        Client::h2c(self.address())
    }

    /// An HTTP/1.1 client for the admin API (the manifest must have `[admin]`).
    pub fn admin_client(&self) -> Client {
        admin_client(self.running())
    }

    /// The entry of plugin `name` in the admin API's `GET /plugins`.
    pub async fn plugin_entry(&self, name: &str) -> serde_json::Value {
        let listing = self.admin_client().get("/plugins").await.json();
        listing["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no plugin `{name}` in {listing}"))
    }

    /// The running gateway.
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("the gateway is running")
    }

    /// The running gateway, to change how it runs (watch files).
    pub fn running_mut(&mut self) -> &mut Running {
        self.running.as_mut().expect("the gateway is running")
    }

    /// The directory holding the manifest.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// The options of the tests' runtime: compiled components cached under `target/`.
pub fn options() -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(cache_dir()),
        no_cache: false,
        ..Default::default()
    }
}

/// An HTTP/1.1 client for the admin API of `gateway` (its manifest must have `[admin]`), for
/// gateways started without a [`TestGateway`] (from etcd, from a registry).
pub fn admin_client(gateway: &Running) -> Client {
    Client::http1(gateway.admin_address().expect("an admin API"))
}
