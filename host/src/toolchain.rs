//! `portcullis plugin new | build | bindings`: the plugin author's toolchain, in any language.
//!
//! Why it lives in the gateway's binary: the contract (the WIT package) and the host that checks
//! it are here, so a plugin built with `portcullis plugin build` is built against exactly the
//! contract this gateway speaks, and checked against it before the author ever writes a
//! manifest. A C author needs only clang and wasi-libc: the bindings generator (wit-bindgen's C
//! generator) and the component encoder (wit-component, with the WASI preview 1 adapter) are
//! linked in rather than installed by hand. Languages whose ecosystem has its own componentizer
//! (ComponentizeJS for JavaScript, componentize-py for Python) are driven through the
//! project-local install their users expect: npm's `node_modules`, a Python virtual environment.
//!
//! A plugin project is a directory with a `portcullis-plugin.toml` ([`project`]); `new` writes
//! one ([`scaffold`]), `build` turns it into `build/<name>.wasm`.

mod c;
pub mod component;
pub mod fixtures;
mod js;
pub mod project;
mod python;
mod rust;
pub mod scaffold;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use project::{Language, Project};

use crate::plugin::{Runtime, conformance};

pub use crate::contract::{WIT, WORLD};

/// Where a build writes what it generates (bindings, intermediate modules) and the component.
pub const BUILD_DIR: &str = "build";

/// A failure of the toolchain, in words meant for the plugin's author.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// A file or directory could not be read, written, listed or created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`cannot write build/x.wasm`).
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// `portcullis-plugin.toml` is not valid TOML or has keys it should not.
    #[error("{}: {source}", path.display())]
    ProjectFile {
        /// The project file.
        path: PathBuf,
        /// Where and what (line, column, caret).
        source: toml::de::Error,
    },
    /// The plugin's name is not a valid name.
    #[error("{}: {source}", path.display())]
    ProjectName {
        /// The project file.
        path: PathBuf,
        /// Why.
        source: project::InvalidName,
    },
    /// A name given to `plugin new` is not a valid name.
    #[error(transparent)]
    Name(#[from] project::InvalidName),
    /// The component was built but does not compile.
    #[error("{} was built, but {source}", path.display())]
    Compile {
        /// The component file.
        path: PathBuf,
        /// Why.
        source: crate::plugin::EngineError,
    },
    /// A step failed: a tool missing, failing (with the tail of what it printed), or leaving
    /// no output; or the component does not fit the contract.
    #[error("{0}")]
    Failed(String),
}

impl ToolchainError {
    fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            what: what.to_string(),
            source,
        }
    }
}

/// A component `build` produced.
#[derive(Debug)]
pub struct Built {
    /// The component file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// How long the build took.
    pub elapsed: Duration,
}

/// Builds the plugin project in `dir` into `dir/build/<name>.wasm`, then checks the component
/// against the contract with `runtime`, so that a plugin that would not load is caught here, in
/// its author's terms, and not at the gateway's start.
pub fn build(dir: &Path, runtime: &Runtime) -> Result<Built, ToolchainError> {
    let started = Instant::now();
    let project = Project::load(dir)?;
    // The tools run in the project directory: they get absolute paths; the author sees the
    // path as they gave it.
    let file_name = format!("{}.wasm", project.name);
    let out_dir = project.dir.join(BUILD_DIR);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| ToolchainError::io(format!("cannot create {}", out_dir.display()), e))?;
    let output = out_dir.join(&file_name);
    match project.language {
        Language::Rust => rust::build(&project, &output)?,
        Language::C => c::build(&project, &output)?,
        Language::Js => js::build(&project, &output)?,
        Language::Python => python::build(&project, &output)?,
    }
    let bytes = std::fs::read(&output)
        .map_err(|e| ToolchainError::io(format!("cannot read {}", output.display()), e))?;
    check(&output, &bytes, runtime)?;
    Ok(Built {
        path: dir.join(BUILD_DIR).join(file_name),
        size: bytes.len() as u64,
        elapsed: started.elapsed(),
    })
}

/// Checks that the component at `path` (`bytes`) compiles and fits the contract, as the gateway
/// would load it.
fn check(path: &Path, bytes: &[u8], runtime: &Runtime) -> Result<(), ToolchainError> {
    let compiled = runtime
        .compile(bytes)
        .map_err(|source| ToolchainError::Compile {
            path: path.to_owned(),
            source,
        })?;
    conformance::check(runtime.engine(), &compiled.component).map_err(|e| {
        ToolchainError::Failed(format!(
            "{} was built, but the gateway would refuse it: {e}",
            path.display()
        ))
    })
}

/// The component to publish from `path`: a component file, or a plugin project's built one
/// (`build/<name>.wasm`), checked against the contract as `build` checks it, so that a registry
/// never holds a plugin the gateway would refuse.
pub fn publishable(path: &Path, runtime: &Runtime) -> Result<(PathBuf, Vec<u8>), ToolchainError> {
    let file = if path.is_dir() {
        let project = Project::load(path)?;
        let file = path.join(BUILD_DIR).join(format!("{}.wasm", project.name));
        if !file.is_file() {
            return Err(ToolchainError::Failed(format!(
                "{} is not built: run `portcullis plugin build {}` first",
                file.display(),
                path.display()
            )));
        }
        file
    } else {
        path.to_owned()
    };
    let bytes = std::fs::read(&file)
        .map_err(|e| ToolchainError::io(format!("cannot read {}", file.display()), e))?;
    check(&file, &bytes, runtime)?;
    Ok((file, bytes))
}

/// The contract's version, `0.1.3`: the part of the WIT package line after `@`.
pub fn contract_version() -> String {
    crate::contract::version()
}

/// Writes the WIT package into `dir` (as `plugin.wit`), for a tool that reads WIT from files.
pub fn write_wit(dir: &Path) -> Result<PathBuf, ToolchainError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ToolchainError::io(format!("cannot create {}", dir.display()), e))?;
    let path = dir.join("plugin.wit");
    std::fs::write(&path, WIT)
        .map_err(|e| ToolchainError::io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

/// Runs `cmd` to completion, capturing its output. On failure the error names the step and
/// carries the tail of what the tool printed, which is where its own diagnosis is.
fn run(cmd: &mut Command, step: &str) -> Result<Output, ToolchainError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ToolchainError::Failed(format!("{step}: `{program}` was not found on PATH"))
        } else {
            ToolchainError::io(format!("{step}: cannot run `{program}`"), e)
        }
    })?;
    if output.status.success() {
        return Ok(output);
    }
    let mut printed = String::from_utf8_lossy(&output.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(ToolchainError::Failed(format!(
        "{step} failed ({}); `{program}` printed:\n{}",
        output.status,
        tail(&printed, 60)
    )))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// Whether `program` runs (`program --version` succeeds).
fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}
