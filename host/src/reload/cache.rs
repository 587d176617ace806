//! The last good manifest from etcd, kept on disk so that a gateway restarted while etcd is
//! away still serves (the model of APISIX and of Kubernetes' kubelet: the control plane being
//! down must not take the data plane down with it).
//!
//! One file per source (`<dir>/<hash of the endpoints and prefix>.toml`): a first line saying
//! which key and revision it holds, then the manifest exactly as etcd had it, so that line and
//! column numbers in errors are those of the key. It is written only after that manifest was
//! loaded and put in service, through a temporary file renamed over the old one: a crash leaves
//! the old file or the new one, never half of one. It lives apart from the compiled-plugin
//! cache (`--cache-dir`), whose cleaner deletes files it does not know.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::RemoteManifest;
use crate::config::EtcdSource;

/// The first line's start; the revision follows.
const HEADER: &str = "# portcullis: cached manifest of ";

/// The cache of one etcd source's manifest.
#[derive(Debug, Clone)]
pub struct ManifestCache {
    path: PathBuf,
    name: String,
}

/// Why the cache could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file exists but cannot be read.
    #[error("cannot read the cached manifest {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not one this cache wrote.
    #[error("{} is not a cached manifest of {name} (its first line is not `{HEADER}{name} revision N`); delete it", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The key it should hold.
        name: String,
    },
}

impl ManifestCache {
    /// The cache of `source`'s manifest in `dir`.
    pub fn new(dir: &Path, source: &EtcdSource) -> Self {
        let mut endpoints = source.endpoints.clone();
        endpoints.sort();
        let mut hash = Sha256::new();
        hash.update(endpoints.join(",").as_bytes());
        hash.update(b"\n");
        hash.update(source.prefix.as_bytes());
        let digest = hash.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            path: dir.join(format!("{hex}.toml")),
            name: source.manifest_name(),
        }
    }

    /// The default directory: `portcullis/manifests` in the user's cache directory.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|dir| dir.join("portcullis").join("manifests"))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached manifest, `None` when there is none.
    pub fn load(&self) -> Result<Option<RemoteManifest>, CacheError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CacheError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let malformed = || CacheError::Malformed {
            path: self.path.clone(),
            name: self.name.clone(),
        };
        let (first, manifest) = text.split_once('\n').ok_or_else(malformed)?;
        let revision = first
            .strip_prefix(HEADER)
            .and_then(|rest| rest.strip_prefix(self.name.as_str()))
            .and_then(|rest| rest.strip_prefix(" revision "))
            .and_then(|n| n.trim().parse::<i64>().ok())
            .ok_or_else(malformed)?;
        Ok(Some(RemoteManifest {
            name: self.name.clone(),
            text: Arc::from(manifest),
            revision,
            from_cache: true,
        }))
    }

    /// Replaces the cached manifest with `manifest`, atomically.
    pub fn store(&self, manifest: &RemoteManifest) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        // Beside the file (a rename within one directory is atomic), named by process and write
        // so that two gateways sharing the directory never write into each other's.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let write = WRITES.fetch_add(1, Ordering::Relaxed);
        let temporary = self
            .path
            .with_extension(format!("toml.{}.{write}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            writeln!(file, "{HEADER}{} revision {}", self.name, manifest.revision)?;
            file.write_all(manifest.text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> EtcdSource {
        EtcdSource::parse("etcd://127.0.0.1:2379,127.0.0.2:2379/portcullis").expect("valid")
    }

    fn manifest(text: &str, revision: i64) -> RemoteManifest {
        RemoteManifest {
            name: "etcd:/portcullis/manifest".into(),
            text: text.into(),
            revision,
            from_cache: false,
        }
    }

    #[test]
    fn a_stored_manifest_comes_back_with_its_revision_and_marked_as_cached() {
        let dir = tempfile::tempdir().expect("a directory");
        let cache = ManifestCache::new(&dir.path().join("manifests"), &source());
        assert!(cache.load().expect("readable").is_none());
        cache
            .store(&manifest("[listeners.a]\naddress = \"127.0.0.1:0\"\n", 7))
            .expect("stored");
        cache
            .store(&manifest("# the newer one\n", 9))
            .expect("stored");
        let back = cache.load().expect("readable").expect("cached");
        assert_eq!(&*back.text, "# the newer one\n");
        assert_eq!(back.revision, 9);
        assert!(back.from_cache);
        assert_eq!(back.name, "etcd:/portcullis/manifest");
    }

    #[test]
    fn the_order_of_the_endpoints_does_not_change_the_file() {
        let dir = tempfile::tempdir().expect("a directory");
        let reversed =
            EtcdSource::parse("etcd://127.0.0.2:2379,127.0.0.1:2379/portcullis").expect("valid");
        let other = EtcdSource::parse("etcd://127.0.0.1:2379/other").expect("valid");
        let a = ManifestCache::new(dir.path(), &source());
        assert_eq!(a.path(), ManifestCache::new(dir.path(), &reversed).path());
        assert_ne!(a.path(), ManifestCache::new(dir.path(), &other).path());
    }

    #[test]
    fn a_file_that_is_not_a_cached_manifest_is_an_error_not_a_manifest() {
        let dir = tempfile::tempdir().expect("a directory");
        let cache = ManifestCache::new(dir.path(), &source());
        std::fs::write(cache.path(), "[listeners.a]\n").expect("written");
        let error = cache.load().expect_err("malformed").to_string();
        assert!(
            error.contains("is not a cached manifest of etcd:/portcullis/manifest"),
            "{error}"
        );
    }
}
