//! A route's chain: the global plugins, then the route's own, in manifest order. `on-request`
//! runs front to back and may stop early with a reply; `on-response` runs back to front for the
//! plugins that ran, as in Envoy and Pingora. Failure policies are applied here.

use std::sync::Arc;

use super::exchange::Exchange;
use super::instance::{CallError, ConfiguredPlugin, Held, Outcome};
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

/// What one request holds of its chain between `on-request` and `on-response`: which plugins
/// failed, and the instances of plugins that hold theirs across the upstream call. Dropping it
/// gives those back, whether or not `on-response` ran (a client that went away, an upstream
/// error).
pub struct ChainState {
    plugins: Arc<[Arc<ConfiguredPlugin>]>,
    held: Vec<Held>,
}

impl ChainState {
    fn new(plugins: &Arc<[Arc<ConfiguredPlugin>]>) -> Self {
        Self {
            plugins: plugins.clone(),
            held: plugins.iter().map(|_| Held::default()).collect(),
        }
    }
}

impl Drop for ChainState {
    fn drop(&mut self) {
        for (plugin, held) in self.plugins.iter().zip(&mut self.held) {
            plugin.release(held);
        }
    }
}

/// The plugins that run for one route.
#[derive(Clone, Default)]
pub struct Chain {
    plugins: Arc<[Arc<ConfiguredPlugin>]>,
    needs: Needs,
}

impl Chain {
    /// A chain of `plugins`, in order.
    pub fn new(plugins: Vec<Arc<ConfiguredPlugin>>) -> Self {
        let needs = plugins
            .iter()
            .fold(Needs::empty(), |acc, p| acc | p.needs());
        Self {
            plugins: plugins.into(),
            needs,
        }
    }

    /// The plugins, in order.
    pub fn plugins(&self) -> &[Arc<ConfiguredPlugin>] {
        &self.plugins
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
        let mut state = ChainState::new(&self.plugins);
        for (index, (plugin, held)) in self.plugins.iter().zip(&mut state.held).enumerate() {
            if !plugin.needs().contains(Needs::ON_REQUEST) {
                continue;
            }
            exchange.slot = index;
            let started = std::time::Instant::now();
            let (back, result) = plugin.call(exchange, Phase::Request, held).await;
            let elapsed = started.elapsed();
            metrics.plugin_call(index, Phase::Request, elapsed);
            exchange = back;
            trace_call(&mut exchange, plugin, Phase::Request, started, &result);
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
        let ran = ran.min(state.held.len());
        let plugins = self.plugins.iter().zip(&mut state.held[..ran]);
        for (index, (plugin, held)) in plugins.enumerate().rev() {
            // A plugin whose `on-request` failed (skipped under fail-open) is skipped here too.
            if !plugin.needs().contains(Needs::ON_RESPONSE) || held.failed() {
                continue;
            }
            exchange.slot = index;
            let started = std::time::Instant::now();
            let (back, result) = plugin.call(exchange, Phase::Response, held).await;
            metrics.plugin_call(index, Phase::Response, started.elapsed());
            exchange = back;
            trace_call(&mut exchange, plugin, Phase::Response, started, &result);
            if let Err(error) = result
                && let Some(failure) =
                    apply_policy(plugin, "on-response", error, &exchange, metrics)
            {
                return (exchange, Err(failure));
            }
        }
        (exchange, Ok(()))
    }

    /// The number of plugins in the chain.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether the chain has no plugin.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

/// Adds the span of a plugin call that began at `started` to a traced request.
fn trace_call(
    exchange: &mut Exchange,
    plugin: &ConfiguredPlugin,
    phase: Phase,
    started: std::time::Instant,
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
        started.elapsed(),
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
    match policy {
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
