//! The gateway as a whole: load a manifest (a file, or a key in etcd) into a snapshot, bind its
//! listeners, serve. Used by the CLI, the quickstart example and the tests alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::admin;
use crate::config::EtcdSource;
use crate::observe::access_log::{AccessLog, Overrides};
use crate::plugin::{Runtime, RuntimeOptions};
use crate::reload::AccessLogSource;
use crate::reload::cache::ManifestCache;
use crate::reload::etcd;
use crate::reload::{Reloader, Trigger};
use crate::snapshot::Current;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The manifest, a listener or the access log stopped the start.
    #[error(transparent)]
    Serve(#[from] crate::reload::StartError),
    /// The manifest could not be read from etcd, nor from the cache.
    #[error(transparent)]
    Etcd(#[from] crate::reload::etcd::InitialError),
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

/// How long [`Running::stop`] lets requests in flight finish (`--shutdown-timeout`).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A gateway that is serving.
pub struct Running {
    reloader: Arc<Reloader>,
    runtime: Arc<Runtime>,
    admin: Option<(SocketAddr, AbortOnDrop)>,
    watcher: Option<AbortOnDrop>,
    etcd: Option<AbortOnDrop>,
}

impl Running {
    /// Sets up the Wasm runtime, loads `path` and starts serving on its listeners, with access
    /// lines where the command line's `overrides` and the manifest's `[access-log]` say.
    pub async fn start(
        path: &Path,
        options: &RuntimeOptions,
        overrides: Overrides,
    ) -> Result<Self, StartError> {
        let runtime = Arc::new(Runtime::new(options)?);
        Self::start_from(runtime, path, AccessLogSource::Configured(overrides)).await
    }

    /// Loads `path` with an existing runtime and starts serving on its listeners, and on the
    /// admin API's when the manifest has `[admin]`. Access lines go where the manifest's
    /// `[access-log]` says (the `access` log target by default).
    pub async fn start_with(runtime: Arc<Runtime>, path: &Path) -> Result<Self, StartError> {
        let source = AccessLogSource::Configured(Overrides::default());
        Self::start_from(runtime, path, source).await
    }

    /// Like [`Running::start_with`], with access lines to `access_log` whatever the manifest
    /// says.
    pub async fn start_with_access_log(
        runtime: Arc<Runtime>,
        path: &Path,
        access_log: AccessLog,
    ) -> Result<Self, StartError> {
        Self::start_from(runtime, path, AccessLogSource::Fixed(access_log)).await
    }

    /// Reads the manifest from etcd (or, when etcd cannot be reached, from the cache of the
    /// last good one in `cache_dir`), starts serving it, and follows its key: every change
    /// reloads (see `reload::etcd`). `cache_dir` `None` keeps no cache.
    pub async fn start_etcd(
        runtime: Arc<Runtime>,
        source: EtcdSource,
        cache_dir: Option<PathBuf>,
        overrides: Overrides,
    ) -> Result<Self, StartError> {
        // Before the listeners: the default connection cap follows the raised limit.
        crate::listener::raise_open_file_limit();
        let cache = cache_dir.map(|dir| ManifestCache::new(&dir, &source));
        let manifest = etcd::initial(&source, cache.as_ref()).await?;
        let origin = (source.url(), source.manifest_key());
        let reloader = Reloader::start_remote(
            runtime.clone(),
            manifest.clone(),
            origin,
            DEFAULT_SHUTDOWN_TIMEOUT,
            AccessLogSource::Configured(overrides),
        )
        .await?;
        if !manifest.from_cache
            && let Some(cache) = &cache
            && let Err(e) = cache.store(&manifest)
        {
            tracing::warn!(
                cache = %cache.path().display(),
                error = %e,
                "cannot cache the manifest; a restart without etcd would not find it"
            );
        }
        let mut running = Self::serve(runtime, Arc::new(reloader)).await?;
        let task = etcd::follow(running.reloader.clone(), source, cache, manifest.revision);
        running.etcd = Some(AbortOnDrop(task));
        Ok(running)
    }

    async fn start_from(
        runtime: Arc<Runtime>,
        path: &Path,
        access_log: AccessLogSource,
    ) -> Result<Self, StartError> {
        // Before the listeners: the default connection cap follows the raised limit.
        crate::listener::raise_open_file_limit();
        let reloader = Arc::new(
            Reloader::start(runtime.clone(), path, DEFAULT_SHUTDOWN_TIMEOUT, access_log).await?,
        );
        Self::serve(runtime, reloader).await
    }

    /// Starts the admin API, when the manifest has `[admin]`, beside a started reloader.
    async fn serve(runtime: Arc<Runtime>, reloader: Arc<Reloader>) -> Result<Self, StartError> {
        let limits = reloader.current().load().manifest.limits;
        tracing::info!(
            max_connections = limits
                .max_connections
                .unwrap_or(reloader.connections().default_max),
            from_manifest = limits.max_connections.is_some(),
            "client connection cap"
        );
        let admin_spec = reloader.current().load().manifest.admin.clone();
        let admin = match admin_spec {
            Some(spec) => {
                let (address, task) =
                    admin::start(&spec, reloader.clone())
                        .await
                        .map_err(|source| StartError::Bind {
                            name: "admin".into(),
                            address: spec.address,
                            source,
                        })?;
                tracing::info!(%address, "admin API listening");
                Some((address, AbortOnDrop(task)))
            }
            None => None,
        };
        Ok(Self {
            reloader,
            runtime,
            admin,
            watcher: None,
            etcd: None,
        })
    }

    /// Reloads when the manifest, a plugin file or a TLS file it names changes (see
    /// `reload::watch`).
    pub fn watch_files(&mut self) -> Result<(), crate::reload::watch::WatchError> {
        let task = crate::reload::watch::spawn(self.reloader.clone())?;
        self.watcher = Some(AbortOnDrop(task));
        Ok(())
    }

    /// Reloads the manifest now; the version serving afterwards, or why it was refused.
    pub async fn reload(&self) -> Result<u64, crate::reload::ReloadError> {
        self.reloader.reload(Trigger::Call).await
    }

    /// The reloader, for triggers of its own (SIGHUP).
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// The bound address of each listener, by name.
    pub fn addresses(&self) -> Vec<(String, SocketAddr)> {
        self.reloader.addresses()
    }

    /// The address of the listener named `name`.
    pub fn address(&self, name: &str) -> Option<SocketAddr> {
        self.addresses()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    /// The admin API's address, when the manifest has `[admin]`.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(address, _)| *address)
    }

    /// The snapshot in service.
    pub fn current(&self) -> &Arc<Current> {
        self.reloader.current()
    }

    /// The Wasm runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Stops at once: closes the listeners and drops every connection, requests in flight
    /// included (for tests).
    pub fn abort(self) {
        self.reloader.abort();
    }

    /// Shuts down gracefully within [`DEFAULT_SHUTDOWN_TIMEOUT`]; see [`Running::stop_within`].
    pub async fn stop(self) {
        self.stop_within(DEFAULT_SHUTDOWN_TIMEOUT).await;
    }

    /// Shuts down gracefully: stops accepting connections at once, tells open connections to
    /// close once their requests in flight are answered, waits for them up to `timeout`, then
    /// drops those still open.
    pub async fn stop_within(self, timeout: Duration) {
        drop(self.watcher);
        drop(self.etcd);
        drop(self.admin);
        self.reloader.stop(Instant::now() + timeout).await;
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
