//! Loading a snapshot from a manifest, as `portcullis check`, the first start and every
//! reload do: parse and validate, read the listeners' TLS files, build. The manifest is a file,
//! or text read elsewhere (a key in etcd) that has no directory for relative paths.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Snapshot;
use crate::config::Manifest;
use crate::plugin::{Runtime, catalog};
use crate::tls;

/// A manifest that could not be turned into a snapshot: every problem, rendered against the
/// manifest's text (file, line, column, caret), and the count.
#[derive(Debug)]
pub struct LoadError {
    /// The rendered errors, in manifest order.
    pub errors: Vec<String>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for error in &self.errors {
            writeln!(f, "{error}")?;
        }
        let n = self.errors.len();
        write!(f, "{n} error{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for LoadError {}

/// The manifest to load.
#[derive(Debug, Clone)]
pub enum ManifestInput {
    /// A file: read now; relative paths in it are relative to its directory.
    File(PathBuf),
    /// Text read elsewhere, under `name` (shown in errors: `etcd:/portcullis/manifest`); every
    /// path in it must be absolute.
    Detached {
        /// How errors name it.
        name: String,
        /// The manifest.
        text: Arc<str>,
    },
}

/// Parses, validates and builds a snapshot of the manifest at `path`, as `portcullis check` does.
/// The listeners' TLS files are read and checked too.
/// Unchanged upstreams are carried over from `previous` (see [`Snapshot::build`]), and each
/// listener's TLS acceptor is set in the snapshot.
pub async fn load(
    runtime: &Runtime,
    path: &Path,
    version: u64,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, LoadError> {
    load_from(
        runtime,
        &ManifestInput::File(path.to_owned()),
        version,
        previous,
    )
    .await
}

/// Like [`load`], from a file or from text read elsewhere.
pub async fn load_from(
    runtime: &Runtime,
    input: &ManifestInput,
    version: u64,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, LoadError> {
    let prebuilt: Vec<&str> = catalog::names().collect();
    let manifest = match input {
        ManifestInput::File(path) => Manifest::load(path, &prebuilt),
        ManifestInput::Detached { name, text } => Manifest::parse_detached(name, text, &prebuilt),
    };
    let manifest = manifest.map_err(|diagnostics| LoadError {
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
    match Snapshot::build(runtime, manifest, version, previous).await {
        Ok(mut snapshot) if tls_errors.is_empty() => {
            snapshot.acceptors = acceptors;
            Ok(snapshot)
        }
        Ok(_) => Err(LoadError { errors: tls_errors }),
        Err(mut error) => {
            error.errors.extend(tls_errors);
            Err(error)
        }
    }
}
