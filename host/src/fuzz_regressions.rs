//! Inputs the fuzz targets (`fuzz/`) once crashed on, replayed as plain tests so that
//! `cargo test --workspace` proves they stay fixed; `fuzz/README.md` says how to add one.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::config::Manifest;
use crate::plugin::catalog;

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the directory does not exist).
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// What the `manifest` target checks: a manifest, or diagnostics that all render.
fn parse_and_render(text: &str) -> Result<(), Vec<String>> {
    let names: Vec<&str> = catalog::names().collect();
    match Manifest::parse(Path::new("/nonexistent/fuzz/portcullis.toml"), text, &names) {
        Ok(_) => Ok(()),
        Err(diagnostics) => Err(diagnostics.render_each()),
    }
}

#[test]
fn a_crlf_manifest_with_an_unterminated_string_is_reported_not_a_panic() {
    let rendered = parse_and_render("a = \"x\r\n").unwrap_err();
    assert!(!rendered.is_empty());
    for error in &rendered {
        assert!(error.starts_with("error: invalid TOML"), "{error}");
        assert!(
            error.contains("--> /nonexistent/fuzz/portcullis.toml:1:"),
            "{error}"
        );
        assert!(
            error.contains("1 | a = \"x\n"),
            "the line without its CR: {error}"
        );
    }
}

#[test]
fn every_manifest_seed_and_regression_parses_or_renders_its_errors() {
    let mut inputs = inputs("regressions", "manifest");
    assert!(
        !inputs.is_empty(),
        "fuzz/regressions/manifest holds the CRLF case"
    );
    inputs.extend(self::inputs("seeds", "manifest"));
    for (path, bytes) in inputs {
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        if let Err(rendered) = parse_and_render(&text) {
            assert!(!rendered.is_empty(), "{}", path.display());
            for error in rendered {
                assert!(error.starts_with("error: "), "{}: {error}", path.display());
            }
        }
    }
}
