//! One configured plugin (a component, its config, its limits) and the instances that run it.
//!
//! Life cycle, after spin's factors: the linker is built once per process (`engine.rs`); a plugin
//! is *configured* once per manifest load (`InstancePre`, then `init` on a first instance, which
//! validates the config and learns the plugin's needs); instances are created per request
//! (`request` isolation) or kept warm and reused (`reuse`), on the pooling allocator, with an
//! epoch deadline on every call.
//!
//! A reused instance is lent for one call: it goes back to the pool as soon as `on-request`
//! returns, so a request waiting for its upstream holds no instance, and a few warm instances
//! serve any number of requests in flight. Components built against contract 0.1.0 and 0.1.1
//! were promised the same instance for both calls of a request ([`InstanceLending`]); theirs,
//! and `request` isolation's own instance, are held from `on-request` to `on-response`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use wasmtime::Trap;
use wasmtime::component::{Resource, ResourceTableError};

use super::account::{CpuClock, OnCpu, PluginStats};
use super::budget::MemoryBudget;
use super::engine::{Compiled, EPOCH_TICK, MAX_PLUGIN_MEMORY, Runtime};
use super::exchange::Exchange;
use super::store::{Fault, InstanceState, MAX_HOST_HANDLES, PluginTag};
use super::ticker::Ticker;
use crate::config::{FailurePolicy, Isolation, PluginSpec};
use crate::contract::{self as bindings, InstanceLending, Needs, Phase, RequestAction};
use crate::state::{Namespace, StateStore};

mod error;
mod lifecycle;
mod pool;
#[cfg(test)]
mod tests;

pub use error::{CallError, ConfigureError};
use lifecycle::{InitError, Warm};
use pool::Pool;

/// What a call cost: its time on CPU (see `account`) and its wall time.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallCost {
    /// Time spent running the call (guest code and the host functions it called).
    pub cpu: Duration,
    /// From the call's start to its end, waits included.
    pub wall: Duration,
}

/// What a successful call decided.
#[derive(Debug)]
pub enum Outcome {
    /// `on-request`'s decision.
    Request(RequestAction),
    /// `on-response` finished.
    Response,
}

/// A plugin as configured on one route (or globally).
pub struct ConfiguredPlugin {
    tag: Arc<PluginTag>,
    pre: bindings::PluginPre<InstanceState>,
    config: String,
    needs: Needs,
    isolation: Isolation,
    failure: FailurePolicy,
    /// Whether a request keeps its instance from `on-request` to `on-response`.
    holds_across_calls: bool,
    memory: usize,
    cpu_ticks: u64,
    cpu: Duration,
    /// A bound on a call's wall-clock time: ten times its CPU limit plus a second.
    wall: Duration,
    max_requests: u64,
    hash: Arc<str>,
    state: Namespace,
    budget: Arc<MemoryBudget>,
    ticker: Arc<Ticker>,
    idle: Pool<Warm>,
    /// The version: the component's hash and what it is configured with, digested.
    version: Arc<str>,
    /// What the version costs on this route, kept across reloads (`account`).
    pub stats: Arc<PluginStats>,
    /// Where an `oci://` component came from.
    origin: Option<Origin>,
}

/// Where a component pulled from a registry came from: the reference as the manifest writes it
/// and the manifest digest it resolved to, which the admin API, the metrics and the access log
/// show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `oci://REGISTRY/REPOSITORY:TAG` (or `@sha256:...`), as written.
    pub reference: Arc<str>,
    /// `sha256:...` of the artifact's manifest.
    pub digest: Arc<str>,
}

/// What a request keeps of one plugin between its `on-request` and `on-response` calls: whether
/// `on-request` failed, and the instance itself where the plugin was promised one instance per
/// request (`request` isolation, components of contract 0.1.0 and 0.1.1).
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

    /// Notes a call of `phase` that was not made (its breaker is open).
    pub fn refused(&mut self, phase: Phase) {
        self.failed |= matches!(phase, Phase::Request);
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
        let version = version_of(&compiled.hash, spec);
        let stats = runtime.kept().stats.get_or_insert_with(
            format!("{route}\0{}\0{version}", spec.name),
            PluginStats::default,
        );
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
            holds_across_calls: false,
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
            ticker: runtime.ticker().clone(),
            idle: Pool::new(),
            version,
            stats,
            origin: None,
        };
        let lending = InstanceLending::of(runtime.engine(), &compiled.component);
        let (warm, needs) = plugin.instantiate().await.map_err(|e| match e {
            InitError::Rejected(message) => ConfigureError::Rejected(message),
            InitError::Failed(e) => ConfigureError::Init(e),
        })?;
        plugin.needs = needs;
        plugin.holds_across_calls = needs.contains(Needs::ON_RESPONSE)
            && (plugin.isolation == Isolation::Request || lending == InstanceLending::PerRequest);
        if plugin.isolation == Isolation::Reuse {
            plugin.idle.seed(warm);
        }
        Ok(plugin)
    }

    /// Notes where its component came from (a registry).
    pub fn set_origin(&mut self, origin: Origin) {
        self.origin = Some(origin);
    }

    /// Where its component came from, when that was a registry.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
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

    /// The version: 12 hex digits of a digest of the component's hash, its config, isolation,
    /// failure policy and limits. Two entries that would behave the same share it.
    pub fn version(&self) -> &Arc<str> {
        &self.version
    }

    /// How it is isolated.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Its CPU limit per call.
    pub fn cpu_limit(&self) -> Duration {
        self.cpu
    }

    /// Its memory limit per instance, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory
    }

    /// Warm instances waiting in the pool now, and the linear memory they hold.
    pub fn idle_instances(&self) -> (usize, usize) {
        self.idle.idle(Warm::memory)
    }

    /// Whether a request holds this plugin's instance from `on-request` to `on-response`
    /// (across the upstream call), rather than borrowing one per call.
    pub fn holds_across_calls(&self) -> bool {
        self.holds_across_calls
    }

    /// Runs one phase with `exchange` lent to the plugin. The exchange always comes back, whatever
    /// happened to the call.
    ///
    /// The instance comes from `held` when this request already has one, else from the pool (or
    /// is created). After `on-request` a plugin that [holds across calls] keeps it in `held`;
    /// otherwise it goes back to the pool (`reuse`) or is dropped (`request`).
    ///
    /// [holds across calls]: Self::holds_across_calls
    pub async fn call(
        &self,
        exchange: Box<Exchange>,
        phase: Phase,
        held: &mut Held,
    ) -> (Box<Exchange>, Result<Outcome, CallError>) {
        let (exchange, result, _) = self
            .call_costed(exchange, phase, held, Instant::now(), CpuClock::Polls)
            .await;
        (exchange, result)
    }

    /// Like [`call`](Self::call), for a call that began at `started` (the caller's one reading
    /// of the clock), with what it cost, its CPU time read by `clock`. The call's deadline, its
    /// wall time and (by its polls) its time on CPU all come from that reading and one more at
    /// its end.
    pub(crate) async fn call_costed(
        &self,
        exchange: Box<Exchange>,
        phase: Phase,
        held: &mut Held,
        started: Instant,
        clock: CpuClock,
    ) -> (Box<Exchange>, Result<Outcome, CallError>, CallCost) {
        let _ticking = self.ticker.busy();
        let timed = std::pin::pin!(self.call_timed(exchange, phase, held, started));
        let ((exchange, result), cpu, ended) =
            OnCpu::new(timed, EPOCH_TICK * 3 / 2, clock, started).await;
        let cost = CallCost {
            cpu,
            wall: ended.saturating_duration_since(started),
        };
        self.stats.record_call(cost.wall, cost.cpu);
        if let Err(error) = &result {
            self.stats.record_failure(error);
        }
        (exchange, result, cost)
    }

    async fn call_timed(
        &self,
        exchange: Box<Exchange>,
        phase: Phase,
        held: &mut Held,
        started: Instant,
    ) -> (Box<Exchange>, Result<Outcome, CallError>) {
        let on_request = matches!(phase, Phase::Request);
        let mut warm = match held.warm.take() {
            Some(warm) => warm,
            None => match self.checkout().await {
                Ok(mut warm) => {
                    // One use per request, counted at its first call.
                    if on_request {
                        warm.uses += 1;
                    }
                    warm
                }
                Err(e) => {
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
        // sleep, a poll) runs none, so a wall-clock bound backs it up. Most calls end in their
        // first poll: the timer is made only for one that waits (a WASI wait, a state call to
        // Redis, a yield at an epoch tick).
        let result = {
            let mut invoking = std::pin::pin!(invoke(&mut warm, phase));
            match std::future::poll_fn(|cx| Poll::Ready(invoking.as_mut().poll(cx))).await {
                Poll::Ready(done) => Ok(done),
                Poll::Pending => {
                    let deadline = tokio::time::Instant::from_std(started + self.wall);
                    tokio::time::timeout_at(deadline, invoking).await
                }
            }
        };
        let exchange = warm
            .store
            .data_mut()
            .exchange
            .take()
            .expect("the exchange stays in the store for the whole call");
        let keep = on_request && self.holds_across_calls;
        let error = match result {
            // The guest answered: its instance is sound.
            Ok(Ok(Ok(outcome))) => {
                if keep {
                    held.warm = Some(warm);
                } else {
                    self.checkin(warm, started);
                }
                return (exchange, Ok(outcome));
            }
            // It reported an error cleanly: the instance is sound, but this request is done
            // with it.
            Ok(Ok(Err(message))) => {
                self.checkin(warm, started);
                CallError::Plugin(message)
            }
            // A trapped instance cannot be entered again: `warm` is dropped here.
            Ok(Err(error)) => {
                let error = self.classify(warm.store.data(), &error);
                self.forget(warm);
                error
            }
            // The call was abandoned mid-way: its instance is dropped too.
            Err(_) => {
                self.forget(warm);
                CallError::WallClock(self.wall)
            }
        };
        held.failed = on_request;
        (exchange, Err(error))
    }

    /// Gives back an instance a request held (the request is over).
    pub fn release(&self, held: &mut Held) {
        if let Some(warm) = held.warm.take() {
            self.checkin(warm, Instant::now());
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
}

/// The version of a plugin entry: what makes two configured plugins behave alike.
fn version_of(hash: &str, spec: &PluginSpec) -> Arc<str> {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(hash.as_bytes());
    digest.update(spec.config.to_string().as_bytes());
    digest.update(format!("{:?}{:?}{:?}", spec.isolation, spec.failure, spec.limits).as_bytes());
    let bytes = digest.finalize();
    bytes[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into()
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
