//! `portcullis plugin new`, `build`, `test` and `bindings` as a plugin author meets them, in
//! every language: a fresh scaffold builds into a component that fits the contract and passes
//! its own fixtures before a line of it is changed.
//!
//! The builds use the machine's tools (cargo, clang with wasi-libc, npm, python3); a missing
//! one fails the test with what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn portcullis() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    cmd.arg("--cache-dir").arg(cache);
    cmd
}

fn succeeds(cmd: &mut Command) -> String {
    let output: Output = cmd.output().expect("run portcullis");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{cmd:?} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `new`, then `build`, then `test` on the scaffold's own fixtures.
fn scaffold_builds_and_passes_its_fixtures(language: &str) {
    let parent = tempfile::tempdir().expect("a directory");
    let dir = parent.path().join("hello-plugin");

    let created = succeeds(
        portcullis()
            .args(["plugin", "new", "hello-plugin", "--lang", language, "--dir"])
            .arg(&dir),
    );
    assert!(created.contains("fixtures.toml"), "{created}");
    assert!(dir.join("wit/plugin.wit").is_file());

    let built = succeeds(portcullis().args(["plugin", "build"]).arg(&dir));
    assert!(built.contains("it fits the plugin contract"), "{built}");
    assert!(dir.join("build/hello-plugin.wasm").is_file(), "{built}");

    let tested = succeeds(
        portcullis()
            .args(["plugin", "test"])
            .arg(dir.join("fixtures.toml")),
    );
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");
}

#[test]
fn a_rust_scaffold_builds_and_passes_its_fixtures() {
    scaffold_builds_and_passes_its_fixtures("rust");
}

#[test]
fn a_c_scaffold_builds_and_passes_its_fixtures() {
    scaffold_builds_and_passes_its_fixtures("c");
}

#[test]
fn a_js_scaffold_builds_and_passes_its_fixtures() {
    scaffold_builds_and_passes_its_fixtures("js");
}

#[test]
fn a_python_scaffold_builds_and_passes_its_fixtures() {
    scaffold_builds_and_passes_its_fixtures("python");
}

#[test]
fn new_refuses_a_bad_name_and_an_existing_project() {
    let parent = tempfile::tempdir().expect("a directory");
    let output = portcullis()
        .args(["plugin", "new", "My Plugin", "--lang", "c", "--dir"])
        .arg(parent.path().join("x"))
        .output()
        .expect("run portcullis");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`My Plugin` is not a valid plugin name"),
        "{stderr}"
    );

    std::fs::write(parent.path().join("keep.txt"), "mine").expect("write");
    let output = portcullis()
        .args(["plugin", "new", "again", "--dir"])
        .arg(parent.path())
        .output()
        .expect("run portcullis");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not empty"));
}

#[test]
fn build_outside_a_project_says_how_to_make_one() {
    let dir = tempfile::tempdir().expect("a directory");
    let output = portcullis()
        .args(["plugin", "build"])
        .arg(dir.path())
        .output()
        .expect("run portcullis");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("has no portcullis-plugin.toml (create one with `portcullis plugin new`)"),
        "{stderr}"
    );
}

#[test]
fn a_c_compile_error_is_shown_as_clang_printed_it() {
    let parent = tempfile::tempdir().expect("a directory");
    let dir = parent.path().join("broken");
    succeeds(
        portcullis()
            .args(["plugin", "new", "broken", "--lang", "c", "--dir"])
            .arg(&dir),
    );
    std::fs::write(dir.join("src/plugin.c"), "int this is not C;\n").expect("write");
    let output = portcullis()
        .args(["plugin", "build"])
        .arg(&dir)
        .output()
        .expect("run portcullis");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("compiling with clang failed"), "{stderr}");
    assert!(
        stderr.contains("plugin.c:1:"),
        "clang's own diagnostic: {stderr}"
    );
}

#[test]
fn bindings_for_c_are_written_from_the_embedded_contract() {
    let dir = tempfile::tempdir().expect("a directory");
    let stdout = succeeds(
        portcullis()
            .args(["plugin", "bindings", "--lang", "c", "--out"])
            .arg(dir.path()),
    );
    for file in ["plugin.h", "plugin.c", "plugin_component_type.o"] {
        assert!(stdout.contains(file), "{stdout}");
        assert!(Path::new(dir.path()).join(file).is_file(), "{file}");
    }
}
