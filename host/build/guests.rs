//! Builds guest crates of this workspace into Wasm components from a build script.
//!
//! Shared by `host/build.rs` (the prebuilt plugin catalog) and `tests/build.rs` (test-only
//! guests), so that a plain `cargo build` or `cargo test` produces every component it needs: a
//! new contributor never runs a separate step, and the `wasm32-wasip2` target is added with rustup
//! when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target guests are built for: it produces components directly.
pub(crate) const TARGET: &str = "wasm32-wasip2";

/// The cargo profile guests are built with (see the root `Cargo.toml`).
const PROFILE: &str = "guest";

/// Builds `packages` (workspace package names) for [`TARGET`] with [`PROFILE`] and returns the
/// path of each component, in the order given.
pub(crate) fn build(workspace: &Path, packages: &[&str]) -> Vec<PathBuf> {
    ensure_target();
    // A separate target directory: the outer cargo holds the lock on `target/<profile>`.
    let target_dir = workspace.join("target").join("wasm-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    scrub_env(&mut cmd);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the Wasm guests: {e}"));
    assert!(
        status.success(),
        "building the Wasm guests {packages:?} for {TARGET} failed (see the cargo output above)"
    );
    packages
        .iter()
        .map(|package| {
            let file = format!("{}.wasm", package.replace('-', "_"));
            target_dir.join(TARGET).join(PROFILE).join(file)
        })
        .collect()
}

/// Tells cargo to rerun the build script when any guest source may have changed.
pub(crate) fn rerun_if_changed(workspace: &Path, dirs: &[&str]) {
    for dir in dirs {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    // The root manifest holds the `guest` profile and its per-package overrides.
    for file in ["Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(file).display());
    }
}

/// Adds the Wasm target with rustup when the toolchain lacks it.
fn ensure_target() {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: the toolchain was installed some other way; let cargo report a missing target.
        return;
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.trim() == TARGET)
    {
        return;
    }
    println!(
        "cargo:warning=adding the {TARGET} target with rustup (needed to build the Wasm plugins)"
    );
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "`rustup target add {TARGET}` failed; run it by hand and build again"
    );
}

/// Removes what the outer cargo set for this build script, which would otherwise leak into the
/// nested build (clippy's wrapper, the host's rustflags, cargo's per-package variables).
fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(
            key,
            "CARGO_HOME" | "CARGO_NET_OFFLINE" | "CARGO_REGISTRIES_CRATES_IO_PROTOCOL"
        ) || key.starts_with("CARGO_HTTP")
            || key.starts_with("CARGO_REGISTR");
        let leaks = key.starts_with("CARGO_")
            || matches!(
                key,
                "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if leaks && !keep {
            cmd.env_remove(key);
        }
    }
}
