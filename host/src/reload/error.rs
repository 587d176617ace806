//! Why the reloader could not start, or refused a reload: typed, with their causes, and for a
//! refusal the rendered lines an operator reads (the log, `POST /reload`, the history).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::observe::access_log::OpenError;
use crate::snapshot::LoadError;

/// Why the gateway could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The manifest or one of its plugins is invalid.
    #[error("{0}")]
    Load(#[from] LoadError),
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
    /// The access log's destination could not be opened.
    #[error(transparent)]
    AccessLog(#[from] OpenError),
}

/// What refused a reload.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The manifest, one of its plugins or one of its TLS files is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The new `[access-log] destination` cannot be opened.
    #[error(
        "{}: `[access-log] destination`: {source}\n  = help: create its directory or make it writable, or name another file",
        manifest.display()
    )]
    AccessLog {
        /// The manifest's path.
        manifest: PathBuf,
        /// Why.
        source: OpenError,
    },
    /// A listener the manifest adds cannot bind its address.
    #[error("listener `{name}` cannot bind {address}: {source}")]
    Bind {
        /// The listener's name.
        name: String,
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Loading panicked or was cancelled: a bug, since bad input is reported as errors.
    #[error(
        "{}: loading the manifest failed unexpectedly ({reason}); the previous configuration keeps serving\n  = help: this is a bug in portcullis: please report it with the manifest",
        manifest.display()
    )]
    Interrupted {
        /// The manifest's path.
        manifest: PathBuf,
        /// The panic's message, or that the task was cancelled.
        reason: String,
    },
}

/// A refused reload: the previous snapshot keeps serving.
///
/// It reads as the list of rendered errors (`error[0]`, `error.iter()`): each says where the
/// problem is (file, line, column and caret, or the listener, plugin and route), as the log,
/// the admin API's `POST /reload` answer and the reload history show them. The typed
/// [`Refusal`] is its source.
#[derive(Debug, thiserror::Error)]
#[error("reload refused; the previous configuration keeps serving")]
pub struct ReloadError {
    errors: Vec<String>,
    #[source]
    refusal: Refusal,
}

impl ReloadError {
    /// The rendered errors, in manifest order.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// What refused the reload.
    pub fn refusal(&self) -> &Refusal {
        &self.refusal
    }
}

impl From<Refusal> for ReloadError {
    fn from(refusal: Refusal) -> Self {
        let errors = match &refusal {
            Refusal::Load(load) => load.errors.clone(),
            other => vec![other.to_string()],
        };
        Self { errors, refusal }
    }
}

impl std::ops::Deref for ReloadError {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.errors
    }
}
