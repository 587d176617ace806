//! `portcullis-plugin.toml`: what a plugin project is called and which language builds it.
//!
//! ```toml
//! [plugin]
//! name = "screen"        # the component is built as build/screen.wasm
//! language = "c"         # rust | c | js | python
//! # sources = ["src/screen.c"]   (c: default, every .c file under src/)
//! # cflags = ["-DNDEBUG"]        (c: added to clang's)
//! # entry = "plugin.js"          (js: the module that exports `handler`)
//! # module = "app"               (python: the module that defines `Handler`)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ToolchainError;

/// The project file's name.
pub const FILE: &str = "portcullis-plugin.toml";

/// A language `portcullis plugin` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust, through `portcullis-sdk` and cargo (`wasm32-wasip2`).
    Rust,
    /// C, through clang and wasi-libc; bindings and componentizing by `portcullis`.
    C,
    /// JavaScript, through ComponentizeJS (StarlingMonkey) from npm.
    Js,
    /// Python, through componentize-py from PyPI.
    Python,
}

impl Language {
    /// The name used in `portcullis-plugin.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::C => "c",
            Self::Js => "js",
            Self::Python => "python",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    plugin: Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    name: String,
    language: Language,
    #[serde(default)]
    sources: Vec<PathBuf>,
    #[serde(default)]
    cflags: Vec<String>,
    entry: Option<PathBuf>,
    module: Option<String>,
}

/// A plugin project, read from its `portcullis-plugin.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// The plugin's name: `[a-z0-9-]`, the component's file name.
    pub name: String,
    /// The language it is written in.
    pub language: Language,
    /// C sources, relative to `dir` (empty: every `.c` file under `src/`).
    pub sources: Vec<PathBuf>,
    /// Extra clang flags.
    pub cflags: Vec<String>,
    /// The JavaScript module exporting `handler`.
    pub entry: PathBuf,
    /// The Python module defining `Handler`.
    pub module: String,
}

impl Project {
    /// Reads `dir/portcullis-plugin.toml`.
    pub fn load(dir: &Path) -> Result<Self, ToolchainError> {
        // Absolute, because the tools run in the project directory with paths made from it.
        let dir = &dir
            .canonicalize()
            .map_err(|e| ToolchainError::io(format!("cannot open {}", dir.display()), e))?;
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ToolchainError::Failed(format!(
                    "{} is not a plugin project: it has no {FILE} (create one with `portcullis plugin new`)",
                    dir.display()
                ))
            } else {
                ToolchainError::io(format!("cannot read {}", path.display()), e)
            }
        })?;
        Self::parse(dir, &path, &text)
    }

    fn parse(dir: &Path, path: &Path, text: &str) -> Result<Self, ToolchainError> {
        // toml's message carries the line, the column and a caret under the mistake.
        let file: File = toml::from_str(text).map_err(|source| ToolchainError::ProjectFile {
            path: path.to_owned(),
            source,
        })?;
        let table = file.plugin;
        check_name(&table.name).map_err(|source| ToolchainError::ProjectName {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: table.name,
            language: table.language,
            sources: table.sources,
            cflags: table.cflags,
            entry: table.entry.unwrap_or_else(|| "plugin.js".into()),
            module: table.module.unwrap_or_else(|| "app".into()),
        })
    }
}

/// A name that cannot be a plugin's: it is a file name and a manifest name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid plugin name: use 1 to 64 lower-case letters, digits and dashes, starting with a letter (e.g. `deny-list`)"
)]
pub struct InvalidName(pub String);

/// A plugin name is a file name and a manifest name: lower-case letters, digits and dashes.
pub fn check_name(name: &str) -> Result<(), InvalidName> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(InvalidName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Project, String> {
        Project::parse(Path::new("p"), Path::new("p/portcullis-plugin.toml"), text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_minimal_project_takes_the_defaults() {
        let project = parse("[plugin]\nname = \"screen\"\nlanguage = \"js\"\n").unwrap();
        assert_eq!(project.name, "screen");
        assert_eq!(project.language, Language::Js);
        assert_eq!(project.entry, Path::new("plugin.js"));
        assert_eq!(project.module, "app");
        assert!(project.sources.is_empty());
    }

    #[test]
    fn an_unknown_language_is_located_and_lists_the_choices() {
        let error = parse("[plugin]\nname = \"screen\"\nlanguage = \"cobol\"\n").unwrap_err();
        assert!(error.contains("line 3, column 12"), "{error}");
        assert!(
            error.contains("rust") && error.contains("python"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_not_ignored() {
        let error = parse("[plugin]\nname = \"a\"\nlanguage = \"c\"\nsource = []\n").unwrap_err();
        assert!(error.contains("unknown field `source`"), "{error}");
    }

    #[test]
    fn names_are_file_and_manifest_safe() {
        assert!(check_name("deny-list2").is_ok());
        for bad in ["", "Deny", "2fa", "a b", "a/b", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
        let error = parse("[plugin]\nname = \"My Plugin\"\nlanguage = \"c\"\n").unwrap_err();
        assert!(error.contains("not a valid plugin name"), "{error}");
    }
}
