//! Rust plugins: cargo builds `wasm32-wasip2` components directly, with `portcullis-sdk`.

use std::path::Path;
use std::process::Command;

use super::{Project, ToolchainError, run};

/// The Rust target that produces components.
const TARGET: &str = "wasm32-wasip2";

pub(super) fn build(project: &Project, output: &Path) -> Result<(), ToolchainError> {
    ensure_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = run(
        Command::new(cargo).current_dir(&project.dir).args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ]),
        "building with cargo",
    )?;
    let component = artifact(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
        ToolchainError::Failed(format!(
            "cargo built no `.wasm` library in {}: the crate needs `[lib] crate-type = [\"cdylib\"]`",
            project.dir.display()
        ))
    })?;
    std::fs::copy(&component, output).map_err(|e| {
        ToolchainError::io(
            format!("cannot copy {component} to {}", output.display()),
            e,
        )
    })?;
    Ok(())
}

/// The `.wasm` file of the last cdylib cargo reported building, from its JSON messages.
fn artifact(messages: &str) -> Option<String> {
    messages
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"))
        })
        .filter_map(|message| {
            message["filenames"].as_array()?.iter().find_map(|file| {
                file.as_str()
                    .filter(|file| file.ends_with(".wasm"))
                    .map(str::to_owned)
            })
        })
        .next()
}

/// Adds the target with rustup when the toolchain lacks it, as the workspace's own builds do.
fn ensure_target() -> Result<(), ToolchainError> {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: the toolchain was installed some other way; cargo reports a missing target.
        return Ok(());
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.trim() == TARGET)
    {
        return Ok(());
    }
    run(
        Command::new("rustup").args(["target", "add", TARGET]),
        "adding the wasm32-wasip2 target with rustup",
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_found_among_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/libwit_bindgen.rlib"]}
{"reason":"compiler-artifact","target":{"kind":["cdylib"]},"filenames":["/t/wasm32-wasip2/release/screen.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            artifact(messages).as_deref(),
            Some("/t/wasm32-wasip2/release/screen.wasm")
        );
        assert_eq!(artifact(r#"{"reason":"build-finished"}"#), None);
    }
}
