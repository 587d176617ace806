//! Reload on file changes: the manifest, every plugin file and `config-files` entry it names,
//! and every TLS file (listener certificates, keys and client CAs; upstream CAs and client
//! certificates).
//!
//! The watcher watches the *directories* holding those files, not the files: editors and
//! deployment tools replace a file by writing a temporary one and renaming it over the old
//! (the inode changes, and a watch on the file would go stale), and a Kubernetes ConfigMap
//! swaps a symlink. Events on other files in those directories are ignored.
//!
//! Edits come in bursts (truncate, write, write, rename), so a reload starts only after
//! [`QUIET`] without any event on a watched file (at most [`MAX_DELAY`] after the first); a file caught half written then fails to parse or compile, the
//! reload is refused, the old configuration keeps serving, and the write that completes the
//! file triggers the next reload. After each reload the set of watched files is recomputed
//! from the snapshot in service (a plugin path may have changed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Reloader, Trigger};
use crate::config::{Manifest, PluginSource};

/// How long the files must stay unchanged before a reload starts.
pub const QUIET: Duration = Duration::from_millis(250);

/// The longest a reload waits after the first change for the files to go quiet: a tool that
/// rewrites a watched file without pause still gets its changes applied.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// The file watcher could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the manifest's files: {0}")]
pub struct WatchError(#[from] notify::Error);

/// Starts watching; the task reloads until it is aborted.
pub fn spawn(reloader: Arc<Reloader>) -> Result<JoinHandle<()>, WatchError> {
    let (events, mut changed) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            let _ = events.send(event.paths);
        }
    })?;
    let mut files = watched_files(&reloader);
    let mut dirs = BTreeSet::new();
    rewatch(&mut watcher, &mut dirs, &files);
    Ok(tokio::spawn(async move {
        // The watcher lives as long as the task.
        let mut watcher = watcher;
        while let Some(paths) = changed.recv().await {
            if !touches(&paths, &files) {
                continue;
            }
            if !burst_ended(&mut changed, &files).await {
                return;
            }
            tracing::info!("a watched file changed; reloading");
            let _ = reloader.reload(Trigger::FileChange).await;
            files = watched_files(&reloader);
            rewatch(&mut watcher, &mut dirs, &files);
        }
    }))
}

/// Waits until the watched files have been quiet for [`QUIET`], or [`MAX_DELAY`] has passed
/// since the first change, whichever comes first; events on other files in the same
/// directories (a log written beside the manifest) neither extend nor end the wait. Returns
/// `false` when the watcher is gone.
async fn burst_ended(
    changed: &mut mpsc::UnboundedReceiver<Vec<PathBuf>>,
    files: &BTreeSet<PathBuf>,
) -> bool {
    let give_up = Instant::now() + MAX_DELAY;
    let mut quiet_from = Instant::now();
    loop {
        let until = (quiet_from + QUIET).min(give_up);
        match tokio::time::timeout_at(until, changed.recv()).await {
            Ok(Some(paths)) if touches(&paths, files) => quiet_from = Instant::now(),
            Ok(Some(_)) => {}
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

/// Whether an event is about one of the watched files.
fn touches(paths: &[PathBuf], files: &BTreeSet<PathBuf>) -> bool {
    paths.iter().any(|p| files.contains(&absolute(p)))
}

/// Every file the snapshot in service was built from.
fn watched_files(reloader: &Reloader) -> BTreeSet<PathBuf> {
    let snapshot = reloader.current().load();
    let mut files = files_of(&snapshot.manifest);
    // A manifest from etcd is watched by `etcd`; the files it names are watched here.
    if let Some(manifest) = reloader.manifest_file() {
        files.insert(absolute(manifest));
    }
    files
}

fn files_of(manifest: &Manifest) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    let plugins = manifest
        .global_plugins
        .iter()
        .chain(manifest.routes.iter().flat_map(|r| &r.plugins));
    // An entry's canary and shadow are plugins too, with files of their own.
    let versions = plugins.flat_map(|plugin| {
        let rollout = &plugin.rollout;
        std::iter::once(plugin)
            .chain(rollout.canary.as_ref().map(|c| &c.plugin))
            .chain(rollout.shadow.as_ref().map(|s| &s.plugin))
    });
    for plugin in versions {
        if let PluginSource::File(path) = &plugin.source {
            files.insert(absolute(path));
        }
        files.extend(plugin.files.iter().map(|p| absolute(p)));
    }
    for listener in &manifest.listeners {
        if let Some(tls) = &listener.tls {
            for certificate in &tls.certificates {
                files.insert(absolute(&certificate.cert));
                files.insert(absolute(&certificate.key));
            }
            if let Some(auth) = &tls.client_auth {
                files.insert(absolute(&auth.ca));
            }
        }
    }
    for upstream in &manifest.upstreams {
        if let Some(tls) = &upstream.tls {
            files.extend(tls.ca.iter().map(|p| absolute(p)));
            if let Some(identity) = &tls.client_certificate {
                files.insert(absolute(&identity.cert));
                files.insert(absolute(&identity.key));
            }
        }
    }
    files
}

/// Watches the directories of `files`, and no others.
fn rewatch(
    watcher: &mut RecommendedWatcher,
    watching: &mut BTreeSet<PathBuf>,
    files: &BTreeSet<PathBuf>,
) {
    let wanted: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    for dir in watching.difference(&wanted) {
        let _ = watcher.unwatch(dir);
    }
    let mut now_watching: BTreeSet<PathBuf> = watching.intersection(&wanted).cloned().collect();
    for dir in wanted.difference(watching) {
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                now_watching.insert(dir.clone());
            }
            // Not recorded as watched, so the next rewatch (after any reload) tries again.
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a directory"),
        }
    }
    *watching = now_watching;
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
