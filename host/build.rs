//! Builds the prebuilt plugin catalog (`plugins/*`) into Wasm components and embeds them in the
//! `portcullis` binary, so that a manifest can name `plugin = "key-auth"` with no file to ship.

#[path = "build/guests.rs"]
mod guests;

use std::path::Path;

/// The prebuilt plugins: manifest name, workspace package.
const CATALOG: &[&str] = &[
    "key-auth",
    "basic-auth",
    "jwt-auth",
    "acl",
    "headers",
    "path-rewrite",
    "rate-limit",
    "cors",
    "ip-restriction",
    "request-size-limit",
    "correlation-id",
    "request-transformer",
    "response-transformer",
    "request-validator",
    "grpc-transcode",
];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace = Path::new(&manifest_dir)
        .parent()
        .expect("host/ lives in the workspace root");
    guests::rerun_if_changed(workspace, &["plugins", "plugin-sdk", "wit"]);

    let components = guests::build(workspace, CATALOG);
    let mut code = String::from("/// The prebuilt plugins: (name, component bytes).\n");
    code.push_str("pub(crate) static CATALOG: &[(&str, &[u8])] = &[\n");
    for (name, path) in CATALOG.iter().zip(&components) {
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("catalog.rs");
    std::fs::write(&out, code).expect("write catalog.rs");
}
