//! Which version of a plugin entry with a canary (or with a component from a registry) served a
//! request: noted by the chain, kept in the request's record, written in the access line, so
//! that an operator can tell the candidate's requests from the stable version's, and which
//! pushed digest served them. Other entries are not listed: a request through them allocates
//! nothing here.

use std::sync::Arc;

/// One entry's version for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedVersion {
    /// The plugin's name.
    pub plugin: Arc<str>,
    /// `stable` or `candidate`.
    pub role: &'static str,
    /// The version (digest of the component and its configuration, 12 hex digits).
    pub version: Arc<str>,
    /// For a component from a registry, the artifact's manifest digest (`sha256:...`).
    pub digest: Option<Arc<str>>,
}

/// The versions of a request's entries with a canary, in chain order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedVersions(pub Vec<ServedVersion>);
