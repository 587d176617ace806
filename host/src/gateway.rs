//! The gateway as a whole: load a manifest into a snapshot, bind its listeners, serve.
//! Used by the CLI, the quickstart example and the tests alike.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::Manifest;
use crate::listener::Listener;
use crate::plugin::{Runtime, RuntimeOptions, catalog};
use crate::snapshot::{Current, LoadError, Snapshot};
use crate::tls::{self, TlsAcceptor};

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
/// The listeners' TLS files are read and checked too.
pub async fn load(runtime: &Runtime, path: &Path, version: u64) -> Result<Snapshot, LoadError> {
    load_with_tls(runtime, path, version)
        .await
        .map(|(snapshot, _)| snapshot)
}

/// Like [`load`], with the TLS acceptor of each listener (`None` for plain ones), in order.
async fn load_with_tls(
    runtime: &Runtime,
    path: &Path,
    version: u64,
) -> Result<(Snapshot, Vec<Option<TlsAcceptor>>), LoadError> {
    let prebuilt: Vec<&str> = catalog::names().collect();
    let manifest = Manifest::load(path, &prebuilt).map_err(|diagnostics| LoadError {
        errors: diagnostics.render_each(),
    })?;
    let mut tls_errors = Vec::new();
    let mut acceptors = Vec::new();
    for listener in &manifest.listeners {
        match tls::acceptor(listener) {
            Ok(acceptor) => acceptors.push(acceptor),
            Err(diagnostics) => tls_errors.extend(
                diagnostics
                    .iter()
                    .map(|diagnostic| manifest.source.render(diagnostic)),
            ),
        }
    }
    match Snapshot::build(runtime, manifest, version).await {
        Ok(snapshot) if tls_errors.is_empty() => Ok((snapshot, acceptors)),
        Ok(_) => Err(LoadError { errors: tls_errors }),
        Err(mut error) => {
            error.errors.extend(tls_errors);
            Err(error)
        }
    }
}

/// How long [`Running::stop`] lets requests in flight finish (`--shutdown-timeout`).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A gateway that is serving.
pub struct Running {
    addresses: Vec<(String, SocketAddr)>,
    current: Arc<Current>,
    runtime: Arc<Runtime>,
    shutdown: watch::Sender<Option<Instant>>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Sets up the Wasm runtime, loads `path` and starts serving on its listeners.
    pub async fn start(path: &Path, options: &RuntimeOptions) -> Result<Self, StartError> {
        Self::start_with(Arc::new(Runtime::new(options)?), path).await
    }

    /// Loads `path` with an existing runtime and starts serving on its listeners.
    pub async fn start_with(runtime: Arc<Runtime>, path: &Path) -> Result<Self, StartError> {
        let (snapshot, acceptors) = load_with_tls(&runtime, path, 1).await?;
        let mut listeners = Vec::new();
        for (spec, acceptor) in snapshot.manifest.listeners.iter().zip(acceptors) {
            let listener = Listener::bind(&spec.name, spec.address)
                .await
                .map_err(|source| StartError::Bind {
                    name: spec.name.clone(),
                    address: spec.address,
                    source,
                })?
                .with_tls(acceptor)
                .with_redirect(spec.redirect_to_https);
            let address = listener.local_addr().map_err(|source| StartError::Bind {
                name: spec.name.clone(),
                address: spec.address,
                source,
            })?;
            listeners.push((spec.name.clone(), address, listener));
        }
        let current = Arc::new(Current::new(snapshot));
        let (shutdown, watch) = watch::channel(None);
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

    /// Stops at once: closes the listeners and drops every connection, requests in flight
    /// included (for tests).
    pub fn abort(mut self) {
        let _ = self.shutdown.send(Some(Instant::now()));
        self.tasks.abort_all();
    }

    /// Shuts down gracefully within [`DEFAULT_SHUTDOWN_TIMEOUT`]; see [`Running::stop_within`].
    pub async fn stop(self) {
        self.stop_within(DEFAULT_SHUTDOWN_TIMEOUT).await;
    }

    /// Shuts down gracefully: stops accepting connections at once, tells open connections to
    /// close once their requests in flight are answered, waits for them up to `timeout`, then
    /// drops those still open.
    pub async fn stop_within(mut self, timeout: Duration) {
        let _ = self.shutdown.send(Some(Instant::now() + timeout));
        while self.tasks.join_next().await.is_some() {}
    }
}
