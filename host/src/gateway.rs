//! The gateway as a whole: load a manifest into a snapshot, bind its listeners, serve.
//! Used by the CLI, the quickstart example and the tests alike.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Manifest;
use crate::listener::Listener;
use crate::plugin::{Runtime, RuntimeOptions, catalog};
use crate::snapshot::{Current, LoadError, Snapshot};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The manifest or one of its plugins is invalid.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The Wasm engine could not be set up.
    #[error(transparent)]
    Engine(#[from] crate::plugin::EngineError),
    /// A listener could not bind its address.
    #[error("listener `{name}` cannot bind {address}: {source}")]
    Bind {
        /// The listener's name.
        name: String,
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Parses, validates and builds a snapshot of the manifest at `path`, as `portcullis check` does.
pub async fn load(runtime: &Runtime, path: &Path, version: u64) -> Result<Snapshot, LoadError> {
    let prebuilt: Vec<&str> = catalog::names().collect();
    let manifest = Manifest::load(path, &prebuilt).map_err(|diagnostics| LoadError {
        errors: diagnostics.render_each(),
    })?;
    Snapshot::build(runtime, manifest, version).await
}

/// A gateway that is serving.
pub struct Running {
    addresses: Vec<(String, SocketAddr)>,
    current: Arc<Current>,
    runtime: Arc<Runtime>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Sets up the Wasm runtime, loads `path` and starts serving on its listeners.
    pub async fn start(path: &Path, options: &RuntimeOptions) -> Result<Self, StartError> {
        Self::start_with(Arc::new(Runtime::new(options)?), path).await
    }

    /// Loads `path` with an existing runtime and starts serving on its listeners.
    pub async fn start_with(runtime: Arc<Runtime>, path: &Path) -> Result<Self, StartError> {
        let snapshot = load(&runtime, path, 1).await?;
        let mut listeners = Vec::new();
        for spec in &snapshot.manifest.listeners {
            let listener = Listener::bind(&spec.name, spec.address)
                .await
                .map_err(|source| StartError::Bind {
                    name: spec.name.clone(),
                    address: spec.address,
                    source,
                })?;
            let address = listener.local_addr().map_err(|source| StartError::Bind {
                name: spec.name.clone(),
                address: spec.address,
                source,
            })?;
            listeners.push((spec.name.clone(), address, listener));
        }
        let current = Arc::new(Current::new(snapshot));
        let (shutdown, watch) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut addresses = Vec::new();
        for (name, address, listener) in listeners {
            tracing::info!(listener = %name, %address, "listening");
            addresses.push((name, address));
            tasks.spawn(listener.serve(current.clone(), watch.clone()));
        }
        Ok(Self {
            addresses,
            current,
            runtime,
            shutdown,
            tasks,
        })
    }

    /// The bound address of each listener, by name.
    pub fn addresses(&self) -> &[(String, SocketAddr)] {
        &self.addresses
    }

    /// The address of the listener named `name`.
    pub fn address(&self, name: &str) -> Option<SocketAddr> {
        self.addresses
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// The snapshot in service.
    pub fn current(&self) -> &Arc<Current> {
        &self.current
    }

    /// The Wasm runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Stops accepting connections at once, without waiting.
    pub fn abort(mut self) {
        let _ = self.shutdown.send(true);
        self.tasks.abort_all();
    }

    /// Stops accepting connections and waits for the accept loops to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
