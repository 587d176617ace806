//! Plugin components from an OCI registry (`wasm = "oci://..."`), so that every gateway of a
//! fleet runs the same bytes without copying files around: the layout Envoy, Istio and the
//! wasm-pkg tools use (one layer of media type `application/wasm`), pulled over the registry's
//! HTTP API, verified against its digest, and kept on disk by digest.
//!
//! Why the disk store matters more than the network: a gateway must start and reload while the
//! registry is away. A reference by digest that was pulled once never needs the registry again;
//! a tag is resolved at every load, and when the registry cannot be reached its last resolution
//! is used and said so. What cannot be served from the store (a digest never pulled) fails that
//! load with an error naming the registry, and the running snapshot keeps serving.
//!
//! We speak the distribution API ourselves (`client`, `auth`, `http`) rather than taking a
//! registry client crate: what a gateway needs is one manifest and one blob per plugin, and a
//! push of three objects, over the hyper and rustls (ring) the gateway already links; the crates
//! that exist bring a second HTTP stack with another TLS provider.

mod auth;
mod client;
mod http;
mod layout;
mod store;

use std::path::PathBuf;

pub use layout::WASM_MEDIA_TYPES;
pub use store::Store;

use crate::config::OciReference;
use client::Client;

/// How the gateway reaches registries; from the command line (`docs/fleet.md`), the same for
/// every manifest.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    /// A Docker-style `config.json` with credentials (`docker login`, `oras login` write it);
    /// `None`: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` when it exists.
    pub auth_file: Option<PathBuf>,
    /// A PEM file with the CA of private registries, added to the system's roots.
    pub ca: Option<PathBuf>,
    /// Registries (`HOST[:PORT]`) spoken to over plain HTTP, as Docker's `insecure-registries`.
    pub plain_http: Vec<String>,
    /// Where pulled components are kept by digest; `None`: `portcullis/plugins` in the user's
    /// cache directory.
    pub store: Option<PathBuf>,
}

/// What went wrong with a registry; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The registry could not be reached, or answered with a server error.
    #[error("registry {registry} cannot be reached: {why}")]
    Unreachable {
        /// `HOST[:PORT]`.
        registry: String,
        /// Why.
        why: String,
    },
    /// The registry refused the credentials (or asked for some, and there were none).
    #[error("registry {registry} refused access to `{repository}` ({status}): {hint}")]
    Denied {
        /// `HOST[:PORT]`.
        registry: String,
        /// The repository.
        repository: String,
        /// The HTTP status.
        status: u16,
        /// What to check.
        hint: String,
    },
    /// The reference names nothing in the registry.
    #[error("{reference} was not found in the registry")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// The registry answered something the distribution API does not allow.
    #[error("registry {registry}: {what}")]
    Protocol {
        /// `HOST[:PORT]`.
        registry: String,
        /// What was wrong.
        what: String,
    },
    /// The bytes received are not the ones the digest names.
    #[error("{what} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The manifest or the layer.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what came.
        actual: String,
    },
    /// The artifact has no Wasm layer.
    #[error(
        "{reference} is not a Wasm component artifact: no layer of media type {} (layers: {found})",
        WASM_MEDIA_TYPES.join(", ")
    )]
    NotWasm {
        /// The reference.
        reference: String,
        /// The layers' media types.
        found: String,
    },
    /// The credentials file cannot be used.
    #[error("registry credentials {}: {why}", path.display())]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// TLS to registries cannot be set up (the CA file).
    #[error("registry TLS: {0}")]
    Tls(String),
    /// The on-disk store failed.
    #[error("plugin store {}: {source}", path.display())]
    Store {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The registry is away, and the store does not hold what the reference needs.
    #[error(
        "{reference} is not in the plugin store, and registry {registry} cannot be reached \
         ({why}); the component is needed once from the registry before it can load without it"
    )]
    NotCached {
        /// The reference.
        reference: String,
        /// `HOST[:PORT]`.
        registry: String,
        /// Why the registry could not be reached.
        why: String,
    },
}

/// A component pulled (or read back from the store).
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The component's bytes, verified against the layer's digest.
    pub bytes: Vec<u8>,
    /// The manifest's digest (`sha256:...`): what a tag resolved to; what the admin API, the
    /// metrics and the access log show.
    pub digest: String,
    /// Set when the registry could not be reached and a tag's last resolution was used.
    pub stale: Option<String>,
}

/// Pulls and pushes components; one per process.
pub struct Registries {
    client: Client,
    store: Store,
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registries")
            .field("store", &self.store.root())
            .finish_non_exhaustive()
    }
}

impl Registries {
    /// Sets up TLS and the store. Credentials are read at each pull or push, so that rotating
    /// them needs no restart.
    pub fn new(settings: &RegistrySettings) -> Result<Self, OciError> {
        let store = Store::new(settings.store.clone().or_else(Store::default_dir));
        Ok(Self {
            client: Client::new(settings)?,
            store,
        })
    }

    /// The component `reference` names. A digest already in the store is read from it without
    /// asking the registry; a tag is resolved by the registry when it answers, else by the
    /// store's last resolution (`Pulled::stale` says so).
    pub async fn pull(&self, reference: &OciReference) -> Result<Pulled, OciError> {
        if let Some(digest) = &reference.digest
            && let Some(bytes) = self.store.component(digest)?
        {
            return Ok(Pulled {
                bytes,
                digest: digest.clone(),
                stale: None,
            });
        }
        match self.client.pull(reference).await {
            Ok((manifest, digest, layer_digest, bytes)) => {
                self.store
                    .keep(reference, &digest, &manifest, &layer_digest, &bytes)?;
                Ok(Pulled {
                    bytes,
                    digest,
                    stale: None,
                })
            }
            Err(OciError::Unreachable { registry, why }) => {
                let cached = match &reference.digest {
                    Some(_) => None,
                    None => self.store.tag(reference)?,
                };
                let Some(digest) = cached else {
                    return Err(OciError::NotCached {
                        reference: reference.to_string(),
                        registry,
                        why,
                    });
                };
                let Some(bytes) = self.store.component(&digest)? else {
                    return Err(OciError::NotCached {
                        reference: reference.at_digest(&digest).to_string(),
                        registry,
                        why,
                    });
                };
                Ok(Pulled {
                    bytes,
                    stale: Some(format!(
                        "registry {registry} cannot be reached ({why}); {reference} is its last \
                         resolution, {digest}"
                    )),
                    digest,
                })
            }
            Err(other) => Err(other),
        }
    }

    /// Publishes `component` at `reference` (which must name a tag) and returns the manifest's
    /// digest. Pushing the same bytes again gives the same digest.
    pub async fn push(
        &self,
        reference: &OciReference,
        component: &[u8],
    ) -> Result<String, OciError> {
        self.client.push(reference, component).await
    }

    /// The on-disk store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}
