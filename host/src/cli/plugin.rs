//! `portcullis plugin ...`: the commands for plugin authors, in any language.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::OciReference;
use crate::plugin::{Runtime, RuntimeOptions};
use crate::toolchain::component::{self, BindingsLanguage};
use crate::toolchain::scaffold::{self, Sdk};
use crate::toolchain::{self, Language, WIT};

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Create a plugin project: source with every phase stubbed to its default, the WIT it
    /// implements, request fixtures and a README. `plugin build` builds it as it is.
    New {
        /// The plugin's name: lower-case letters, digits and dashes.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Language,
        /// Where to create it (default: a directory named after the plugin).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust: the `portcullis-sdk` checkout to depend on (default: the one this
        /// `portcullis` was built from, else the crates.io release).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the plugin project in a directory (its `portcullis-plugin.toml` says the
    /// language) into `build/<name>.wasm`, and check the component against the contract.
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run a plugin component against request fixtures (TOML files of cases: a request in, the
    /// expected action out) with no gateway. Exits 1 if a case fails. See `docs/plugin-testing.md`.
    Test {
        /// Fixture files.
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        /// Test this component instead of the one each fixture file names.
        #[arg(long)]
        wasm: Option<PathBuf>,
    },
    /// Publish a plugin component to an OCI registry as a Wasm artifact (the layout Envoy,
    /// Istio and wasm-pkg use), after checking it against the contract as `plugin build` does.
    /// Prints the artifact's digest, which a manifest can pin: `wasm = "oci://...@sha256:..."`.
    Push {
        /// A component file, or a plugin project directory (its `build/<name>.wasm`).
        component: PathBuf,
        /// oci://REGISTRY/REPOSITORY:TAG.
        reference: String,
    },
    /// Print the WIT contract that plugins implement (`portcullis:plugin`), or write it as
    /// `plugin.wit` into a directory, for a bindings generator.
    Wit {
        /// The directory to write `plugin.wit` into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write bindings of the contract for a language whose toolchain has no generator of its
    /// own (`plugin build` does this for C projects).
    Bindings {
        /// The language.
        #[arg(long, value_enum)]
        lang: BindingsLanguage,
        /// The directory to write them into.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Why a plugin command failed; printed after `error: `.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    /// The Wasm engine could not be set up.
    #[error(transparent)]
    Engine(#[from] crate::plugin::EngineError),
    /// A toolchain step failed.
    #[error(transparent)]
    Toolchain(#[from] toolchain::ToolchainError),
    /// The reference is not one.
    #[error("{0}")]
    Reference(String),
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] crate::oci::OciError),
    /// The build's thread panicked or was cancelled.
    #[error("the build did not finish: {0}")]
    Interrupted(#[source] tokio::task::JoinError),
}

impl PluginCommand {
    pub(super) async fn run(self, options: RuntimeOptions) -> ExitCode {
        let result = match self {
            Self::New {
                name,
                lang,
                dir,
                sdk,
            } => new(&name, lang, dir, sdk),
            Self::Build { dir } => build(dir, &options).await,
            Self::Test { fixtures, wasm } => return test(fixtures, wasm, &options).await,
            Self::Push {
                component,
                reference,
            } => push(component, &reference, &options).await,
            Self::Wit { out } => wit(out),
            Self::Bindings { lang, out } => bindings(lang, out),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

fn new(
    name: &str,
    lang: Language,
    dir: Option<PathBuf>,
    sdk: Option<PathBuf>,
) -> Result<(), CommandError> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let sdk = sdk.map_or_else(Sdk::default_for_this_build, Sdk::Path);
    if lang == Language::Rust && matches!(sdk, Sdk::Registry) {
        eprintln!(
            "note: depending on portcullis-sdk {} from crates.io; pass --sdk <checkout>/plugin-sdk to use a source checkout",
            env!("CARGO_PKG_VERSION")
        );
    }
    let files = scaffold::new(name, lang, &dir, &sdk)?;
    println!("created {} ({} plugin):", dir.display(), lang.name());
    for file in files {
        println!("  {}", file.display());
    }
    println!(
        "next: cd {} && portcullis plugin build && portcullis plugin test fixtures.toml",
        dir.display()
    );
    Ok(())
}

async fn build(dir: PathBuf, options: &RuntimeOptions) -> Result<(), CommandError> {
    let runtime = Runtime::new(options)?;
    // The language tools run for seconds to minutes: off the async runtime.
    let built = tokio::task::spawn_blocking(move || toolchain::build(&dir, &runtime))
        .await
        .map_err(CommandError::Interrupted)??;
    println!(
        "built {} ({} KiB in {:.1} s); it fits the plugin contract",
        built.path.display(),
        built.size.div_ceil(1024),
        built.elapsed.as_secs_f64()
    );
    Ok(())
}

async fn test(fixtures: Vec<PathBuf>, wasm: Option<PathBuf>, options: &RuntimeOptions) -> ExitCode {
    let runtime = match Runtime::new(options) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &fixtures {
        let report = match crate::toolchain::fixtures::run(&runtime, file, wasm.as_deref()).await {
            Ok(report) => report,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        for (name, failure) in report.cases {
            match failure {
                None => {
                    passed += 1;
                    println!("ok      {}: {name}", file.display());
                }
                Some(why) => {
                    failed += 1;
                    println!("FAILED  {}: {name}\n        {why}", file.display());
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn push(
    component: PathBuf,
    reference: &str,
    options: &RuntimeOptions,
) -> Result<(), CommandError> {
    let reference = OciReference::parse(reference).map_err(|e| {
        CommandError::Reference(format!("invalid OCI reference `{reference}`: {e}"))
    })?;
    if reference.tag.is_none() {
        return Err(CommandError::Reference(format!(
            "push to a tag (`{reference}` has none): `oci://{}/{}:TAG`; the digest is printed",
            reference.registry, reference.repository
        )));
    }
    let runtime = Runtime::new(options)?;
    let (file, bytes) = toolchain::publishable(&component, &runtime)?;
    let digest = runtime.registries().push(&reference, &bytes).await?;
    println!(
        "pushed {} ({} KiB) to {reference}\ndigest: {digest}\npin it: wasm = \"{}\"",
        file.display(),
        bytes.len().div_ceil(1024),
        reference.at_digest(&digest)
    );
    Ok(())
}

fn wit(out: Option<PathBuf>) -> Result<(), CommandError> {
    let Some(dir) = out else {
        print!("{WIT}");
        return Ok(());
    };
    let path = toolchain::write_wit(&dir)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn bindings(lang: BindingsLanguage, out: PathBuf) -> Result<(), CommandError> {
    let files = component::bindings(lang, &out)?;
    for file in files {
        println!("wrote {}", file.display());
    }
    Ok(())
}
