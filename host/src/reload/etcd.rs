//! The manifest from etcd: read it at start, watch its key, and reload through the same
//! [`Reloader`] path as a file change (validate fully, swap atomically, refuse and keep serving
//! on error). `docs/fleet.md` says how a fleet uses it.
//!
//! Following the key survives etcd going away: on every (re)connection the watcher first reads
//! the key (a change made while it was away is applied then), then watches from the revision
//! of that read plus one, so no change falls between the read and the watch, and compaction
//! cannot lose one (a watch that asks for a compacted revision is cancelled, and the next
//! connection reads the key again). Between attempts it backs off from 100 ms to 5 s. Every
//! manifest put in service is written to the on-disk cache (`cache`), from which a gateway
//! started while etcd is unreachable serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, Identity, TlsOptions, WatchOptions,
};
use tokio::task::JoinHandle;

use super::cache::ManifestCache;
use super::{Reloader, RemoteManifest, Trigger};
use crate::config::EtcdSource;
use crate::plugin::Runtime;
use crate::snapshot::{self, LoadError, ManifestInput};

/// The longest one request to etcd (connecting included) may take: at start, after it the
/// gateway falls back to its cache; while watching, after it the watcher retries.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The first pause after a failed connection; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What went wrong talking to etcd.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// A TLS file named by `--etcd-ca`, `--etcd-cert` or `--etcd-key` cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A client certificate without its key, or a key without its certificate.
    #[error("--etcd-cert and --etcd-key go together; give both or neither")]
    HalfIdentity,
    /// The client failed (connection refused, authentication, a gRPC error).
    #[error("{0}")]
    Client(#[from] etcd_client::Error),
    /// No answer within [`REQUEST_TIMEOUT`].
    #[error("no answer within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    /// The watch stream ended or was cancelled by etcd.
    #[error("the watch ended: {0}")]
    WatchEnded(String),
}

/// Connects to `source`'s members (authenticating when a user is given), within
/// [`REQUEST_TIMEOUT`].
pub async fn connect(source: &EtcdSource) -> Result<Client, EtcdError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(REQUEST_TIMEOUT)
        // A member that vanishes without closing the connection (a partition) is noticed.
        .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5))
        .with_keep_alive_while_idle(true);
    if let Some((user, password)) = &source.user {
        options = options.with_user(user, password);
    }
    if let Some(tls) = &source.tls {
        let mut config = TlsOptions::new();
        if let Some(ca) = &tls.ca {
            config = config.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => return Err(EtcdError::HalfIdentity),
        }
        options = options.with_tls(config);
    }
    let endpoints = source.client_endpoints();
    bounded(Client::connect(endpoints, Some(options))).await
}

fn read(path: &Path) -> Result<Vec<u8>, EtcdError> {
    std::fs::read(path).map_err(|source| EtcdError::TlsFile {
        path: path.to_owned(),
        source,
    })
}

/// `future` within [`REQUEST_TIMEOUT`].
async fn bounded<T>(
    future: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, future).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(EtcdError::Timeout),
    }
}

/// What reading the manifest's key found: the manifest (`None` when the key does not exist),
/// and the store's revision at the time of the read, to watch from.
pub struct Fetched {
    /// The manifest, or `Err` with the reason when its value is not UTF-8 text.
    pub manifest: Option<Result<RemoteManifest, (i64, String)>>,
    /// The store's revision when it was read.
    pub revision: i64,
}

/// Reads the manifest's key.
pub async fn fetch(client: &mut Client, source: &EtcdSource) -> Result<Fetched, EtcdError> {
    let response = bounded(client.get(source.manifest_key(), None)).await?;
    let revision = response.header().map_or(0, |h| h.revision());
    let manifest = response
        .kvs()
        .first()
        .map(|kv| manifest_of(source, kv.value(), kv.mod_revision()));
    Ok(Fetched { manifest, revision })
}

/// A value read from the key as a manifest, or the revision and why it is not one.
fn manifest_of(
    source: &EtcdSource,
    value: &[u8],
    revision: i64,
) -> Result<RemoteManifest, (i64, String)> {
    match std::str::from_utf8(value) {
        Ok(text) => Ok(RemoteManifest {
            name: source.manifest_name(),
            text: Arc::from(text),
            revision,
            from_cache: false,
        }),
        Err(e) => Err((
            revision,
            format!(
                "error: the manifest is not UTF-8 text (invalid byte at offset {})\n --> {}\n  = help: write the manifest with `portcullis config push`",
                e.valid_up_to(),
                source.manifest_name()
            ),
        )),
    }
}

/// Writes `text` to the manifest's key as it is, unchecked, and returns the new revision.
/// `portcullis config push` checks first ([`push`]); tests use this to put a broken manifest
/// where a careless operator might.
pub async fn put(source: &EtcdSource, text: &str) -> Result<i64, EtcdError> {
    let mut client = connect(source).await?;
    let response = bounded(client.put(source.manifest_key(), text, None)).await?;
    Ok(response.header().map_or(0, |h| h.revision()))
}

/// Why `portcullis config push` did not write.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The manifest file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest is invalid (rendered errors); nothing was written.
    #[error("{0}\nnothing was written to etcd")]
    Invalid(LoadError),
    /// etcd could not be written.
    #[error("cannot write to etcd at {endpoints}: {source}")]
    Etcd {
        /// The members tried.
        endpoints: String,
        /// Why.
        source: EtcdError,
    },
}

/// Checks the manifest at `file` as `portcullis check` does (every plugin compiled and
/// initialized with its config), as a manifest from etcd (every path absolute), and writes it
/// to `source` only when it is valid. Returns the new revision.
pub async fn push(runtime: &Runtime, source: &EtcdSource, file: &Path) -> Result<i64, PushError> {
    let text = std::fs::read_to_string(file).map_err(|e| PushError::Read {
        path: file.to_owned(),
        source: e,
    })?;
    let input = ManifestInput::Detached {
        name: file.display().to_string(),
        text: Arc::from(text.as_str()),
    };
    snapshot::load_from(runtime, &input, 1, None)
        .await
        .map_err(PushError::Invalid)?;
    put(source, &text).await.map_err(|e| PushError::Etcd {
        endpoints: source.endpoints.join(","),
        source: e,
    })
}

/// Why a gateway configured from etcd cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InitialError {
    /// etcd is unreachable and there is no cached manifest.
    #[error(
        "cannot read the manifest from etcd at {endpoints} ({source}), and there is no cached manifest at {}\n  = help: start etcd or check the endpoints; once a gateway has served a manifest from etcd, it keeps a copy and can start without etcd",
        cache.as_deref().map_or_else(|| "(no cache directory)".to_owned(), |p| p.display().to_string())
    )]
    Unreachable {
        /// The members tried.
        endpoints: String,
        /// Why.
        source: EtcdError,
        /// Where the cache was looked for.
        cache: Option<PathBuf>,
    },
    /// etcd answered, and the key holds no manifest.
    #[error(
        "etcd at {endpoints} has no manifest at `{key}`\n  = help: write one with `portcullis config push etcd://{endpoints}{prefix} manifest.toml`"
    )]
    NoManifest {
        /// The members.
        endpoints: String,
        /// The key.
        key: String,
        /// The prefix.
        prefix: String,
    },
    /// The key's value is not text.
    #[error("{0}")]
    NotText(String),
    /// The cache exists and cannot be used.
    #[error("cannot read the manifest from etcd at {endpoints} ({source}), and {cache}")]
    Cache {
        /// The members tried.
        endpoints: String,
        /// Why etcd failed.
        source: EtcdError,
        /// Why the cache failed.
        cache: super::cache::CacheError,
    },
}

/// The manifest to start with: from etcd, or, when etcd cannot be reached within
/// [`REQUEST_TIMEOUT`], from the cache (with a warning saying so and which revision it is).
pub async fn initial(
    source: &EtcdSource,
    cache: Option<&ManifestCache>,
) -> Result<RemoteManifest, InitialError> {
    let endpoints = source.endpoints.join(",");
    let read = async {
        let mut client = connect(source).await?;
        fetch(&mut client, source).await
    };
    let error = match read.await {
        Ok(Fetched {
            manifest: Some(Ok(manifest)),
            ..
        }) => return Ok(manifest),
        Ok(Fetched {
            manifest: Some(Err((_, reason))),
            ..
        }) => return Err(InitialError::NotText(reason)),
        Ok(Fetched { manifest: None, .. }) => {
            return Err(InitialError::NoManifest {
                endpoints,
                key: source.manifest_key(),
                prefix: source.prefix.clone(),
            });
        }
        Err(error) => error,
    };
    let Some(cache) = cache else {
        return Err(InitialError::Unreachable {
            endpoints,
            source: error,
            cache: None,
        });
    };
    match cache.load() {
        Ok(Some(manifest)) => {
            tracing::warn!(
                endpoints,
                error = %error,
                revision = manifest.revision,
                cache = %cache.path().display(),
                "etcd is unreachable: serving the cached manifest of revision {}; \
                 changes in etcd apply once it is back",
                manifest.revision
            );
            Ok(manifest)
        }
        Ok(None) => Err(InitialError::Unreachable {
            endpoints,
            source: error,
            cache: Some(cache.path().to_owned()),
        }),
        Err(cache) => Err(InitialError::Cache {
            endpoints,
            source: error,
            cache,
        }),
    }
}

/// Follows the manifest's key until the task is aborted: each change reloads `reloader`, and
/// each manifest put in service is cached. `seen` is the revision of the manifest in service.
pub fn follow(
    reloader: Arc<Reloader>,
    source: EtcdSource,
    cache: Option<ManifestCache>,
    seen: i64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut follower = Follower {
            reloader,
            source,
            cache,
            seen,
            backoff: FIRST_BACKOFF,
            failures: 0,
        };
        loop {
            let error = follower.session().await;
            follower.reloader.set_remote_connected(false, None);
            follower.failures += 1;
            let endpoints = follower.source.endpoints.join(",");
            let retry_in_ms = follower.backoff.as_millis() as u64;
            // The first failure, then about once a minute: an outage is not a flood of lines.
            if follower.failures % 12 == 1 {
                tracing::warn!(
                    endpoints,
                    error = %error,
                    retry_in_ms,
                    failures = follower.failures,
                    "etcd: not watching the manifest; the configuration in service keeps serving"
                );
            } else {
                tracing::debug!(endpoints, error = %error, retry_in_ms, "etcd: still unreachable");
            }
            tokio::time::sleep(follower.backoff).await;
            follower.backoff = (follower.backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// The state of [`follow`].
struct Follower {
    reloader: Arc<Reloader>,
    source: EtcdSource,
    cache: Option<ManifestCache>,
    /// The last revision of the key seen (applied or refused).
    seen: i64,
    /// The pause before the next connection attempt.
    backoff: Duration,
    /// Connection attempts failed since the last watch was established.
    failures: u32,
}

impl Follower {
    /// One connection: read the key, apply it if it changed, watch from after the read until
    /// the connection fails. Returns why it ended; a session that got as far as watching
    /// resets the backoff.
    async fn session(&mut self) -> EtcdError {
        loop {
            match self.watch_once().await {
                // Compacted or cancelled: read again, after a pause so that a watch etcd keeps
                // cancelling does not spin.
                Ok(()) => tokio::time::sleep(FIRST_BACKOFF).await,
                Err(error) => return error,
            }
        }
    }

    async fn watch_once(&mut self) -> Result<(), EtcdError> {
        let mut client = connect(&self.source).await?;
        let fetched = fetch(&mut client, &self.source).await?;
        // etcd answers: say so before applying what it holds, and confirm a manifest served
        // from the cache when etcd holds that same revision.
        let holds = match &fetched.manifest {
            Some(Ok(manifest)) => Some(manifest.revision),
            Some(Err((revision, _))) => Some(*revision),
            None => None,
        };
        self.reloader.set_remote_connected(true, holds);
        if let Some(held) = holds
            && held < self.seen
        {
            // Revisions only grow in one etcd cluster: a smaller one means the cluster was
            // replaced or restored from a backup. Its manifest is the truth from now on.
            tracing::warn!(
                revision = held,
                seen = self.seen,
                "etcd: the manifest's revision went back (a new or restored etcd cluster?); \
                 following it from here"
            );
            self.seen = held - 1;
        }
        match fetched.manifest {
            Some(manifest) => self.offer(manifest).await,
            None => tracing::warn!(
                key = self.source.manifest_key(),
                "etcd: the manifest's key is empty; the configuration in service keeps serving"
            ),
        }
        let options = WatchOptions::new().with_start_revision(fetched.revision + 1);
        let mut stream = bounded(client.watch(self.source.manifest_key(), Some(options))).await?;
        self.backoff = FIRST_BACKOFF;
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "etcd: reachable again");
        }
        self.failures = 0;
        tracing::info!(
            key = self.source.manifest_key(),
            from_revision = fetched.revision + 1,
            "etcd: watching the manifest"
        );
        while let Some(response) = stream.message().await? {
            if response.compact_revision() > 0 || response.canceled() {
                tracing::warn!(
                    compact_revision = response.compact_revision(),
                    reason = response.cancel_reason(),
                    "etcd cancelled the watch; reading the manifest again"
                );
                return Ok(());
            }
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                match event.event_type() {
                    EventType::Put => {
                        let manifest = manifest_of(&self.source, kv.value(), kv.mod_revision());
                        self.offer(manifest).await;
                    }
                    EventType::Delete => {
                        self.seen = self.seen.max(kv.mod_revision());
                        tracing::warn!(
                            key = self.source.manifest_key(),
                            revision = kv.mod_revision(),
                            "etcd: the manifest was deleted; the configuration in service keeps serving"
                        );
                    }
                }
            }
        }
        Err(EtcdError::WatchEnded("etcd closed the stream".into()))
    }

    /// Applies a manifest read from etcd when it is newer than the last one seen: reloads, and
    /// caches it once in service. A refused one is recorded like any refused reload.
    async fn offer(&mut self, manifest: Result<RemoteManifest, (i64, String)>) {
        let revision = match &manifest {
            Ok(manifest) => manifest.revision,
            Err((revision, _)) => *revision,
        };
        if revision <= self.seen {
            return;
        }
        self.seen = revision;
        let manifest = match manifest {
            Ok(manifest) => manifest,
            Err((_, reason)) => {
                self.reloader.record_refusal(Trigger::Etcd, reason);
                return;
            }
        };
        tracing::info!(revision, "etcd: the manifest changed; reloading");
        if self
            .reloader
            .reload_remote(manifest.clone(), Trigger::Etcd)
            .await
            .is_ok()
            && let Some(cache) = &self.cache
            && let Err(e) = cache.store(&manifest)
        {
            tracing::warn!(
                cache = %cache.path().display(),
                error = %e,
                "cannot cache the manifest in service; a restart without etcd would not find it"
            );
        }
    }
}
