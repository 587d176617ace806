//! Every prebuilt plugin's config decoding and request path, through the runner of
//! `portcullis plugin test` (`host/src/fixtures.rs`): the input is a fixture file (a prebuilt
//! plugin, its config, request cases). Whatever the config and requests, a prebuilt plugin
//! refuses a bad config with an error and answers or forwards every request: it never traps
//! (a Rust panic in the guest), in `init` or in a phase.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Prebuilt plugins only: a `wasm` file would make the run depend on the disk.
    if text.contains("wasm") {
        return;
    }
    let runtime = portcullis_fuzz::wasm_runtime();
    let path = Path::new("/nonexistent/fuzz/fixtures.toml");
    let result = portcullis_fuzz::tokio().block_on(portcullis::toolchain::fixtures::run_text(
        &runtime, path, text, None,
    ));
    match result {
        Ok(report) => {
            for (case, failure) in &report.cases {
                if let Some(failure) = failure {
                    assert!(
                        !failure.contains("trapped:"),
                        "a prebuilt plugin trapped on case `{case}`: {failure}"
                    );
                }
            }
        }
        Err(error) => {
            let error = error.to_string();
            assert!(
                !error.contains("failed in init") && !error.contains("trapped:"),
                "a prebuilt plugin crashed on its config: {error}"
            );
        }
    }
});
