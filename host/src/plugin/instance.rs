//! One configured plugin (a component, its config, its limits) and the instances that run it.
//!
//! Life cycle, after spin's factors: the linker is built once per process (`engine.rs`); a plugin
//! is *configured* once per manifest load (`InstancePre`, then `init` on a first instance, which
//! validates the config and learns the plugin's needs); instances are created per request
//! (`request` isolation) or kept warm and reused (`reuse`), on the pooling allocator, with an
//! epoch deadline on every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTableError};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::budget::MemoryBudget;
use super::engine::{Compiled, EPOCH_TICK, MAX_PLUGIN_MEMORY, Runtime};
use super::exchange::Exchange;
use super::store::{Fault, InstanceState, MAX_HOST_HANDLES, PluginTag};
use crate::config::{FailurePolicy, Isolation, PluginSpec};
use crate::contract::Phase;
use crate::contract::{self as bindings, Needs, RequestAction};
use crate::state::{Namespace, StateStore};

mod error;
#[cfg(test)]
mod tests;

pub use error::{CallError, ConfigureError};

/// Most warm instances kept idle per plugin; more are dropped when returned.
const MAX_IDLE: usize = 64;

/// What a successful call decided.
#[derive(Debug)]
pub enum Outcome {
    /// `on-request`'s decision.
    Request(RequestAction),
    /// `on-response` finished.
    Response,
}

/// Counters per configured plugin.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls that failed, of any kind.
    pub failures: AtomicU64,
    /// Failures skipped under `fail-open`.
    pub skipped: AtomicU64,
    /// Instances created.
    pub instantiations: AtomicU64,
    /// Time spent in calls (instantiation included when a call needed one), in nanoseconds.
    pub call_nanos: AtomicU64,
    /// Reused instances dropped at the end of their request instead of kept idle, because their
    /// memory had grown beyond `[plugin-runtime] idle-memory`.
    pub oversized_drops: AtomicU64,
}

/// A plugin as configured on one route (or globally).
pub struct ConfiguredPlugin {
    tag: Arc<PluginTag>,
    pre: bindings::PluginPre<InstanceState>,
    config: String,
    needs: Needs,
    isolation: Isolation,
    failure: FailurePolicy,
    memory: usize,
    cpu_ticks: u64,
    cpu: Duration,
    /// A bound on a call's wall-clock time: ten times its CPU limit plus a second.
    wall: Duration,
    max_requests: u64,
    hash: Arc<str>,
    state: Namespace,
    budget: Arc<MemoryBudget>,
    idle: Mutex<Vec<Warm>>,
    /// Counters for the admin API and metrics.
    pub stats: PluginStats,
}

/// The instance a request holds between its `on-request` and `on-response` calls, so a plugin
/// sees one instance (one memory) for the whole request, in either isolation mode.
#[derive(Default)]
pub struct Held {
    warm: Option<Warm>,
    /// `on-request` failed (and was skipped under `fail-open`): no `on-response` for it.
    failed: bool,
}

impl Held {
    /// Whether this plugin's `on-request` failed for the request.
    pub fn failed(&self) -> bool {
        self.failed
    }
}

/// A live instance with its store.
struct Warm {
    store: Store<InstanceState>,
    plugin: bindings::Plugin,
    uses: u64,
    /// Its linear memory right after `init`: what any instance of the plugin needs.
    baseline: usize,
}

impl Warm {
    /// Bytes of linear memory the instance holds.
    fn memory(&self) -> usize {
        self.store.data().memory.bytes()
    }
}

impl ConfiguredPlugin {
    /// Links `compiled` against the host, instantiates it once and calls `init` with the spec's
    /// config. A reuse-mode plugin keeps that first instance warm. Its shared state is its own
    /// namespace (name and route) of `state`; its instances' memory is reserved from `budget`.
    pub async fn configure(
        runtime: &Runtime,
        compiled: &Compiled,
        spec: &PluginSpec,
        route: &str,
        state: &Arc<StateStore>,
        budget: &Arc<MemoryBudget>,
    ) -> Result<Self, ConfigureError> {
        if spec.limits.memory_bytes > MAX_PLUGIN_MEMORY {
            return Err(ConfigureError::TooMuchMemory {
                asked: spec.limits.memory_bytes,
                most: MAX_PLUGIN_MEMORY,
            });
        }
        let pre = runtime
            .link(&compiled.component)
            .map_err(ConfigureError::Link)?;
        let cpu_ticks = (spec.limits.cpu.as_micros() / EPOCH_TICK.as_micros()).max(1);
        let mut plugin = Self {
            tag: Arc::new(PluginTag {
                plugin: spec.name.as_str().into(),
                route: route.into(),
            }),
            pre,
            config: spec.config.to_string(),
            needs: Needs::empty(),
            isolation: spec.isolation,
            failure: spec.failure,
            memory: spec.limits.memory_bytes,
            cpu_ticks: u64::try_from(cpu_ticks).unwrap_or(u64::MAX),
            cpu: spec.limits.cpu,
            wall: spec
                .limits
                .cpu
                .saturating_mul(10)
                .saturating_add(Duration::from_secs(1)),
            max_requests: spec.limits.max_requests,
            hash: compiled.hash.clone(),
            state: state.namespace(&spec.name, route),
            budget: budget.clone(),
            idle: Mutex::new(Vec::new()),
            stats: PluginStats::default(),
        };
        let (warm, needs) = plugin.instantiate().await.map_err(|e| match e {
            InitError::Rejected(message) => ConfigureError::Rejected(message),
            InitError::Failed(e) => ConfigureError::Init(e),
        })?;
        plugin.needs = needs;
        if plugin.isolation == Isolation::Reuse {
            plugin.checkin(warm);
        }
        Ok(plugin)
    }

    /// The plugin's display name.
    pub fn name(&self) -> &str {
        &self.tag.plugin
    }

    /// The route it is configured on (`*` for global plugins).
    pub fn route(&self) -> &str {
        &self.tag.route
    }

    /// What the plugin asked for in `init`.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// The failure policy.
    pub fn failure_policy(&self) -> FailurePolicy {
        self.failure
    }

    /// SHA-256 of the component's bytes.
    pub fn content_hash(&self) -> &str {
        &self.hash
    }

    /// Warm instances waiting in the pool now, and the linear memory they hold.
    pub fn idle_instances(&self) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        (idle.len(), idle.iter().map(Warm::memory).sum())
    }

    /// Runs one phase with `exchange` lent to the plugin. The exchange always comes back, whatever
    /// happened to the call.
    ///
    /// The instance comes from `held` when this request already has one, else from the pool (or
    /// is created). After `on-request` a plugin with an `on-response` phase keeps it in `held`;
    /// otherwise it goes back to the pool (`reuse`) or is dropped (`request`).
    pub async fn call(
        &self,
        exchange: Box<Exchange>,
        phase: Phase,
        held: &mut Held,
    ) -> (Box<Exchange>, Result<Outcome, CallError>) {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let result = self.call_timed(exchange, phase, held).await;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.call_nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }

    async fn call_timed(
        &self,
        exchange: Box<Exchange>,
        phase: Phase,
        held: &mut Held,
    ) -> (Box<Exchange>, Result<Outcome, CallError>) {
        let on_request = matches!(phase, Phase::Request);
        let mut warm = match held.warm.take() {
            Some(warm) => warm,
            None => match self.checkout().await {
                Ok(mut warm) => {
                    // One use per request, counted when the request takes the instance.
                    warm.uses += 1;
                    warm
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    held.failed = on_request;
                    return (exchange, Err(e));
                }
            },
        };
        let state = warm.store.data_mut();
        state.exchange = Some(exchange);
        state.ticks_left = self.cpu_ticks;
        state.fault = None;
        state.stderr.clear_tail();
        warm.store.set_epoch_deadline(1);

        // The CPU budget only counts ticks the guest runs; a guest blocked in a WASI wait (a
        // sleep, a poll) runs none, so a wall-clock bound backs it up.
        let result = tokio::time::timeout(self.wall, invoke(&mut warm, phase)).await;
        let exchange = warm
            .store
            .data_mut()
            .exchange
            .take()
            .expect("the exchange stays in the store for the whole call");
        let keep = on_request && self.needs.contains(Needs::ON_RESPONSE);
        let error = match result {
            // The guest answered: its instance is sound.
            Ok(Ok(Ok(outcome))) => {
                if keep {
                    held.warm = Some(warm);
                } else {
                    self.checkin(warm);
                }
                return (exchange, Ok(outcome));
            }
            // It reported an error cleanly: the instance is sound, but this request is done
            // with it.
            Ok(Ok(Err(message))) => {
                self.checkin(warm);
                CallError::Plugin(message)
            }
            // A trapped instance cannot be entered again: `warm` is dropped here.
            Ok(Err(error)) => self.classify(warm.store.data(), &error),
            // The call was abandoned mid-way: its instance is dropped too.
            Err(_) => CallError::WallClock(self.wall),
        };
        held.failed = on_request;
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        (exchange, Err(error))
    }

    /// Gives back an instance a request held (the request is over).
    pub fn release(&self, held: &mut Held) {
        if let Some(warm) = held.warm.take() {
            self.checkin(warm);
        }
    }

    /// Records a failure skipped under `fail-open`.
    pub fn record_skip(&self) {
        self.stats.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Names why a call into `state`'s instance failed: a limit the host enforced, or a trap
    /// (with the guest's last words on stderr, such as a Rust panic message).
    fn classify(&self, state: &InstanceState, error: &wasmtime::Error) -> CallError {
        match state.fault {
            Some(Fault::CpuLimit) => CallError::CpuLimit(self.cpu),
            Some(Fault::MemoryLimit) => CallError::MemoryLimit(self.memory),
            Some(Fault::MemoryBudget) => CallError::MemoryBudget(state.memory.limit()),
            None if matches!(
                error.downcast_ref::<ResourceTableError>(),
                Some(ResourceTableError::Full)
            ) =>
            {
                CallError::HandleLimit(MAX_HOST_HANDLES)
            }
            None => {
                let stderr = state.stderr.take_tail();
                let trap = match error.downcast_ref::<Trap>() {
                    Some(trap) => trap.to_string(),
                    None => format!("{error:#}"),
                };
                if stderr.is_empty() {
                    CallError::Trap(trap)
                } else {
                    CallError::Trap(format!("{trap}; stderr: {stderr}"))
                }
            }
        }
    }

    async fn checkout(&self) -> Result<Warm, CallError> {
        if self.isolation == Isolation::Reuse {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            if let Some(warm) = idle {
                return Ok(warm);
            }
        }
        match self.instantiate().await {
            Ok((warm, _)) => Ok(warm),
            Err(InitError::Rejected(message)) => Err(CallError::Instantiate(format!(
                "init rejected its config: {message}"
            ))),
            Err(InitError::Failed(e)) => Err(e),
        }
    }

    /// Keeps `warm` idle for the next request, unless it is done: `request` isolation, recycled
    /// after `max-requests`, or grown beyond the idle bound (one large request must not keep its
    /// memory resident; the pooling allocator releases a dropped instance's pages).
    fn checkin(&self, warm: Warm) {
        if self.isolation != Isolation::Reuse || warm.uses >= self.max_requests {
            return;
        }
        if warm.memory() > warm.baseline.max(self.budget.idle_memory()) {
            self.stats.oversized_drops.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(warm);
        }
    }

    /// A new instance, with `init` called.
    async fn instantiate(&self) -> Result<(Warm, Needs), InitError> {
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        let mut store = Store::new(
            self.pre.engine(),
            InstanceState::new(
                self.tag.clone(),
                self.memory,
                self.budget.lease(),
                self.state.clone(),
            ),
        );
        store.limiter(|state| state);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.ticks_left == 0 {
                state.fault = Some(Fault::CpuLimit);
                return Ok(UpdateDeadline::Interrupt);
            }
            state.ticks_left -= 1;
            // Yield to tokio at every tick, so a slow plugin never holds a worker thread.
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store.data_mut().ticks_left = self.cpu_ticks;
        store.set_epoch_deadline(1);

        let mut warm = match self.pre.instantiate_async(&mut store).await {
            Ok(plugin) => Warm {
                store,
                plugin,
                uses: 0,
                baseline: 0,
            },
            Err(e) => {
                let error = match store.data().fault {
                    Some(_) => self.classify(store.data(), &e),
                    None => CallError::Instantiate(format!("{e:#}")),
                };
                return Err(InitError::Failed(error));
            }
        };
        let handler = warm.plugin.portcullis_plugin_handler();
        match handler.call_init(&mut warm.store, &self.config).await {
            Ok(Ok(needs)) => {
                warm.store.data_mut().needs = needs;
                warm.baseline = warm.memory();
                Ok((warm, needs))
            }
            Ok(Err(message)) => Err(InitError::Rejected(message)),
            Err(e) => Err(InitError::Failed(self.classify(warm.store.data(), &e))),
        }
    }
}

enum InitError {
    Rejected(String),
    Failed(CallError),
}

async fn invoke(warm: &mut Warm, phase: Phase) -> wasmtime::Result<Result<Outcome, String>> {
    let handler = warm.plugin.portcullis_plugin_handler();
    // The handles carry no data: the exchange is in the store (see `exchange.rs`).
    match phase {
        Phase::Request => handler
            .call_on_request(&mut warm.store, Resource::new_borrow(0))
            .await
            .map(|r| r.map(Outcome::Request)),
        Phase::Response => handler
            .call_on_response(
                &mut warm.store,
                Resource::new_borrow(0),
                Resource::new_borrow(0),
            )
            .await
            .map(|r| r.map(|()| Outcome::Response)),
    }
}
