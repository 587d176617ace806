//! The plugin store on disk: what was pulled, by digest, so that a gateway loads it again with
//! the registry away. Three kinds of file under the root:
//!
//! - `blobs/sha256/<hex>`: a component, named by its own digest;
//! - `manifests/sha256/<hex>`: an artifact's manifest, which says which blob is its component;
//! - `tags/<registry>/<repository>/<tag>`: the manifest digest a tag last resolved to.
//!
//! Files are written whole and renamed into place, so a crash leaves no half file under a
//! digest's name, and what is read back is verified against its name before use: a damaged file
//! is removed and counts as missing. The store is not under `--cache-dir`: wasmtime's cache
//! cleaner removes files it does not know there.

use std::path::{Path, PathBuf};

use super::OciError;
use super::layout::{digest_of, wasm_layer};
use crate::config::{OciReference, is_digest};

/// Components and tag resolutions on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: Option<PathBuf>,
}

impl Store {
    /// A store at `root`; `None` keeps nothing (a machine without a cache directory).
    pub fn new(root: Option<PathBuf>) -> Self {
        Self { root }
    }

    /// `portcullis/plugins` in the user's cache directory.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|dir| dir.join("portcullis").join("plugins"))
    }

    /// Where it is.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The component of the artifact whose manifest digest is `digest`, when both are kept and
    /// intact.
    pub fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, OciError> {
        let Some(manifest) = self.verified(&self.digest_path("manifests", digest), digest)? else {
            return Ok(None);
        };
        let Ok(Ok(layer)) = wasm_layer(&manifest) else {
            return Ok(None);
        };
        self.verified(&self.digest_path("blobs", &layer.digest), &layer.digest)
    }

    /// The manifest digest `reference`'s tag last resolved to.
    pub fn tag(&self, reference: &OciReference) -> Result<Option<String>, OciError> {
        let Some(path) = self.tag_path(reference) else {
            return Ok(None);
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_owned()).filter(|d| is_digest(d))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(OciError::Store { path, source }),
        }
    }

    /// Keeps a pulled artifact: its manifest, its component and, for a tag, what it resolved to.
    pub fn keep(
        &self,
        reference: &OciReference,
        digest: &str,
        manifest: &[u8],
        layer_digest: &str,
        component: &[u8],
    ) -> Result<(), OciError> {
        if self.root.is_none() {
            return Ok(());
        }
        write(&self.digest_path("blobs", layer_digest), component)?;
        write(&self.digest_path("manifests", digest), manifest)?;
        if reference.tag.is_some()
            && reference.digest.is_none()
            && let Some(path) = self.tag_path(reference)
        {
            write(&path, digest.as_bytes())?;
        }
        Ok(())
    }

    fn digest_path(&self, kind: &str, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root
            .as_deref()
            .unwrap_or(Path::new(""))
            .join(kind)
            .join("sha256")
            .join(hex)
    }

    fn tag_path(&self, reference: &OciReference) -> Option<PathBuf> {
        let root = self.root.as_deref()?;
        let tag = reference.tag.as_deref()?;
        // The registry's `:PORT` becomes `_PORT`: a colon is not portable in a file name.
        let mut path = root.join("tags").join(reference.registry.replace(':', "_"));
        for part in reference.repository.split('/') {
            path.push(part);
        }
        path.push(tag);
        Some(path)
    }

    /// The file at `path` if it digests to `digest`; a damaged one is removed.
    fn verified(&self, path: &Path, digest: &str) -> Result<Option<Vec<u8>>, OciError> {
        if self.root.is_none() || !is_digest(digest) {
            return Ok(None);
        }
        match std::fs::read(path) {
            Ok(bytes) if digest_of(&bytes) == digest => Ok(Some(bytes)),
            Ok(_) => {
                tracing::warn!(file = %path.display(), "a damaged file in the plugin store was removed");
                let _ = std::fs::remove_file(path);
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(OciError::Store {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let error = |source| OciError::Store {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    // Unique per process and per write: two loads of one digest may race, here or in another
    // gateway sharing the store; the last rename wins, with the same bytes.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("part-{}-{n}", std::process::id()));
    std::fs::write(&temporary, bytes).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        error(source)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layout::artifact;

    #[test]
    fn a_kept_artifact_is_found_by_digest_and_its_tag() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().to_owned()));
        let reference = OciReference::parse("oci://127.0.0.1:5000/team/auth:v1").unwrap();
        let component = b"\0asm component".to_vec();
        let layer = digest_of(&component);
        let (_, manifest) = artifact(&layer, component.len(), "auth.wasm");
        let digest = digest_of(&manifest);
        assert_eq!(store.component(&digest).unwrap(), None);
        store
            .keep(&reference, &digest, &manifest, &layer, &component)
            .unwrap();
        assert_eq!(store.component(&digest).unwrap(), Some(component));
        assert_eq!(store.tag(&reference).unwrap(), Some(digest));
    }

    #[test]
    fn a_damaged_component_counts_as_missing_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().to_owned()));
        let reference = OciReference::parse("oci://reg/auth:v1").unwrap();
        let component = b"\0asm".to_vec();
        let layer = digest_of(&component);
        let (_, manifest) = artifact(&layer, component.len(), "auth.wasm");
        let digest = digest_of(&manifest);
        store
            .keep(&reference, &digest, &manifest, &layer, &component)
            .unwrap();
        let blob = store.digest_path("blobs", &layer);
        std::fs::write(&blob, b"tampered").unwrap();
        assert_eq!(store.component(&digest).unwrap(), None);
        assert!(!blob.exists());
    }
}
