//! Where the reloader reads the manifest on each reload, and what `GET /status` says of it: a
//! file (read again on every reload), or a manifest from etcd (the text the watch last
//! received, applied on the next reload, with the revision of the one in service).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::snapshot::ManifestInput;

/// A manifest read from etcd (or from the cache of the last good one).
#[derive(Debug, Clone)]
pub struct RemoteManifest {
    /// How errors name it: `etcd:/portcullis/manifest`.
    pub name: String,
    /// The manifest's text.
    pub text: Arc<str>,
    /// The key's `mod_revision` in etcd.
    pub revision: i64,
    /// Read from the on-disk cache because etcd could not be reached.
    pub from_cache: bool,
}

/// The source of the manifest in service, as `GET /status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceStatus {
    /// A file on the gateway's disk.
    File {
        /// The path given.
        path: String,
    },
    /// A key in etcd.
    Etcd {
        /// `etcd://HOST:PORT/prefix`.
        url: String,
        /// The key: `/prefix/manifest`.
        key: String,
        /// The `mod_revision` of the manifest in service.
        revision: i64,
        /// Whether the manifest in service came from the on-disk cache (etcd was unreachable at
        /// start) and etcd has not confirmed it since.
        from_cache: bool,
        /// Whether the gateway is in touch with etcd now (its last read answered, its watch runs).
        connected: bool,
    },
}

/// The reloader's source: the file, or the latest manifest from etcd.
pub(super) enum Origin {
    File(PathBuf),
    Remote(Mutex<RemoteManifest>),
}

impl Origin {
    /// What the next reload loads, and for a manifest from etcd the one it is.
    pub(super) fn input(&self) -> (ManifestInput, Option<RemoteManifest>) {
        match self {
            Self::File(path) => (ManifestInput::File(path.clone()), None),
            Self::Remote(latest) => {
                let latest = match latest.lock() {
                    Ok(latest) => latest.clone(),
                    Err(poisoned) => poisoned.into_inner().clone(),
                };
                let input = ManifestInput::Detached {
                    name: latest.name.clone(),
                    text: latest.text.clone(),
                };
                (input, Some(latest))
            }
        }
    }

    /// How messages and `GET /status`'s `manifest` name the source.
    pub(super) fn label(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Remote(latest) => match latest.lock() {
                Ok(latest) => PathBuf::from(&latest.name),
                Err(poisoned) => PathBuf::from(&poisoned.into_inner().name),
            },
        }
    }

    /// The manifest file, if the source is one.
    pub(super) fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Remote(_) => None,
        }
    }
}
