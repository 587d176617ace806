//! C plugins: bindings from the embedded WIT, clang with wasi-libc for a core module, and
//! the component made here. Debian's `clang`, `lld`, `wasi-libc` and `libclang-rt-dev-wasm32`
//! (or a wasi-sdk) are all a C author installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::component::{self, BindingsLanguage};
use super::{BUILD_DIR, Project, ToolchainError, run, runs};

/// What to install when the C toolchain is missing.
const INSTALL: &str = "install clang with the WebAssembly target and wasi-libc: on Debian \
    `apt-get install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc`, or unpack a wasi-sdk \
    and set WASI_SDK_PATH";

pub(super) fn build(project: &Project, output: &Path) -> Result<(), ToolchainError> {
    let toolchain = Toolchain::find()?;
    let generated = project.dir.join(BUILD_DIR).join("gen");
    component::bindings(BindingsLanguage::C, &generated)?;
    let sources = sources(project)?;
    let core = project
        .dir
        .join(BUILD_DIR)
        .join(format!("{}.core.wasm", project.name));

    let mut cmd = Command::new(&toolchain.clang);
    cmd.current_dir(&project.dir)
        .arg(format!("--target={}", toolchain.target))
        .arg(format!("--sysroot={}", toolchain.sysroot.display()))
        .args(["-mexec-model=reactor", "-O2", "-Wall", "-Wextra"])
        .arg("-I")
        .arg(&generated)
        .args(&project.cflags)
        .args(&sources)
        .arg(generated.join("plugin.c"))
        .arg(generated.join("plugin_component_type.o"))
        .arg("-o")
        .arg(&core)
        // Symbols and debug info are of no use inside the gateway; the component type section,
        // which wit-component reads, is kept.
        .arg("-Wl,--strip-debug");
    run(&mut cmd, "compiling with clang")?;

    let module = std::fs::read(&core)
        .map_err(|e| ToolchainError::io(format!("cannot read {}", core.display()), e))?;
    let component = component::componentize(&module)?;
    std::fs::write(output, component)
        .map_err(|e| ToolchainError::io(format!("cannot write {}", output.display()), e))
}

/// The project's C sources: as listed, or every `.c` file under `src/`.
fn sources(project: &Project) -> Result<Vec<PathBuf>, ToolchainError> {
    if !project.sources.is_empty() {
        return Ok(project.sources.clone());
    }
    let src = project.dir.join("src");
    let entries = std::fs::read_dir(&src)
        .map_err(|e| ToolchainError::io(format!("cannot list {}", src.display()), e))?;
    let mut sources: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(ToolchainError::Failed(format!(
            "{} has no .c file; list the sources with `sources = [...]` in portcullis-plugin.toml",
            src.display()
        )));
    }
    Ok(sources)
}

/// A clang that targets WebAssembly, and the wasi-libc sysroot it compiles against.
struct Toolchain {
    clang: PathBuf,
    sysroot: PathBuf,
    /// `wasm32-wasi` for Debian's multiarch layout and older sysroots, `wasm32-wasip1` for
    /// newer wasi-sdks: whichever the sysroot has headers for.
    target: &'static str,
}

impl Toolchain {
    fn find() -> Result<Self, ToolchainError> {
        let sdk = std::env::var_os("WASI_SDK_PATH").map(PathBuf::from);
        let clang = Self::clang(sdk.as_deref()).ok_or_else(|| {
            ToolchainError::Failed(format!(
                "no clang found (set CLANG to choose one); {INSTALL}"
            ))
        })?;
        let sysroot = Self::sysroot(sdk.as_deref()).ok_or_else(|| {
            ToolchainError::Failed(format!(
                "no wasi-libc found (set WASI_SYSROOT to choose one); {INSTALL}"
            ))
        })?;
        let target = if sysroot.join("include/wasm32-wasip1").is_dir() {
            "wasm32-wasip1"
        } else {
            "wasm32-wasi"
        };
        Ok(Self {
            clang,
            sysroot,
            target,
        })
    }

    fn clang(sdk: Option<&Path>) -> Option<PathBuf> {
        if let Some(clang) = std::env::var_os("CLANG") {
            return Some(clang.into());
        }
        let mut candidates: Vec<PathBuf> =
            sdk.map(|sdk| sdk.join("bin/clang")).into_iter().collect();
        candidates.push("clang".into());
        candidates.extend((15..=22).rev().map(|v| PathBuf::from(format!("clang-{v}"))));
        candidates.into_iter().find(|clang| runs(clang))
    }

    fn sysroot(sdk: Option<&Path>) -> Option<PathBuf> {
        if let Some(sysroot) = std::env::var_os("WASI_SYSROOT") {
            return Some(sysroot.into());
        }
        let mut candidates: Vec<PathBuf> = sdk
            .map(|sdk| sdk.join("share/wasi-sysroot"))
            .into_iter()
            .collect();
        candidates.push("/usr/share/wasi-sysroot".into());
        candidates.push("/opt/wasi-sdk/share/wasi-sysroot".into());
        // Debian installs wasi-libc as a multiarch library: /usr/include/wasm32-wasi.
        candidates.push("/usr".into());
        candidates.into_iter().find(|root| {
            ["wasm32-wasi", "wasm32-wasip1"]
                .iter()
                .any(|triple| root.join("include").join(triple).join("stdlib.h").is_file())
        })
    }
}
