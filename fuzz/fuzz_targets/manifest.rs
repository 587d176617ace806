//! Manifest parse, validation and error rendering: any text gives a manifest or diagnostics that
//! render, never a panic (issue 13, item 9: `a = "x\r\n` once panicked the renderer).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use portcullis::config::Manifest;

/// The prebuilt plugins a manifest may name (as the binary's catalog, so references validate).
const CATALOG: [&str; 15] = [
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

fuzz_target!(|data: &[u8]| {
    // Manifests are read as UTF-8 (`read_to_string`); other bytes never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A path under a directory that does not exist: `wasm` and TLS files are never found,
    // whatever the input names.
    let path = Path::new("/nonexistent/fuzz/portcullis.toml");
    match Manifest::parse(path, text, &CATALOG) {
        Ok(manifest) => {
            // A valid manifest's own spans render too (later stages report against them).
            for listener in &manifest.listeners {
                let _ = manifest.source.line_col(listener.span.start);
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "a failed parse reports an error");
            for rendered in diagnostics.render_each() {
                assert!(rendered.starts_with("error: "), "rendered: {rendered}");
            }
            let _ = diagnostics.to_string();
        }
    }
});
