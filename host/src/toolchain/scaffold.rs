//! `portcullis plugin new`: a plugin project that builds, passes its test and does nothing yet.
//!
//! Every phase is stubbed to what the gateway does without the plugin, so the first
//! `portcullis plugin build` and `portcullis plugin test` succeed before the author writes a
//! line, and each later change is the policy itself. The templates are embedded in the binary
//! (`host/templates/`), so a scaffold always matches the contract of the `portcullis` that wrote
//! it.

use std::path::{Path, PathBuf};

use super::project::{FILE, check_name};
use super::{Language, ToolchainError, WIT};

/// Where a Rust scaffold's `portcullis-sdk` comes from.
#[derive(Debug, Clone)]
pub enum Sdk {
    /// A checkout of the SDK (the `plugin-sdk` directory).
    Path(PathBuf),
    /// The crates.io release of this version.
    Registry,
}

impl Sdk {
    /// The SDK of the source tree this `portcullis` was built from, when it is still there;
    /// the registry release otherwise.
    pub fn default_for_this_build() -> Self {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
        match checkout.canonicalize() {
            Ok(path) if path.join("Cargo.toml").is_file() => Self::Path(path),
            _ => Self::Registry,
        }
    }

    fn dependency(&self) -> String {
        match self {
            Self::Path(path) => format!(
                "{{ path = {} }}",
                toml::Value::String(path.display().to_string())
            ),
            Self::Registry => format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Writes a new `language` project named `name` into `dir`, which must not exist or be empty.
/// Returns the files written, relative to `dir`.
pub fn new(
    name: &str,
    language: Language,
    dir: &Path,
    sdk: &Sdk,
) -> Result<Vec<PathBuf>, ToolchainError> {
    check_name(name)?;
    if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(ToolchainError::Failed(format!(
            "{} already exists and is not empty; choose another directory with --dir",
            dir.display()
        )));
    }
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{language}}", language.name())
            .replace("{{language_title}}", title(language))
            .replace("{{language_notes}}", notes(language))
            .replace("{{sdk}}", &sdk.dependency())
            .replace("{{wit_version}}", &super::contract_version())
    };
    let mut files: Vec<(&str, String)> = vec![
        (
            FILE,
            fill(include_str!(
                "../../templates/common/portcullis-plugin.toml"
            )),
        ),
        (
            "fixtures.toml",
            fill(include_str!("../../templates/common/fixtures.toml")),
        ),
        (
            "README.md",
            fill(include_str!("../../templates/common/README.md")),
        ),
        (
            ".gitignore",
            include_str!("../../templates/common/gitignore").into(),
        ),
        ("wit/plugin.wit", WIT.into()),
    ];
    match language {
        Language::Rust => {
            files.push((
                "Cargo.toml",
                fill(include_str!("../../templates/rust/Cargo.toml")),
            ));
            files.push((
                "src/lib.rs",
                fill(include_str!("../../templates/rust/lib.rs")),
            ));
        }
        Language::C => {
            files.push((
                "src/plugin.c",
                fill(include_str!("../../templates/c/plugin.c")),
            ));
        }
        Language::Js => {
            files.push((
                "plugin.js",
                fill(include_str!("../../templates/js/plugin.js")),
            ));
            files.push((
                "package.json",
                fill(include_str!("../../templates/js/package.json")),
            ));
        }
        Language::Python => {
            files.push((
                "app.py",
                fill(include_str!("../../templates/python/app.py")),
            ));
            files.push((
                "requirements.txt",
                include_str!("../../templates/python/requirements.txt").into(),
            ));
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for (relative, contents) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                ToolchainError::io(format!("cannot create {}", parent.display()), e)
            })?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| ToolchainError::io(format!("cannot write {}", path.display()), e))?;
        written.push(PathBuf::from(relative));
    }
    Ok(written)
}

fn title(language: Language) -> &'static str {
    match language {
        Language::Rust => "Rust",
        Language::C => "C",
        Language::Js => "JavaScript",
        Language::Python => "Python",
    }
}

fn notes(language: Language) -> &'static str {
    match language {
        Language::Rust => {
            "\nNeeds a Rust toolchain; the build adds the `wasm32-wasip2` target with rustup when it is\nmissing. `src/lib.rs` implements `portcullis_sdk::Plugin` (see docs/languages/rust.md).\n"
        }
        Language::C => {
            "\nNeeds clang and wasi-libc: on Debian, `apt-get install clang-19 lld-19\nlibclang-rt-19-dev-wasm32 wasi-libc` (or a wasi-sdk, with `WASI_SDK_PATH`). The build writes\nthe bindings into `build/gen/` (`plugin.h` declares every function) and makes the component\nitself (see docs/languages/c.md).\n"
        }
        Language::Js => {
            "\nNeeds Node.js and npm: the first build installs ComponentizeJS into `node_modules`\n(see docs/languages/js.md).\n"
        }
        Language::Python => {
            "\nNeeds Python 3.10 or later: the first build installs componentize-py (`requirements.txt`)\ninto `build/venv`, unless it is on PATH (see docs/languages/python.md).\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_a_project_its_builder_reads() {
        for language in [Language::Rust, Language::C, Language::Js, Language::Python] {
            let dir = tempfile::tempdir().unwrap();
            let files = new("deny-list", language, dir.path(), &Sdk::Registry).unwrap();
            assert!(files.contains(&PathBuf::from("fixtures.toml")), "{files:?}");
            let project = super::super::Project::load(dir.path()).unwrap();
            assert_eq!(project.name, "deny-list");
            assert_eq!(project.language, language);
            for file in &files {
                let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{} keeps a placeholder",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn a_rust_project_names_the_sdk_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = Sdk::Path(PathBuf::from("/src/portcullis/plugin-sdk"));
        new("tagger", Language::Rust, dir.path(), &sdk).unwrap();
        let cargo = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert!(
            cargo.contains(r#"portcullis-sdk = { path = "/src/portcullis/plugin-sdk" }"#),
            "{cargo}"
        );
        let manifest: toml::Table = cargo.parse().unwrap();
        assert!(manifest.contains_key("workspace"));
    }

    #[test]
    fn a_js_project_imports_the_contract_at_its_exact_version() {
        let version = super::super::contract_version();
        assert!(
            WIT.contains(&format!("package portcullis:plugin@{version};")),
            "{version}"
        );
        let dir = tempfile::tempdir().unwrap();
        new("tagger", Language::Js, dir.path(), &Sdk::Registry).unwrap();
        let source = std::fs::read_to_string(dir.path().join("plugin.js")).unwrap();
        assert!(
            source.contains(&format!("portcullis:plugin/context@{version}")),
            "{source}"
        );
    }

    #[test]
    fn an_existing_project_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
        let error = new("a", Language::C, dir.path(), &Sdk::Registry).unwrap_err();
        assert!(error.to_string().contains("not empty"), "{error}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("mine.txt")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn a_bad_name_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        assert!(new("Bad Name", Language::Js, &target, &Sdk::Registry).is_err());
        assert!(!target.exists());
    }
}
