//! The `portcullis` command line.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::ConfigSource;
use crate::gateway::Running;
use crate::observe::access_log;
use crate::observe::logging::{self, LogFormat};
use crate::oci::RegistrySettings;
use crate::plugin::engine::{DEFAULT_INSTANCE_SLOTS, MAX_INSTANCE_SLOTS};
use crate::plugin::{Runtime, RuntimeOptions};

mod config;
mod plugin;
mod runtime;

/// Portcullis: an API gateway in which every policy is a sandboxed WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Log filter: a level (`info`, `debug`) or per-target directives (`info,plugin=debug`).
    /// `RUST_LOG` wins when set.
    #[arg(long, global = true, default_value = "info", env = "PORTCULLIS_LOG")]
    log_level: String,
    /// Log line format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "PORTCULLIS_LOG_FORMAT"
    )]
    log_format: LogFormat,
    /// Where compiled plugins are cached between runs (default: the user's cache directory).
    #[arg(long, global = true, env = "PORTCULLIS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every plugin at start instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Most plugin instances alive at once, busy and idle, in the whole process (slots of the
    /// pooling allocator; each reserves address space, not memory). A call beyond them fails
    /// with `instantiate`.
    #[arg(
        long,
        global = true,
        default_value_t = DEFAULT_INSTANCE_SLOTS,
        value_parser = clap::value_parser!(u32).range(1..=MAX_INSTANCE_SLOTS as i64),
        env = "PORTCULLIS_PLUGIN_INSTANCES"
    )]
    plugin_instances: u32,
    /// Credentials for OCI registries (`wasm = "oci://..."`): a Docker-style config.json, as
    /// `docker login` or `oras login` write it (default: `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json` when it exists).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "PORTCULLIS_REGISTRY_AUTH"
    )]
    registry_auth: Option<PathBuf>,
    /// The CA certificate (PEM) of private OCI registries, trusted beside the system's roots.
    #[arg(
        long,
        global = true,
        value_name = "PEM",
        env = "PORTCULLIS_REGISTRY_CA"
    )]
    registry_ca: Option<PathBuf>,
    /// An OCI registry (`HOST:PORT`) spoken to over plain HTTP instead of HTTPS, as Docker's
    /// `insecure-registries`; repeat it, or separate them by commas.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        value_delimiter = ',',
        env = "PORTCULLIS_REGISTRY_PLAIN_HTTP"
    )]
    registry_plain_http: Vec<String>,
    /// Where components pulled from registries are kept by digest, so that they load again
    /// with the registry away (default: `portcullis/plugins` in the user's cache directory).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "PORTCULLIS_PLUGIN_STORE"
    )]
    plugin_store: Option<PathBuf>,
    /// Threads that serve requests (default: the CPUs the process may run on, by its affinity
    /// and cgroup quota). With one, the gateway runs on tokio's current-thread scheduler,
    /// measured cheaper than a one-worker multi-thread one (docs/benchmarks.md).
    #[arg(
        long,
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(NonZeroUsize),
        env = "PORTCULLIS_WORKER_THREADS"
    )]
    worker_threads: Option<NonZeroUsize>,
    /// Name compiled plugin functions in `/tmp/perf-PID.map`, for profilers (`perf`,
    /// `bench/run --mode callgrind`); a diagnostic, off by default.
    #[arg(long, global = true, env = "PORTCULLIS_WASM_PERFMAP")]
    wasm_perfmap: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gateway described by a manifest: a file, or a key in etcd that every gateway
    /// of a fleet watches (docs/fleet.md).
    Run {
        /// The manifest: a TOML file, or etcd://HOST:PORT[,HOST:PORT]/PREFIX (the key
        /// PREFIX/manifest).
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        manifest: Option<String>,
        /// The manifest, as a flag: a file or an etcd URL.
        #[arg(long, value_name = "FILE|etcd://HOST:PORT/PREFIX")]
        config: Option<String>,
        #[command(flatten)]
        etcd: config::EtcdArgs,
        /// Where the last good manifest from etcd is kept, to serve from when etcd cannot be
        /// reached at start (default: `portcullis/manifests` in the user's cache directory).
        #[arg(long, value_name = "DIR", env = "PORTCULLIS_MANIFEST_CACHE")]
        manifest_cache: Option<PathBuf>,
        /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish before their
        /// connections are closed (`500ms`, `30s`, `2m`).
        #[arg(long, default_value = "30s", value_parser = parse_timeout)]
        shutdown_timeout: Duration,
        /// Do not reload when the manifest or the files it names change; reload only on SIGHUP
        /// or `POST /reload` on the admin API. A manifest from etcd is followed regardless.
        #[arg(long)]
        no_watch: bool,
        /// Where access lines go: `log` (the `access` target of the log), `stdout`, or a file
        /// (appended to; writes are buffered off the request path). Given, it overrides the
        /// manifest's `[access-log] destination`; else that, else `log`.
        #[arg(long, env = "PORTCULLIS_ACCESS_LOG")]
        access_log: Option<access_log::Destination>,
        /// The access line format for `stdout` or a file. Given, it overrides the manifest's
        /// `[access-log] format`; else that, else `json`.
        #[arg(long, value_enum, env = "PORTCULLIS_ACCESS_LOG_FORMAT")]
        access_log_format: Option<access_log::Format>,
    },
    /// The manifest of a fleet, in etcd: push one (checked first), or print the one stored.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Tools for plugin authors, in any language.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Check a manifest as `run` would load it: parse, resolve, compile and init every plugin
    /// with its config. Prints every error; exits 1 if there is any (like `nginx -t`).
    Check {
        /// The manifest (TOML).
        manifest: PathBuf,
    },
}

impl Cli {
    /// Runs the command and returns the process exit code.
    pub fn run(self) -> ExitCode {
        if let Err(e) = logging::init(&self.global.log_level, self.global.log_format) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        let options = RuntimeOptions {
            cache_dir: self.global.cache_dir.clone(),
            no_cache: self.global.no_cache,
            instance_slots: self.global.plugin_instances,
            registries: RegistrySettings {
                auth_file: self.global.registry_auth.clone(),
                ca: self.global.registry_ca.clone(),
                plain_http: self.global.registry_plain_http.clone(),
                store: self.global.plugin_store.clone(),
            },
            perfmap: self.global.wasm_perfmap,
        };
        let runtime = match runtime::build(self.global.worker_threads) {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match self.command {
            Command::Run {
                manifest,
                config,
                etcd,
                manifest_cache,
                shutdown_timeout,
                no_watch,
                access_log,
                access_log_format,
            } => {
                let source = match config::run_source(manifest, config, &etcd) {
                    Ok(source) => source,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                };
                runtime.block_on(run(
                    source,
                    config::cache_dir(manifest_cache),
                    options,
                    shutdown_timeout,
                    !no_watch,
                    access_log::Overrides {
                        destination: access_log,
                        format: access_log_format,
                    },
                ))
            }
            Command::Config { command } => runtime.block_on(command.run(options)),
            Command::Check { manifest } => runtime.block_on(check(manifest, options)),
            Command::Plugin { command } => runtime.block_on(command.run(options)),
        }
    }
}

async fn run(
    source: ConfigSource,
    manifest_cache: Option<PathBuf>,
    options: RuntimeOptions,
    shutdown_timeout: Duration,
    watch: bool,
    access_log: access_log::Overrides,
) -> ExitCode {
    let started = match &source {
        ConfigSource::File(manifest) => Running::start(manifest, &options, access_log).await,
        ConfigSource::Etcd(etcd) => match Runtime::new(&options) {
            Ok(runtime) => {
                let runtime = std::sync::Arc::new(runtime);
                Running::start_etcd(runtime, etcd.clone(), manifest_cache, access_log).await
            }
            Err(e) => Err(e.into()),
        },
    };
    let mut running = match started {
        Ok(running) => running,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if !watch {
        tracing::info!("files are not watched (--no-watch); reload with SIGHUP or POST /reload");
    } else if let Err(e) = running.watch_files() {
        // Serving matters more than watching: SIGHUP and the admin API still reload.
        tracing::warn!(error = %e, "files are not watched; reload with SIGHUP or POST /reload");
    }
    let _on_sighup = reload_on_sighup(running.reloader().clone());
    tracing::info!(manifest = %source.describe(), "portcullis is serving");
    wait_for_signal().await;
    tracing::info!(timeout = ?shutdown_timeout, "shutting down: draining requests in flight");
    running.stop_within(shutdown_timeout).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn check(manifest: PathBuf, options: RuntimeOptions) -> ExitCode {
    let runtime = match Runtime::new(&options) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match crate::snapshot::load(&runtime, &manifest, 1, None).await {
        Ok(snapshot) => {
            let plugins: usize = snapshot.routes.iter().map(|r| r.chain.len()).sum();
            println!(
                "{}: ok ({} routes, {} upstreams, {} plugin instances configured, state: {})",
                manifest.display(),
                snapshot.routes.len(),
                snapshot.manifest.upstreams.len(),
                plugins,
                snapshot.state.label()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Reloads on every SIGHUP, until the returned task is dropped (aborted).
fn reload_on_sighup(reloader: std::sync::Arc<crate::reload::Reloader>) -> Option<AbortTask> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP cannot be handled; it will not reload");
                return None;
            }
        };
        let task = tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                let _ = reloader.reload(crate::reload::Trigger::Signal).await;
            }
        });
        Some(AbortTask(task))
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
        None
    }
}

/// Aborts its task when dropped.
struct AbortTask(tokio::task::JoinHandle<()>);

impl Drop for AbortTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A duration for `--shutdown-timeout`: a whole number and `ms`, `s` or `m`.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `30s`"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(format!(
            "`{text}` needs a unit: `ms`, `s` or `m` (e.g. `30s`)"
        )),
    }
}
