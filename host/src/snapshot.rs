//! The runtime state of the gateway as one immutable value: routes, router, upstreams and plugin
//! chains, built from a manifest off the request path and published with one atomic swap.
//! A request keeps the `Arc<Snapshot>` it started with to the end, so a reload never changes a
//! request half way through.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::config::Manifest;
use crate::observe::metrics::{Metrics, Readings, RouteMetrics, TargetHealth};
use crate::plugin::{Chain, MemoryBudget};
use crate::router::Router;
use crate::state::StateStore;
use crate::upstream::Upstream;

mod build;
mod current;
mod load;
mod plugin_readings;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use current::Current;
pub use load::{LoadError, ManifestInput, load, load_from};

/// One route, ready to serve.
pub struct RouteRuntime {
    /// The route's id in the manifest.
    pub id: Arc<str>,
    /// Global plugins, then the route's own.
    pub chain: Chain,
    /// Where requests go.
    pub upstream: Arc<Upstream>,
    /// The total time for the upstream's response headers, all tries included.
    pub timeout: Duration,
    /// The time one try may take (`try-timeout`, default `timeout`).
    pub try_timeout: Duration,
    /// Retries, if the route has them.
    pub retry: Option<crate::config::RetryPolicy>,
    /// The longest pause in a streamed body or an upgraded connection (`idle-timeout`).
    pub idle_timeout: Option<Duration>,
    /// The route's metric handles, resolved on its first request (see `metrics`).
    metrics: OnceLock<RouteMetrics>,
}

impl RouteRuntime {
    /// The route's metric handles in `metrics`, resolved on its first request in this
    /// snapshot, so that a request allocates nothing to be counted.
    pub fn metrics<'a>(&'a self, metrics: &Metrics) -> &'a RouteMetrics {
        self.metrics.get_or_init(|| {
            let plugins = self.chain.steps().iter().map(|s| s.plugin().name());
            metrics.route(&self.id, plugins)
        })
    }

    /// The route's metric handles, once a request has resolved them.
    pub fn resolved_metrics(&self) -> Option<&RouteMetrics> {
        self.metrics.get()
    }
}

/// Everything a request needs, immutable.
pub struct Snapshot {
    /// Increases by one with every successful load.
    pub version: u64,
    /// When this snapshot was built.
    pub loaded_at: SystemTime,
    /// The manifest it was built from.
    pub manifest: Manifest,
    /// Finds the route of a request.
    pub router: Router,
    /// Routes, indexed like `manifest.routes`.
    pub routes: Vec<RouteRuntime>,
    /// The plugins' shared state (`[state]`).
    pub state: Arc<StateStore>,
    /// The memory budget of every plugin instance (`[plugin-runtime]`): one for the gateway's
    /// life, carried over by every reload, since instances of older snapshots still hold memory.
    pub plugin_memory: Arc<MemoryBudget>,
    /// Upstreams, indexed like `manifest.upstreams`; unchanged ones are carried over from the
    /// snapshot before, with their pools and health.
    pub upstreams: Vec<Arc<Upstream>>,
    /// The TLS acceptor of each listener, indexed like `manifest.listeners` (`None` for plain
    /// ones); read at each new connection, so new certificates apply without a restart.
    pub acceptors: Vec<Option<crate::tls::TlsAcceptor>>,
    /// The span exporter of `[tracing]`, when it names a collector; carried over by reloads
    /// that leave `[tracing]` as it was.
    pub tracer: Option<Arc<crate::observe::otlp::Tracer>>,
}

impl Snapshot {
    /// The gauges a metrics scrape reads now: target health, plugin memory, the state store.
    pub fn readings(&self) -> Readings {
        let targets = self
            .upstreams
            .iter()
            .flat_map(|upstream| {
                let health = upstream.health_now();
                upstream
                    .targets()
                    .iter()
                    .zip(health)
                    .map(|(target, healthy)| TargetHealth {
                        upstream: upstream.name().to_owned(),
                        target: target.to_string(),
                        healthy,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let state: Arc<dyn crate::observe::metrics::StateUsage> = self.state.clone();
        Readings {
            targets,
            plugin_memory_used: self.plugin_memory.used() as u64,
            plugin_memory_limit: self.plugin_memory.limit() as u64,
            state: Arc::downgrade(&state),
            plugins: self.plugin_readings(),
        }
    }
}

impl Snapshot {
    /// Every plugin entry once, in route order: a global entry sits in every route's chain and
    /// is listed at its first.
    pub fn plugin_entries(&self) -> impl Iterator<Item = &crate::plugin::Step> {
        let mut seen = std::collections::HashSet::new();
        self.routes
            .iter()
            .flat_map(|route| route.chain.steps())
            .filter(move |step| seen.insert(Arc::as_ptr(step.plugin())))
    }

    /// The content hash of every plugin component in use.
    pub fn plugin_hashes(&self) -> std::collections::HashSet<Arc<str>> {
        self.routes
            .iter()
            .flat_map(|route| route.chain.plugins())
            .map(|plugin| Arc::from(plugin.content_hash()))
            .collect()
    }

    /// Listener `name` as this snapshot serves it: its manifest section and TLS acceptor
    /// (`None` for a plain listener); `None` when the snapshot has no such listener.
    pub fn listener(
        &self,
        name: &str,
    ) -> Option<(&crate::config::Listener, Option<crate::tls::TlsAcceptor>)> {
        let (index, spec) =
            (self.manifest.listeners.iter().enumerate()).find(|(_, l)| l.name == name)?;
        Some((spec, self.acceptors.get(index).cloned().flatten()))
    }
}
