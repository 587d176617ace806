//! Builds the test-only guests (`tests/plugins/*`) and exposes their paths as constants.

#[path = "../host/build/guests.rs"]
mod guests;

use std::path::Path;

const TEST_GUESTS: &[&str] = &["misbehave", "abi-0-1-0"];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace = Path::new(&manifest_dir)
        .parent()
        .expect("tests/ lives in the workspace root");
    guests::rerun_if_changed(workspace, &["tests/plugins", "plugin-sdk", "wit"]);
    let components = guests::build(workspace, TEST_GUESTS);
    let mut code = String::new();
    for (name, path) in TEST_GUESTS.iter().zip(&components) {
        let constant = name.to_uppercase().replace('-', "_");
        code.push_str(&format!(
            "/// The `{name}` test component.\npub const {constant}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("guests.rs");
    std::fs::write(out, code).expect("write guests.rs");
    compile_protos();
}

/// The test gRPC service, with `protoc` from crates.io (protoc-bin-vendored), so that no
/// system package is needed.
fn compile_protos() {
    let protoc = protoc_bin_vendored::protoc_bin_path()
        .expect("protoc-bin-vendored has a protoc for this platform");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    // The descriptor set `grpc-transcode` is configured with (imports included).
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    config.file_descriptor_set_path(Path::new(&out).join("echo.pb"));
    println!("cargo:rerun-if-changed=proto");
    // `google/protobuf/descriptor.proto`, which the vendored `google/api` annotations import.
    let well_known =
        protoc_bin_vendored::include_path().expect("protoc-bin-vendored has the well-known types");
    tonic_prost_build::configure()
        .compile_with_config(
            config,
            &[std::path::PathBuf::from("proto/echo.proto")],
            &[std::path::PathBuf::from("proto"), well_known],
        )
        .expect("compile tests/proto/echo.proto");
}
