//! Hot reload: build a complete new snapshot away from the request path and swap it in at
//! once, or refuse it and keep serving the old one.
//!
//! Every trigger (a file change seen by `watch`, a change of the manifest's key in etcd seen by
//! `etcd`, SIGHUP, `POST /reload` on the admin API, a call from a test) goes through
//! [`Reloader::reload`], which runs one reload at a time:
//!
//! 1. parse and validate the manifest; compile the components whose content changed (the
//!    others come from the runtime's cache, and compiling happens on a blocking thread); init
//!    every plugin with its config; carry over unchanged upstreams (pools, health);
//! 2. bind the listeners that are new (a failure to bind refuses the reload);
//! 3. swap the snapshot: requests in flight finish on the one they started with, new requests
//!    get the new one, open connections stay open;
//! 4. drain the listeners the manifest no longer has, and drop the compilations that neither
//!    this snapshot nor the one before uses, so that reloads do not pile up memory.
//!
//! Any failure before the swap leaves the old snapshot serving; the errors (file, line and
//! column, or plugin and route) are logged and kept as the last outcome for the admin API.

pub mod cache;
mod error;
pub mod etcd;
mod listeners;
mod source;
#[cfg(test)]
mod tests;
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use self::listeners::Listeners;
use crate::listener::ConnectionCap;
use crate::observe::access_log::{AccessLog, Overrides, Settings};
use crate::plugin::Runtime;
use crate::snapshot::{self, Current, ManifestInput, Snapshot};

pub use error::{Refusal, ReloadError, StartError};
pub use source::{RemoteManifest, SourceStatus};

use self::source::Origin;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A watched file changed.
    FileChange,
    /// The manifest's key in etcd changed.
    Etcd,
    /// SIGHUP.
    Signal,
    /// `POST /reload` on the admin API.
    Admin,
    /// A direct call (embedding, tests).
    Call,
}

/// How one reload ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// What asked for it.
    pub trigger: Trigger,
    /// When it finished, in seconds since the Unix epoch.
    pub finished_at: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The version now serving: the new one, or the old one when refused.
    pub version: u64,
    /// Empty when the new snapshot was swapped in; else why it was refused.
    pub errors: Vec<String>,
}

/// Reload counts and the last outcome, for the admin API.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct History {
    /// Reloads that swapped in a new snapshot.
    pub succeeded: u64,
    /// Reloads that were refused.
    pub failed: u64,
    /// The most recent one.
    pub last: Option<Outcome>,
}

/// Who decides where access lines go.
pub enum AccessLogSource {
    /// A log the caller opened, kept whatever the manifest says (embedding, tests).
    Fixed(AccessLog),
    /// The command line's flags over the manifest's `[access-log]`, followed on reload.
    Configured(Overrides),
}

/// Owns the snapshot in service and the listeners, and applies reloads one at a time.
pub struct Reloader {
    /// For a configured access log: the flags, and the settings in force.
    access: Mutex<Option<(Overrides, Settings)>>,
    origin: Origin,
    /// How messages name the source (the path, or `etcd:/prefix/manifest`).
    label: PathBuf,
    source_status: Mutex<SourceStatus>,
    runtime: Arc<Runtime>,
    current: Arc<Current>,
    listeners: tokio::sync::Mutex<Listeners>,
    /// The bound listeners, readable without waiting for a reload to finish.
    addresses: Mutex<Vec<(String, SocketAddr)>>,
    history: Mutex<History>,
    drain_timeout: Duration,
    connection_cap: Arc<ConnectionCap>,
    /// When the gateway started (for its uptime).
    started: std::time::SystemTime,
}

impl Reloader {
    /// Loads `path` as version 1, binds its listeners and starts serving, with access lines
    /// where `access_log` says. Listeners that a later reload removes get `drain_timeout` to
    /// finish their requests.
    pub async fn start(
        runtime: Arc<Runtime>,
        path: &Path,
        drain_timeout: Duration,
        access_log: AccessLogSource,
    ) -> Result<Self, StartError> {
        let status = SourceStatus::File {
            path: path.display().to_string(),
        };
        let origin = Origin::File(path.to_owned());
        Self::start_from(runtime, origin, status, drain_timeout, access_log).await
    }

    /// Like [`Reloader::start`], with a manifest from etcd (or its cache): `url` and `key` say
    /// where it lives, for `GET /status`. Later reloads load what
    /// [`Reloader::reload_remote`] last gave.
    pub async fn start_remote(
        runtime: Arc<Runtime>,
        manifest: RemoteManifest,
        (url, key): (String, String),
        drain_timeout: Duration,
        access_log: AccessLogSource,
    ) -> Result<Self, StartError> {
        let status = SourceStatus::Etcd {
            url,
            key,
            revision: manifest.revision,
            from_cache: manifest.from_cache,
            connected: !manifest.from_cache,
        };
        let origin = Origin::Remote(Mutex::new(manifest));
        Self::start_from(runtime, origin, status, drain_timeout, access_log).await
    }

    async fn start_from(
        runtime: Arc<Runtime>,
        origin: Origin,
        source_status: SourceStatus,
        drain_timeout: Duration,
        access_log: AccessLogSource,
    ) -> Result<Self, StartError> {
        let (input, _) = origin.input();
        let snapshot = snapshot::load_from(&runtime, &input, 1, None).await?;
        let (access_log, access) = match access_log {
            AccessLogSource::Fixed(log) => (log, None),
            AccessLogSource::Configured(overrides) => {
                let settings = Settings::resolve(&overrides, &snapshot.manifest.access_log);
                let log = AccessLog::open_settings(&settings)?;
                (log, Some((overrides, settings)))
            }
        };
        let mut listeners = Listeners::default();
        let bound = listeners
            .bind_new(&snapshot.manifest.listeners)
            .await
            .map_err(|(spec, source)| StartError::Bind {
                name: spec.name.clone(),
                address: spec.address,
                source,
            })?;
        let current = Arc::new(Current::with_access_log(snapshot, access_log));
        listeners.apply(bound, &[], &current, drain_timeout);
        let connection_cap = listeners.cap.clone();
        let reloader = Self {
            access: Mutex::new(access),
            label: origin.label(),
            origin,
            source_status: Mutex::new(source_status),
            runtime,
            current,
            addresses: Mutex::new(listeners.addresses()),
            listeners: tokio::sync::Mutex::new(listeners),
            history: Mutex::new(History::default()),
            drain_timeout,
            connection_cap,
            started: std::time::SystemTime::now(),
        };
        Ok(reloader)
    }

    /// When the gateway started serving.
    pub fn started(&self) -> std::time::SystemTime {
        self.started
    }

    /// Client connections open on every listener, and their cap.
    pub fn connections(&self) -> &ConnectionCap {
        &self.connection_cap
    }

    /// The snapshot in service.
    pub fn current(&self) -> &Arc<Current> {
        &self.current
    }

    /// The manifest's path, or for a manifest from etcd its name (`etcd:/prefix/manifest`).
    pub fn path(&self) -> &Path {
        &self.label
    }

    /// The manifest file, when the manifest is one (not when it comes from etcd).
    pub fn manifest_file(&self) -> Option<&Path> {
        self.origin.file()
    }

    /// Where the manifest in service came from, as `GET /status` shows it.
    pub fn source_status(&self) -> SourceStatus {
        match self.source_status.lock() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records whether the etcd watch is connected; once connected, etcd has confirmed that
    /// the manifest in service is its `revision` (or a reload follows), so it no longer counts
    /// as served from the cache when `revision` is the one in service.
    pub fn set_remote_connected(&self, connected: bool, revision: Option<i64>) {
        if let Ok(mut status) = self.source_status.lock()
            && let SourceStatus::Etcd {
                connected: now,
                from_cache,
                revision: serving,
                ..
            } = &mut *status
        {
            *now = connected;
            if revision == Some(*serving) {
                *from_cache = false;
            }
        }
    }

    /// Makes `manifest` (from etcd) the one to load, and reloads: the same path as a file
    /// reload, so an invalid manifest is refused and the one in service keeps serving.
    pub async fn reload_remote(
        &self,
        manifest: RemoteManifest,
        trigger: Trigger,
    ) -> Result<u64, ReloadError> {
        if let Origin::Remote(latest) = &self.origin {
            match latest.lock() {
                Ok(mut latest) => *latest = manifest,
                Err(poisoned) => *poisoned.into_inner() = manifest,
            }
        }
        self.reload(trigger).await
    }

    /// Records a reload refused before loading (a value in etcd that is not UTF-8 text), as
    /// the history and metrics record any refusal.
    pub fn record_refusal(&self, trigger: Trigger, error: String) {
        let serving = self.current.load().version;
        tracing::error!(
            ?trigger,
            serving,
            "reload refused; the previous configuration keeps serving:\n{error}"
        );
        self.current.metrics().reloaded(false);
        if let Ok(mut history) = self.history.lock() {
            history.failed += 1;
            history.last = Some(Outcome {
                trigger,
                finished_at: now_secs(),
                duration_ms: 0,
                version: serving,
                errors: vec![error],
            });
        }
    }

    /// The bound address of each listener, by name.
    pub fn addresses(&self) -> Vec<(String, SocketAddr)> {
        self.addresses.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Reload counts and the last outcome.
    pub fn history(&self) -> History {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Rebuilds the snapshot from the manifest on disk and swaps it in, or refuses it (see the
    /// module's documentation). Returns the version serving afterwards, or why it was refused.
    pub async fn reload(&self, trigger: Trigger) -> Result<u64, ReloadError> {
        let mut listeners = self.listeners.lock().await;
        let started = std::time::Instant::now();
        let previous = self.current.load();
        let version = previous.version + 1;
        let (input, remote) = self.origin.input();
        let built = match self.load_guarded(input, version, previous.clone()).await {
            Ok(snapshot) => match self.reopen_access_log(&snapshot.manifest.access_log) {
                Err(source) => Err(Refusal::AccessLog {
                    manifest: self.label.clone(),
                    source,
                }),
                Ok(reopened) => match listeners.bind_new(&snapshot.manifest.listeners).await {
                    Ok(bound) => Ok((snapshot, bound, reopened)),
                    Err((spec, source)) => Err(Refusal::Bind {
                        name: spec.name.clone(),
                        address: spec.address,
                        source,
                    }),
                },
            },
            Err(refusal) => Err(refusal),
        };
        let result = match built {
            Ok((snapshot, bound, reopened)) => {
                let snapshot = Arc::new(snapshot);
                // Before the swap: whoever sees the new snapshot serve sees its revision too.
                if let Some(remote) = &remote
                    && let Ok(mut status) = self.source_status.lock()
                    && let SourceStatus::Etcd {
                        revision,
                        from_cache,
                        ..
                    } = &mut *status
                {
                    *revision = remote.revision;
                    *from_cache = remote.from_cache;
                }
                self.current.swap(snapshot.clone());
                if let Some((log, settings)) = reopened {
                    // Requests in flight keep the log they started with; its writer drains
                    // their lines, then closes.
                    self.current.set_access_log(log);
                    if let Ok(mut access) = self.access.lock()
                        && let Some((_, in_force)) = access.as_mut()
                    {
                        *in_force = settings;
                    }
                }
                listeners.apply(
                    bound,
                    &snapshot.manifest.listeners,
                    &self.current,
                    self.drain_timeout,
                );
                if let Ok(mut addresses) = self.addresses.lock() {
                    *addresses = listeners.addresses();
                }
                // Two generations stay compiled: switching back and forth (a canary, a
                // rollback) costs no recompilation, and memory stays bounded.
                let mut keep = snapshot.plugin_hashes();
                keep.extend(previous.plugin_hashes());
                self.runtime.retain_compiled(&keep);
                tracing::info!(?trigger, version, "reloaded");
                Ok(version)
            }
            Err(refusal) => {
                let error = ReloadError::from(refusal);
                tracing::error!(
                    ?trigger,
                    serving = previous.version,
                    "reload refused; the previous configuration keeps serving:\n{}",
                    error.join("\n")
                );
                Err(error)
            }
        };
        let outcome = Outcome {
            trigger,
            finished_at: now_secs(),
            duration_ms: started.elapsed().as_millis() as u64,
            version: *result.as_ref().unwrap_or(&previous.version),
            errors: result.as_ref().map_or_else(|e| e.to_vec(), |_| Vec::new()),
        };
        self.current.metrics().reloaded(result.is_ok());
        if let Ok(mut history) = self.history.lock() {
            match &result {
                Ok(_) => history.succeeded += 1,
                Err(_) => history.failed += 1,
            }
            history.last = Some(outcome);
        }
        result
    }

    /// Loads the manifest as `version` on a task of its own, so that a panic while loading (a
    /// bug: loading reports bad input as errors) refuses this reload, is recorded like any
    /// refusal, and leaves the trigger that asked for it (the watcher, SIGHUP, the admin API)
    /// alive for the next one.
    async fn load_guarded(
        &self,
        input: ManifestInput,
        version: u64,
        previous: Arc<Snapshot>,
    ) -> Result<Snapshot, Refusal> {
        let runtime = self.runtime.clone();
        let task = tokio::spawn(async move {
            snapshot::load_from(&runtime, &input, version, Some(&previous)).await
        });
        match task.await {
            Ok(loaded) => Ok(loaded?),
            Err(failure) => Err(Refusal::Interrupted {
                manifest: self.label.clone(),
                reason: failure_reason(failure),
            }),
        }
    }

    /// The access log a reload to `table` needs, when it changes where or how lines are
    /// written; `None` when it changes nothing (or the log is fixed).
    fn reopen_access_log(
        &self,
        table: &crate::config::AccessLogConfig,
    ) -> Result<Option<(AccessLog, Settings)>, crate::observe::access_log::OpenError> {
        let access = self.access.lock().map(|a| a.clone()).unwrap_or_default();
        let Some((overrides, in_force)) = access else {
            return Ok(None);
        };
        let settings = Settings::resolve(&overrides, table);
        if settings == in_force {
            return Ok(None);
        }
        Ok(Some((AccessLog::open_settings(&settings)?, settings)))
    }

    /// Stops every listener (active and draining): no new connections, requests in flight get
    /// until `deadline`, and returns when all are done.
    pub async fn stop(&self, deadline: Instant) {
        self.listeners.lock().await.stop(deadline).await;
    }

    /// Drops every listener and connection at once.
    pub fn abort(&self) {
        if let Ok(mut listeners) = self.listeners.try_lock() {
            listeners.abort();
        }
    }
}

/// Now, in seconds since the Unix epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What ended a loading task that did not return: its panic message, or that it was cancelled.
fn failure_reason(failure: tokio::task::JoinError) -> String {
    match failure.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            format!("panic: {message}")
        }
        Err(_) => "the loading task was cancelled".to_owned(),
    }
}
