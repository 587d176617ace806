//! The runtime state of the gateway as one immutable value: routes, router, upstreams and plugin
//! chains, built from a manifest off the request path and published with one atomic swap.
//! A request keeps the `Arc<Snapshot>` it started with to the end, so a reload never changes a
//! request half way through.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::config::{Diagnostic, Manifest, PluginSource, PluginSpec};
use crate::metrics::{Metrics, RouteMetrics};
use crate::plugin::{Chain, ConfiguredPlugin, MemoryBudget, Runtime, catalog};
use crate::router::Router;
use crate::state::StateStore;
use crate::upstream::Upstream;

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
    pub metrics: OnceLock<RouteMetrics>,
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
    pub tracer: Option<Arc<crate::otlp::Tracer>>,
}

/// A manifest that could not be turned into a snapshot: every problem, rendered against the
/// manifest's text (file, line, column, caret), and the count.
#[derive(Debug)]
pub struct LoadError {
    /// The rendered errors, in manifest order.
    pub errors: Vec<String>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for error in &self.errors {
            writeln!(f, "{error}")?;
        }
        let n = self.errors.len();
        write!(f, "{n} error{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for LoadError {}

impl Snapshot {
    /// Builds a snapshot: compiles every component (reusing compilations of unchanged bytes),
    /// configures every plugin with its config, and builds the router and upstream clients.
    /// Every failure is collected; none is fatal to the others.
    /// An upstream whose configuration (and TLS files) did not change since `previous` is
    /// carried over as it is: its connection pool, health and breaker counts survive a reload.
    pub async fn build(
        runtime: &Runtime,
        manifest: Manifest,
        version: u64,
        previous: Option<&Snapshot>,
    ) -> Result<Self, LoadError> {
        let mut errors = Vec::new();
        let mut upstreams = Vec::with_capacity(manifest.upstreams.len());
        for spec in &manifest.upstreams {
            let previous =
                previous.and_then(|p| p.upstreams.iter().find(|u| u.name() == spec.name));
            match Upstream::reuse_or_new(spec, previous) {
                Ok(upstream) => upstreams.push(upstream),
                Err(diagnostics) => errors.extend(
                    diagnostics
                        .iter()
                        .map(|diagnostic| manifest.source.render(diagnostic)),
                ),
            }
        }

        let mut diagnose =
            |span: &std::ops::Range<usize>, message: String, help: Option<String>| {
                errors.push(manifest.source.render(&Diagnostic {
                    message,
                    span: Some(span.clone()),
                    help,
                }));
            };

        // Unchanged `[state]`: the store carries over, so local counters survive a reload.
        let unchanged_state = previous
            .filter(|p| {
                let (mut before, mut now) = (p.manifest.state.clone(), manifest.state.clone());
                (before.span, now.span) = (0..0, 0..0);
                before == now
            })
            .map(|p| p.state.clone());
        let state = match unchanged_state.map_or_else(|| StateStore::new(&manifest.state), Ok) {
            Ok(state) => state,
            Err(error) => {
                diagnose(
                    &manifest.state.span,
                    error.to_string(),
                    Some("fix the `[state]` table (docs/state.md)".into()),
                );
                // Plugins are still configured (and their errors reported) on a local store.
                StateStore::in_process()
            }
        };

        let plugin_memory = match previous {
            Some(previous) => previous.plugin_memory.clone(),
            None => Arc::new(MemoryBudget::new(&manifest.plugin_runtime)),
        };
        let mut global = Vec::new();
        for spec in &manifest.global_plugins {
            match configure(runtime, spec, "*", &state, &plugin_memory).await {
                Ok(plugin) => global.push(Arc::new(plugin)),
                Err((message, help)) => diagnose(&spec.span, message, help),
            }
        }

        let mut routes = Vec::with_capacity(manifest.routes.len());
        for route in &manifest.routes {
            let mut chain = global.clone();
            for spec in &route.plugins {
                match configure(runtime, spec, &route.id, &state, &plugin_memory).await {
                    Ok(plugin) => chain.push(Arc::new(plugin)),
                    Err((message, help)) => diagnose(&spec.span, message, help),
                }
            }
            if let Some(upstream) = upstreams.get(route.upstream) {
                routes.push(RouteRuntime {
                    id: route.id.as_str().into(),
                    chain: Chain::new(chain),
                    upstream: upstream.clone(),
                    timeout: route.timeout,
                    try_timeout: route.try_timeout.unwrap_or(route.timeout),
                    retry: route.retry.clone(),
                    idle_timeout: route.idle_timeout,
                    metrics: OnceLock::new(),
                });
            }
        }

        // The manifest already rejected conflicting routes, so this cannot fail; if it ever
        // does, refuse the snapshot rather than serve an ambiguous router.
        let matchers = manifest
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.matcher.clone()))
            .collect();
        let router = Router::new(matchers).ok();
        if router.is_none() {
            errors.push(format!(
                "{}: routes conflict (internal check)",
                manifest.source.path.display()
            ));
        }
        let tracer = match previous.filter(|p| p.manifest.tracing == manifest.tracing) {
            Some(previous) => previous.tracer.clone(),
            None if errors.is_empty() => crate::otlp::Tracer::start(&manifest.tracing),
            None => None,
        };
        match router {
            Some(router) if errors.is_empty() => {
                // Only a snapshot that will serve changes the bounds.
                plugin_memory.configure(&manifest.plugin_runtime);
                Ok(Self {
                    version,
                    loaded_at: SystemTime::now(),
                    manifest,
                    router,
                    routes,
                    state,
                    plugin_memory,
                    upstreams,
                    acceptors: Vec::new(),
                    tracer,
                })
            }
            _ => Err(LoadError { errors }),
        }
    }
}

impl Snapshot {
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

/// Compiles and configures one plugin entry; the error is a message and an optional help line.
async fn configure(
    runtime: &Runtime,
    spec: &PluginSpec,
    route: &str,
    state: &Arc<StateStore>,
    budget: &Arc<MemoryBudget>,
) -> Result<ConfiguredPlugin, (String, Option<String>)> {
    let on = if route == "*" {
        "(global)".to_owned()
    } else {
        format!("on route `{route}`")
    };
    let name = &spec.name;
    let bytes = match &spec.source {
        PluginSource::Prebuilt(prebuilt) => match catalog::get(prebuilt) {
            Some(bytes) => std::borrow::Cow::Borrowed(bytes),
            None => {
                let known: Vec<_> = catalog::names().collect();
                return Err((
                    format!("plugin `{name}` {on}: there is no prebuilt plugin `{prebuilt}`"),
                    Some(format!("prebuilt plugins are: {}", known.join(", "))),
                ));
            }
        },
        PluginSource::File(path) => match std::fs::read(path) {
            Ok(bytes) => std::borrow::Cow::Owned(bytes),
            Err(e) => {
                return Err((
                    format!(
                        "plugin `{name}` {on}: cannot read `{}`: {e}",
                        path.display()
                    ),
                    Some(
                        "check the `wasm` path; it is relative to the manifest's directory".into(),
                    ),
                ));
            }
        },
    };
    let compiled = runtime
        .compile_off_thread(bytes.into_owned())
        .await
        .map_err(|e| (format!("plugin `{name}` {on}: {e}"), None))?;
    ConfiguredPlugin::configure(runtime, &compiled, spec, route, state, budget)
        .await
        .map_err(|e| (format!("plugin `{name}` {on} {e}"), config_help(&e)))
}

fn config_help(error: &crate::plugin::ConfigureError) -> Option<String> {
    match error {
        crate::plugin::ConfigureError::Rejected(_) => {
            Some("fix the plugin's `config` table; its docs page lists every key".into())
        }
        _ => None,
    }
}

/// The snapshot in service, swapped atomically on reload.
/// It also holds the metrics, which outlive every snapshot.
pub struct Current {
    snapshot: ArcSwap<Snapshot>,
    metrics: Metrics,
    /// Swapped when a reload changes `[access-log]`; a request keeps the one it started with.
    access_log: ArcSwap<crate::access_log::AccessLog>,
    /// Client connections open on every listener, against `[limits] max-connections`.
    connections: crate::listener::ConnectionCap,
}

impl Current {
    /// Starts serving `snapshot`, with fresh metrics and access lines on the `access` log
    /// target.
    pub fn new(snapshot: Snapshot) -> Self {
        Self::with_access_log(snapshot, crate::access_log::AccessLog::default())
    }

    /// Starts serving `snapshot`, writing access lines to `access_log`.
    pub fn with_access_log(snapshot: Snapshot, access_log: crate::access_log::AccessLog) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics: Metrics::new(),
            access_log: ArcSwap::from_pointee(access_log),
            connections: crate::listener::ConnectionCap::default(),
        }
    }

    /// Client connections open on every listener, and their cap.
    pub fn connections(&self) -> &crate::listener::ConnectionCap {
        &self.connections
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where access lines go now.
    pub fn access_log(&self) -> Arc<crate::access_log::AccessLog> {
        self.access_log.load_full()
    }

    /// Sends access lines to `access_log` from now on. The writer of the previous one finishes
    /// the lines already queued (and those of requests still in flight), then closes.
    pub fn set_access_log(&self, access_log: crate::access_log::AccessLog) {
        self.access_log.store(Arc::new(access_log));
    }

    /// The snapshot for a new request.
    pub fn load(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Publishes `snapshot` for every request that starts from now on.
    pub fn swap(&self, snapshot: Arc<Snapshot>) {
        self.snapshot.store(snapshot);
    }
}
