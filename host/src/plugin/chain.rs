//! A route's chain: the global plugins, then the route's own, in manifest order. `on-request`
//! runs front to back and may stop early with a reply; `on-response` runs back to front for the
//! plugins that ran, as in Envoy and Pingora. Failure policies are applied here, and each
//! entry's roll-out (`rollout`): the version that serves the request, its breaker, the copies
//! for its shadow.

use std::sync::Arc;
use std::time::Duration;

use super::account::CpuClock;
use super::exchange::Exchange;
use super::instance::{CallCost, CallError, ConfiguredPlugin, Held, Outcome};
use super::rollout::shadow::Capture;
use super::rollout::{Admission, Role, Step, Version, breaker};
use crate::config::FailurePolicy;
use crate::contract::Phase;
use crate::contract::{Needs, RequestAction};
use crate::observe::metrics::RouteMetrics;

/// A plugin failed under `fail-closed`: the request fails.
#[derive(Debug, Clone)]
pub struct ChainFailure {
    /// The plugin's name.
    pub plugin: String,
    /// The phase that failed.
    pub phase: &'static str,
    /// What went wrong.
    pub error: CallError,
}

/// What `on-request` decided for the whole chain.
#[derive(Debug)]
pub enum RequestVerdict {
    /// Every plugin let the request through: call the upstream.
    Forward,
    /// A plugin answered. `ran` plugins (from the front) get `on-response`.
    Respond {
        /// The plugin's reply as a response, or why it is not a valid one.
        reply: Result<http::Response<bytes::Bytes>, super::reply::InvalidReply>,
        /// How many plugins ran `on-request`, including the one that answered.
        ran: usize,
    },
    /// A fail-closed plugin failed. `ran` plugins before it get `on-response`.
    Fail {
        /// Who failed and why.
        failure: ChainFailure,
        /// How many plugins ran before the failing one.
        ran: usize,
    },
}

/// What one request holds of its chain between `on-request` and `on-response`: for each
/// entry, the version that serves the request, whether its `on-request` failed, the instance of
/// a plugin that holds its own across the upstream call, and the copies a shadow runs on.
/// Dropping it gives the instances back and queues the shadow runs, whether or not
/// `on-response` ran (a client that went away, an upstream error).
pub struct ChainState {
    steps: Arc<[Step]>,
    slots: Vec<Slot>,
}

#[derive(Default)]
struct Slot {
    role: Role,
    /// The request reached this entry (an earlier plugin did not answer or fail first).
    reached: bool,
    held: Held,
    capture: Option<Box<Capture>>,
}

impl ChainState {
    fn new(steps: &Arc<[Step]>) -> Self {
        Self {
            steps: steps.clone(),
            slots: steps.iter().map(|_| Slot::default()).collect(),
        }
    }
}

impl Drop for ChainState {
    fn drop(&mut self) {
        for (step, slot) in self.steps.iter().zip(&mut self.slots) {
            step.version(slot.role).plugin.release(&mut slot.held);
            if let (Some(shadow), Some(capture)) = (step.shadow(), slot.capture.take()) {
                shadow.submit(*capture);
            }
        }
    }
}

/// The plugins that run for one route.
#[derive(Clone, Default)]
pub struct Chain {
    steps: Arc<[Step]>,
    needs: Needs,
    /// Whether an entry has a canary or a shadow: the slower walk that records them.
    rolled: bool,
}

impl Chain {
    /// A chain of `plugins`, in order, none with a canary, breaker or shadow.
    pub fn new(plugins: Vec<Arc<ConfiguredPlugin>>) -> Self {
        Self::of_steps(plugins.into_iter().map(Step::plain).collect())
    }

    /// A chain of `steps`, in order.
    pub fn of_steps(steps: Vec<Step>) -> Self {
        let needs = steps
            .iter()
            .flat_map(Step::plugins)
            .fold(Needs::empty(), |acc, p| acc | p.needs());
        let rolled = steps
            .iter()
            .any(|s| s.canary().is_some() || s.shadow().is_some());
        Self {
            steps: steps.into(),
            needs,
            rolled,
        }
    }

    /// The entries, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Every plugin the chain may call (stable, candidates and shadows), entry by entry.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<ConfiguredPlugin>> {
        self.steps.iter().flat_map(Step::plugins)
    }

    /// Whether some plugin reads the request body (so it must be buffered).
    pub fn needs_request_body(&self) -> bool {
        self.needs.contains(Needs::REQUEST_BODY)
    }

    /// Whether some plugin reads the response body (so it must be buffered).
    pub fn needs_response_body(&self) -> bool {
        self.needs.contains(Needs::RESPONSE_BODY)
    }

    /// Whether some plugin has an `on-response` phase.
    pub fn has_on_response(&self) -> bool {
        self.needs.contains(Needs::ON_RESPONSE)
    }

    /// Runs `on-request` through the chain, each call timed into `metrics`. The returned state
    /// goes to `on_response`.
    pub async fn on_request(
        &self,
        mut exchange: Box<Exchange>,
        metrics: &RouteMetrics,
    ) -> (Box<Exchange>, RequestVerdict, ChainState) {
        exchange.phase = Phase::Request;
        let mut state = ChainState::new(&self.steps);
        for (index, (step, slot)) in self.steps.iter().zip(&mut state.slots).enumerate() {
            slot.role = step.choose(&exchange);
            slot.reached = true;
            let version = step.version(slot.role);
            let plugin = &version.plugin;
            if self.rolled {
                note_version(&mut exchange, step, slot.role);
                if step.shadow().is_some_and(|shadow| shadow.sampled()) {
                    slot.capture = Some(Box::new(Capture::before_request(&exchange)));
                }
            }
            if !plugin.needs().contains(Needs::ON_REQUEST) {
                // The live plugin let the request through untouched: what its shadow is
                // compared with.
                if let Some(capture) = slot.capture.as_mut() {
                    capture.after_request(&exchange, &Ok(Outcome::Response));
                }
                continue;
            }
            exchange.slot = index;
            let started = std::time::Instant::now();
            let (back, result, cost) = call(
                version,
                exchange,
                Phase::Request,
                &mut slot.held,
                started,
                clock(step),
            )
            .await;
            metrics.plugin_call(index, Phase::Request, cost.wall);
            exchange = back;
            if let Some(canary) = step.canary() {
                canary.state.call(slot.role, cost.cpu, result.is_err());
            }
            if let Some(capture) = slot.capture.as_mut() {
                capture.after_request(&exchange, &result);
            }
            trace_call(
                &mut exchange,
                plugin,
                Phase::Request,
                started,
                cost.wall,
                &result,
            );
            match result {
                Ok(Outcome::Request(RequestAction::Continue)) | Ok(Outcome::Response) => {}
                Ok(Outcome::Request(RequestAction::Respond(reply))) => {
                    return (
                        exchange,
                        RequestVerdict::Respond {
                            reply: super::reply::to_response(plugin.name(), reply),
                            ran: index + 1,
                        },
                        state,
                    );
                }
                Err(error) => {
                    if let Some(failure) =
                        apply_policy(plugin, "on-request", error, &exchange, metrics)
                    {
                        return (
                            exchange,
                            RequestVerdict::Fail {
                                failure,
                                ran: index,
                            },
                            state,
                        );
                    }
                }
            }
        }
        (exchange, RequestVerdict::Forward, state)
    }

    /// Runs `on-response` through the first `ran` plugins, last first, each call timed into
    /// `metrics`.
    pub async fn on_response(
        &self,
        mut exchange: Box<Exchange>,
        ran: usize,
        mut state: ChainState,
        metrics: &RouteMetrics,
    ) -> (Box<Exchange>, Result<(), ChainFailure>) {
        exchange.phase = Phase::Response;
        let ran = ran.min(state.slots.len());
        let mut outcome = Ok(());
        let steps = self.steps.iter().zip(&mut state.slots[..ran]);
        for (index, (step, slot)) in steps.enumerate().rev() {
            let version = step.version(slot.role);
            let plugin = &version.plugin;
            // A plugin whose `on-request` failed (skipped under fail-open) is skipped here too,
            // with the response edits it asked for.
            let edits = exchange.has_response_edits(index);
            let calls = plugin.needs().contains(Needs::ON_RESPONSE);
            if !(edits || calls) || slot.held.failed() {
                continue;
            }
            if let Some(capture) = slot.capture.as_mut() {
                capture.before_response(&exchange);
            }
            // What the plugin decided in `on-request` for the response comes first, as if its
            // `on-response` had begun with it.
            exchange.make_response_edits(index);
            if !calls {
                if let Some(capture) = slot.capture.as_mut() {
                    capture.after_response(&exchange, &Ok(Outcome::Response));
                }
                continue;
            }
            exchange.slot = index;
            let started = std::time::Instant::now();
            let (back, result, cost) = call(
                version,
                exchange,
                Phase::Response,
                &mut slot.held,
                started,
                clock(step),
            )
            .await;
            metrics.plugin_call(index, Phase::Response, cost.wall);
            exchange = back;
            if let Some(canary) = step.canary() {
                canary.state.call(slot.role, cost.cpu, result.is_err());
            }
            if let Some(capture) = slot.capture.as_mut() {
                capture.after_response(&exchange, &result);
            }
            trace_call(
                &mut exchange,
                plugin,
                Phase::Response,
                started,
                cost.wall,
                &result,
            );
            if let Err(error) = result
                && let Some(failure) =
                    apply_policy(plugin, "on-response", error, &exchange, metrics)
            {
                outcome = Err(failure);
                break;
            }
        }
        if self.rolled {
            // The guard compares the answers each version's requests got.
            let error = outcome.is_err()
                || exchange
                    .response
                    .as_ref()
                    .is_some_and(|r| r.parts.status.is_server_error());
            let reached = self
                .steps
                .iter()
                .zip(&state.slots)
                .filter(|(_, s)| s.reached);
            for (step, slot) in reached {
                if let Some(canary) = step.canary() {
                    canary.state.answer(slot.role, error);
                }
            }
        }
        (exchange, outcome)
    }

    /// The number of entries in the chain.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the chain has no plugin.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Calls `version` unless its breaker is open, and tells the breaker how it went; with what the
/// call cost. An open breaker fails the call at once, as [`CallError::BreakerOpen`], for the
/// failure policy.
async fn call(
    version: &Version,
    exchange: Box<Exchange>,
    phase: Phase,
    held: &mut Held,
    started: std::time::Instant,
    clock: CpuClock,
) -> (Box<Exchange>, Result<Outcome, CallError>, CallCost) {
    let Some(breaker) = &version.breaker else {
        return version
            .plugin
            .call_costed(exchange, phase, held, started, clock)
            .await;
    };
    let admission = breaker.admit();
    if admission == Admission::Refuse {
        held.refused(phase);
        return (exchange, Err(CallError::BreakerOpen), CallCost::default());
    }
    // A call abandoned half way (the client left) still ends its probe.
    let mut pending = breaker::Pending::new(breaker, admission);
    let (exchange, result, cost) = version
        .plugin
        .call_costed(exchange, phase, held, started, clock)
        .await;
    // The gateway's own capacity (no instance to be had, the memory budget spent) says
    // nothing of the plugin: overload must not open every breaker.
    let failed = result.as_ref().is_err_and(|error| {
        !matches!(
            error,
            CallError::Instantiate(_) | CallError::MemoryBudget(_)
        )
    });
    pending.record(failed);
    (exchange, result, cost)
}

/// The clock for a call of `step`: the thread's CPU clock while a canary's guard compares its
/// versions (a preempted call must not decide a roll-back), the cheap one otherwise.
fn clock(step: &Step) -> CpuClock {
    match step.canary() {
        Some(canary) if canary.state.is_active() => CpuClock::Thread,
        _ => CpuClock::Polls,
    }
}

/// Notes, for the access log, which version of an entry with a canary (or a component from a
/// registry) served the request.
fn note_version(exchange: &mut Exchange, step: &Step, role: Role) {
    let plugin = &step.version(role).plugin;
    if step.canary().is_none() && plugin.origin().is_none() {
        return;
    }
    exchange.versions.push(crate::message::ServedVersion {
        plugin: plugin.name().into(),
        role: role.as_str(),
        version: plugin.version().clone(),
        digest: plugin.origin().map(|origin| origin.digest.clone()),
    });
}

/// Adds the span of a plugin call that began at `started` and took `took` to a traced request.
fn trace_call(
    exchange: &mut Exchange,
    plugin: &ConfiguredPlugin,
    phase: Phase,
    started: std::time::Instant,
    took: Duration,
    result: &Result<Outcome, CallError>,
) {
    let Some(spans) = exchange.spans.as_mut() else {
        return;
    };
    let outcome = match result {
        Ok(Outcome::Request(RequestAction::Continue)) => "continue",
        Ok(Outcome::Request(RequestAction::Respond(_))) => "respond",
        Ok(Outcome::Response) => "ok",
        Err(error) => error.kind(),
    };
    spans.plugin(
        plugin.name(),
        &exchange.route,
        phase,
        started,
        took,
        outcome,
    );
}

/// Logs a failed call and decides, by the plugin's failure policy, whether the request fails.
fn apply_policy(
    plugin: &ConfiguredPlugin,
    phase: &'static str,
    error: CallError,
    exchange: &Exchange,
    metrics: &RouteMetrics,
) -> Option<ChainFailure> {
    // The exchange names the route: a global plugin serves them all.
    let (name, route, request_id) = (plugin.name(), &*exchange.route, &*exchange.id);
    // A plugin that could not even be instantiated (the instance pool is exhausted) fails
    // closed whatever its policy: skipping it under load would let requests past an
    // authentication plugin exactly when the gateway is busiest.
    let policy = match error {
        CallError::Instantiate(_) => FailurePolicy::FailClosed,
        _ => plugin.failure_policy(),
    };
    // An open breaker logged once, when it opened; each request it turns away is counted.
    let quiet = error == CallError::BreakerOpen;
    match policy {
        FailurePolicy::FailOpen if quiet => {
            plugin.record_skip();
            metrics.plugin_failed(name, error.kind(), true);
            None
        }
        FailurePolicy::FailClosed if quiet => {
            metrics.plugin_failed(name, error.kind(), false);
            Some(ChainFailure {
                plugin: name.to_owned(),
                phase,
                error,
            })
        }
        FailurePolicy::FailOpen => {
            plugin.record_skip();
            metrics.plugin_failed(name, error.kind(), true);
            tracing::warn!(
                target: "plugin", plugin = name, route, request_id, phase, kind = error.kind(),
                "plugin `{name}` on route `{route}` failed in {phase} and was skipped (fail-open): {error}"
            );
            None
        }
        FailurePolicy::FailClosed => {
            metrics.plugin_failed(name, error.kind(), false);
            tracing::error!(
                target: "plugin", plugin = name, route, request_id, phase, kind = error.kind(),
                "plugin `{name}` on route `{route}` failed in {phase}: {error}"
            );
            Some(ChainFailure {
                plugin: name.to_owned(),
                phase,
                error,
            })
        }
    }
}

#[cfg(test)]
mod tests;
