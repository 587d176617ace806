//! Where a manifest's relative paths point: the manifest file's directory, or nowhere for a
//! manifest read from etcd. Such a manifest is shared by every gateway of a fleet and has no
//! directory on any of them, so a relative path would mean whatever each gateway's working
//! directory happens to be; it is refused where it is written, naming the key, and an absolute
//! path (the same on every machine) is asked for instead.

use std::path::{Path, PathBuf};

use super::diagnostic::Diagnostic;
use super::spanned::Span;

/// What relative paths in a manifest are resolved against.
#[derive(Debug, Clone, Copy)]
pub(super) enum Base<'a> {
    /// The directory of the manifest file (empty for a bare file name: the working directory).
    Dir(&'a Path),
    /// None: the manifest came from etcd, and only absolute paths are accepted.
    Detached,
}

impl Base<'_> {
    /// `file` (written at `span`) as a path to open: joined to the manifest's directory, or,
    /// for a detached manifest, itself when absolute. A relative path in a detached manifest
    /// is an error pushed to `errors`; the path returned then must not be opened (it would be
    /// relative to the working directory), so callers that read it check `errors` first.
    pub(super) fn join(&self, span: Span, file: &str, errors: &mut Vec<Diagnostic>) -> PathBuf {
        match self {
            Self::Dir(dir) => dir.join(file),
            Self::Detached => {
                let path = PathBuf::from(file);
                if !path.is_absolute() {
                    errors.push(Diagnostic::new(
                        span,
                        format!(
                            "`{file}` is a relative path, and a manifest from etcd has no \
                             directory to resolve it against"
                        ),
                        "write an absolute path, the same on every gateway (e.g. \
                         `/etc/portcullis/...`), or take the plugin from an OCI registry: \
                         `wasm = \"oci://REGISTRY/REPOSITORY@sha256:...\"`",
                    ));
                }
                path
            }
        }
    }

    /// Says where a path that cannot be read was looked for, for a help line.
    pub(super) fn where_relative(&self) -> String {
        match self {
            Self::Dir(dir) if dir.as_os_str().is_empty() => {
                "the path is relative to the manifest's directory, `.`".to_owned()
            }
            Self::Dir(dir) => format!(
                "the path is relative to the manifest's directory, `{}`",
                dir.display()
            ),
            Self::Detached => "the path is read on the gateway's own machine".to_owned(),
        }
    }
}
