//! The two steps of wit-bindgen's and wasm-tools' command lines that `portcullis` carries itself:
//! generating bindings from the embedded WIT, and turning a core module into a component.

use std::path::{Path, PathBuf};

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_parser::Resolve;

use super::{ToolchainError, WIT, WORLD};

/// A language `portcullis plugin bindings` generates bindings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BindingsLanguage {
    /// `plugin.h`, `plugin.c` and `plugin_component_type.o` (wit-bindgen's C generator).
    C,
}

/// The embedded WIT package, parsed, with its `plugin` world.
fn contract() -> Result<(Resolve, wit_parser::WorldId), ToolchainError> {
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str("plugin.wit", WIT)
        .map_err(|e| ToolchainError::Failed(format!("the embedded WIT does not parse: {e:#}")))?;
    let world = resolve.select_world(&[package], Some(WORLD)).map_err(|e| {
        ToolchainError::Failed(format!("the embedded WIT has no `{WORLD}` world: {e:#}"))
    })?;
    Ok((resolve, world))
}

/// Writes the bindings for `language` into `out` and returns the files written.
pub fn bindings(language: BindingsLanguage, out: &Path) -> Result<Vec<PathBuf>, ToolchainError> {
    let (mut resolve, world) = contract()?;
    let mut files = wit_bindgen_core::Files::default();
    match language {
        // The borrowed request and response are released by the generated glue when a phase
        // returns, so an author never drops a handle by hand (a kept one traps the call).
        BindingsLanguage::C => wit_bindgen_c::Opts {
            autodrop_borrows: wit_bindgen_c::Enabled::Yes,
            ..Default::default()
        }
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| ToolchainError::Failed(format!("generating the C bindings failed: {e:#}")))?,
    }
    std::fs::create_dir_all(out)
        .map_err(|e| ToolchainError::io(format!("cannot create {}", out.display()), e))?;
    let mut written = Vec::new();
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents)
            .map_err(|e| ToolchainError::io(format!("cannot write {}", path.display()), e))?;
        written.push(path);
    }
    Ok(written)
}

/// Turns a core module that implements the `plugin` world (its type is in a custom section, as
/// the generated bindings embed it) into a component. WASI preview 1 imports, which wasi-libc
/// makes, are adapted to the WASI 0.2 the gateway provides.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>, ToolchainError> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| {
            ToolchainError::Failed(format!(
                "the core module cannot be made into a component: {e:#}\n\
                 (it must be linked with the generated `plugin_component_type.o` and export the \
                 `handler` functions declared in `plugin.h`)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_bindings_declare_the_exports_an_author_implements() {
        let dir = tempfile::tempdir().unwrap();
        let files = bindings(BindingsLanguage::C, dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["plugin.c", "plugin.h", "plugin_component_type.o"],
            "{names:?}"
        );
        let header = std::fs::read_to_string(dir.path().join("plugin.h")).unwrap();
        for export in [
            "exports_portcullis_plugin_handler_init",
            "exports_portcullis_plugin_handler_on_request",
            "exports_portcullis_plugin_handler_on_response",
        ] {
            assert!(header.contains(export), "plugin.h lacks {export}");
        }
    }

    #[test]
    fn a_truncated_module_is_refused_with_a_hint() {
        let error = componentize(b"\0asm\x01\0\0\0\x01")
            .unwrap_err()
            .to_string();
        assert!(error.contains("plugin_component_type.o"), "{error}");
    }
}
