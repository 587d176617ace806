//! The Wasm OCI artifact: an image manifest whose one layer is the component. We push the
//! CNCF Wasm OCI artifact layout (config `application/vnd.wasm.config.v0+json`, layer
//! `application/wasm`, what wasm-pkg and `oci-wasm` write) and pull that or the two layouts
//! Envoy and Istio accept, so components published by their tools load here too.

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The OCI image manifest's media type.
pub(super) const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What `Accept` asks for: an OCI manifest, or Docker's, which some registries still send.
pub(super) const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The config's media type of the Wasm artifact layout.
pub(super) const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// Layer media types that hold a component: the Wasm artifact layout's, then Istio's two.
pub const WASM_MEDIA_TYPES: &[&str] = &[
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
];

/// The largest manifest we read.
pub(super) const MAX_MANIFEST: usize = 4 << 20;

/// The largest component we pull: far above any plugin (a Python one is ~40 MiB).
pub(super) const MAX_COMPONENT: u64 = 256 << 20;

/// `sha256:<hex>` of `bytes`.
pub(super) fn digest_of(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// One blob a manifest points at.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Descriptor {
    /// Its media type.
    #[serde(rename = "mediaType")]
    pub(super) media_type: String,
    /// `sha256:...`.
    pub(super) digest: String,
    /// Its size in bytes.
    pub(super) size: u64,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<serde_json::Value>,
}

/// The component's layer in `manifest` (JSON), or what went wrong, in words.
pub(super) fn wasm_layer(manifest: &[u8]) -> Result<Result<Descriptor, String>, String> {
    let parsed: Manifest =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not valid: {e}"))?;
    if parsed.manifests.is_some() {
        return Err(format!(
            "the reference names an index ({}), not one artifact: reference the Wasm artifact's \
             own manifest by its digest",
            parsed.media_type.as_deref().unwrap_or("no media type")
        ));
    }
    let found = parsed
        .layers
        .iter()
        .find(|layer| WASM_MEDIA_TYPES.contains(&layer.media_type.as_str()));
    Ok(match found {
        Some(layer) => Ok(layer.clone()),
        None => Err(parsed
            .layers
            .iter()
            .map(|layer| layer.media_type.as_str())
            .collect::<Vec<_>>()
            .join(", ")),
    })
}

/// The config blob and the manifest of a component whose bytes digest to `layer_digest`. No
/// timestamp goes in, so pushing the same component twice gives the same digest.
pub(super) fn artifact(layer_digest: &str, layer_size: usize, title: &str) -> (Vec<u8>, Vec<u8>) {
    let config = json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    });
    let config = config.to_string().into_bytes();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": WASM_CONFIG,
        "config": {
            "mediaType": WASM_CONFIG,
            "digest": digest_of(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": WASM_MEDIA_TYPES[0],
            "digest": layer_digest,
            "size": layer_size,
            "annotations": { "org.opencontainers.image.title": title },
        }],
    });
    (config, manifest.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushed_artifact_is_found_again_by_its_wasm_layer() {
        let layer = digest_of(b"\0asm");
        let (config, manifest) = artifact(&layer, 4, "auth.wasm");
        let found = wasm_layer(&manifest).unwrap().unwrap();
        assert_eq!(found.digest, layer);
        assert_eq!(found.size, 4);
        assert!(
            String::from_utf8(manifest)
                .unwrap()
                .contains(&digest_of(&config))
        );
    }

    #[test]
    fn istio_layers_are_accepted_and_images_are_named() {
        let istio = br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.module.wasm.content.layer.v1+wasm","digest":"sha256:aa","size":1}]}"#;
        assert_eq!(wasm_layer(istio).unwrap().unwrap().digest, "sha256:aa");
        let image = br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bb","size":1}]}"#;
        assert_eq!(
            wasm_layer(image).unwrap().unwrap_err(),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(wasm_layer(index).unwrap_err().contains("an index"));
    }

    #[test]
    fn the_digest_is_sha256_in_lower_case_hex() {
        assert_eq!(
            digest_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
