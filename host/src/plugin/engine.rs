//! The one Wasm engine of the process: compilation (cached on disk by content), the linker with
//! the host's imports, and the epoch ticker that bounds the CPU time of every plugin call.

use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use super::conformance;
use super::store::InstanceState;
use super::ticker::Ticker;
use crate::contract as bindings;
use crate::oci::{OciError, Registries, RegistrySettings};

pub use super::ticker::EPOCH_TICK;

/// The largest linear memory any plugin may be given (the pooling allocator's slot size).
pub const MAX_PLUGIN_MEMORY: usize = 1 << 30;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached between runs; `None` for the user's cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Disable the disk cache (every start recompiles).
    pub no_cache: bool,
    /// Most plugin instances alive at once in the process: the pooling allocator's slots.
    pub instance_slots: u32,
    /// How components named `oci://...` are pulled, and where they are kept.
    pub registries: RegistrySettings,
    /// Write the names of compiled plugin functions to `/tmp/perf-PID.map` (the format `perf`
    /// and `bench/run --mode callgrind` read), so that profiles name guest code.
    pub perfmap: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            no_cache: false,
            instance_slots: DEFAULT_INSTANCE_SLOTS,
            registries: RegistrySettings::default(),
            perfmap: false,
        }
    }
}

/// Plugin instances alive at once in a process, by default. Each slot reserves address space
/// for one largest memory plus guard pages (about 4 GiB), none of it resident until used: the
/// default reserves about 4 TiB of the 128 TiB a process has. Tools that cap address space
/// (valgrind gives a program 64 GiB) need a handful, `--plugin-instances 8`.
pub const DEFAULT_INSTANCE_SLOTS: u32 = 1000;

/// The most slots `--plugin-instances` may ask for (about 40 TiB of address space).
pub const MAX_INSTANCE_SLOTS: u32 = 10_000;

/// Errors setting up the engine or compiling a component.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be configured.
    #[error("cannot set up the Wasm engine: {0:#}")]
    Setup(wasmtime::Error),
    /// The epoch ticker thread could not start.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
    /// The bytes are not a valid component.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Registry access cannot be set up (its CA file).
    #[error(transparent)]
    Registry(#[from] OciError),
}

/// Why bytes did not compile into a component, in the terms of the plugin's author.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A core module: the usual mistake (built for the wrong target).
    #[error(
        "this is a core Wasm module, not a component: build it for `wasm32-wasip2`, or turn it into a component with `wasm-tools component new`"
    )]
    CoreModule,
    /// Not WebAssembly at all.
    #[error("this file is not WebAssembly (it lacks the `\\0asm` header)")]
    NotWasm,
    /// A component wasmtime refused.
    #[error("the component does not compile: {0:#}")]
    Invalid(#[source] wasmtime::Error),
    /// The compilation thread ended without an answer.
    #[error("the compilation did not finish: {0}")]
    Unfinished(#[source] tokio::task::JoinError),
}

/// Why a compiled component cannot be linked against the host.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Its imports or exports are not the contract's, named in the author's terms.
    #[error(transparent)]
    Contract(#[from] conformance::Mismatch),
    /// They are the contract's by name, yet the linker refused them (a signature differs).
    #[error("its imports or exports differ from the contract's: {0:#}")]
    Linker(#[source] wasmtime::Error),
}

/// A compiled component and the hash of the bytes it came from.
#[derive(Clone)]
pub struct Compiled {
    /// The compiled component.
    pub component: Component,
    /// SHA-256 of the component's bytes, hex.
    pub hash: Arc<str>,
}

/// The process-wide Wasm runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<InstanceState>,
    /// Compiled components by content hash: a reload recompiles only what changed.
    compiled: DashMap<Arc<str>, Component>,
    ticker: Arc<Ticker>,
    /// What outlives a snapshot: figures, breakers, canaries, shadows.
    kept: super::kept::Registry,
    /// Where `oci://` components come from.
    registries: Registries,
}

impl Runtime {
    /// Sets up the engine, the pooling allocator, the linker and the epoch ticker.
    pub fn new(options: &RuntimeOptions) -> Result<Self, EngineError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if options.perfmap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
            options.instance_slots.clamp(1, MAX_INSTANCE_SLOTS),
        )));
        if !options.no_cache {
            let dir = options.cache_dir.clone().or_else(default_cache_dir);
            if let Some(dir) = dir {
                let mut cache = CacheConfig::new();
                cache.with_directory(dir);
                let cache = Cache::new(cache).map_err(EngineError::Setup)?;
                config.cache(Some(cache));
            }
        }
        let engine = Engine::new(&config).map_err(EngineError::Setup)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(EngineError::Setup)?;
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(EngineError::Setup)?;

        // Without the ticker no deadline would fire, so failing to start it fails the runtime.
        let ticker = Arc::new(Ticker::start(engine.clone()).map_err(EngineError::Ticker)?);
        Ok(Self {
            engine,
            linker,
            compiled: DashMap::new(),
            ticker,
            kept: super::kept::Registry::default(),
            registries: Registries::new(&options.registries)?,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// What the runtime keeps across snapshots (`kept`).
    pub fn kept(&self) -> &super::kept::Registry {
        &self.kept
    }

    /// Where `oci://` components are pulled from and kept.
    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    /// The epoch ticker, which every plugin call keeps running while it is in flight.
    pub(crate) fn ticker(&self) -> &Arc<Ticker> {
        &self.ticker
    }

    /// Links `component` against the host's imports and checks that it exports the handler.
    /// A failure is explained in the plugin author's terms ([`conformance`]): the missing or
    /// extra import or export, or the contract version it was built against.
    pub(crate) fn link(
        &self,
        component: &Component,
    ) -> Result<bindings::PluginPre<InstanceState>, LinkError> {
        let explain =
            |linker_error: wasmtime::Error| match conformance::check(&self.engine, component) {
                Err(mismatch) => LinkError::Contract(mismatch),
                Ok(()) => LinkError::Linker(linker_error),
            };
        let instance_pre = self.linker.instantiate_pre(component).map_err(explain)?;
        bindings::PluginPre::new(instance_pre).map_err(explain)
    }

    /// Compiles `bytes` (or reuses the compilation of identical bytes).
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, EngineError> {
        let hash: Arc<str> = hex(&Sha256::digest(bytes)).into();
        if let Some(component) = self.compiled.get(&hash) {
            return Ok(Compiled {
                component: component.clone(),
                hash,
            });
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| describe_compile_error(bytes, e))?;
        self.compiled.insert(hash.clone(), component.clone());
        Ok(Compiled { component, hash })
    }

    /// Like [`Runtime::compile`], with the compilation (seconds for a large component) on a
    /// blocking thread, so that a reload never stalls the request path on a tokio worker.
    pub async fn compile_off_thread(&self, bytes: Vec<u8>) -> Result<Compiled, EngineError> {
        let hash: Arc<str> = hex(&Sha256::digest(&bytes)).into();
        if let Some(component) = self.compiled.get(&hash) {
            return Ok(Compiled {
                component: component.clone(),
                hash,
            });
        }
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || {
            Component::new(&engine, &bytes).map_err(|e| describe_compile_error(&bytes, e))
        })
        .await
        .map_err(CompileError::Unfinished)??;
        self.compiled.insert(hash.clone(), component.clone());
        Ok(Compiled { component, hash })
    }

    /// Forgets the compilations whose hash is not in `keep` (those of the snapshot in
    /// service), so that a long run of reloads with changing plugins does not pile up
    /// compiled code. Snapshots still serving requests hold their own references.
    pub fn retain_compiled(&self, keep: &std::collections::HashSet<Arc<str>>) {
        self.compiled.retain(|hash, _| keep.contains(hash));
    }
}

/// Pooling allocator settings (measured in `docs/plugin-runtime.md`): `slots` instances of components, each with up to four core instances, one memory and two
/// tables (what every plugin toolchain here produces).
fn pooling(slots: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots);
    pool.total_core_instances(slots.saturating_mul(4));
    pool.total_memories(slots);
    pool.total_tables(slots.saturating_mul(2));
    pool.max_memory_size(MAX_PLUGIN_MEMORY);
    // Keep the first pages of each slot resident and zero them by hand instead of `madvise`:
    // without this a fresh instance costs three system calls that contend across cores.
    pool.linear_memory_keep_resident(2 << 20);
    pool.table_keep_resident(1 << 20);
    pool
}

fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("portcullis").join("wasmtime"))
}

/// Names a compile failure in the plugin author's terms: "not a component" is the usual
/// mistake (a core module built for the wrong target).
fn describe_compile_error(bytes: &[u8], error: wasmtime::Error) -> CompileError {
    let is_core_module = bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0];
    if is_core_module {
        CompileError::CoreModule
    } else if !bytes.starts_with(b"\0asm") {
        CompileError::NotWasm
    } else {
        CompileError::Invalid(error)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
