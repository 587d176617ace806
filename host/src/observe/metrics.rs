//! Prometheus metrics: one registry per gateway process, outside the snapshot, so counters
//! survive reloads. The request path records through [`RouteMetrics`], label handles resolved
//! once per route and snapshot, so a request allocates nothing to be counted.
//!
//! Labels are bounded: route ids (never raw paths), plugin names, upstream names and targets
//! from the manifest, methods folded to the standard nine plus `OTHER`, status classes. The
//! metrics plugins define themselves (`plugin`) are bounded by that module.

pub mod exposition;
pub mod plugin;
pub mod plugin_cost;
mod route;
pub mod route_stats;
pub mod state;

use std::sync::{Arc, OnceLock};

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use self::plugin_cost::{PluginCost, PluginReadings, RolloutFigures};
pub use self::route::RouteMetrics;
pub use self::state::{NamespaceUsage, StateUsage};

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "";

/// Latency buckets, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// Plugin call buckets, in seconds: 10 µs to 1 s (a plugin's CPU limit is milliseconds).
const PLUGIN_BUCKETS: [f64; 12] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0,
];

/// Methods with a label of their own; any other is `OTHER`.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];
const METHOD_LABELS: usize = METHODS.len() + 1;
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    plugin: String,
    route: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginFailureLabels {
    plugin: String,
    route: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    upstream: String,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    listener: String,
    timeout: String,
}

/// Builds histograms with fixed buckets for a family.
#[derive(Clone, Copy)]
struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// Client connections by listener: open now, refused at the cap, closed by a timeout.
struct ConnectionFamilies {
    open: Family<ListenerLabels, Gauge>,
    refused: Family<ListenerLabels, Counter>,
    timed_out: Family<TimeoutLabels, Counter>,
}

impl ConnectionFamilies {
    fn register(registry: &mut Registry) -> Self {
        let families = Self {
            open: Family::default(),
            refused: Family::default(),
            timed_out: Family::default(),
        };
        registry.register(
            "connections_open",
            "Client connections open now, by listener",
            families.open.clone(),
        );
        registry.register(
            "connections_refused",
            "Client connections closed at accept because `max-connections` were open, by listener",
            families.refused.clone(),
        );
        registry.register(
            "connections_timed_out",
            "Client connections closed by `header-timeout` (header) or `keepalive-timeout` \
             (keepalive), by listener",
            families.timed_out.clone(),
        );
        families
    }
}

/// One listener's connection metrics.
#[derive(Clone)]
pub struct ListenerMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections refused at the cap.
    pub refused: Counter,
    /// Connections closed by `header-timeout`.
    pub header_timeouts: Counter,
    /// Connections closed by `keepalive-timeout`.
    pub keepalive_timeouts: Counter,
}

/// Every metric of the gateway, and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram, Buckets>,
    upstream_duration: Family<RouteLabels, Histogram, Buckets>,
    plugin_duration: Family<PhaseLabels, Histogram, Buckets>,
    plugin_failures: Family<PluginFailureLabels, Counter>,
    plugin_skips: Family<PluginLabels, Counter>,
    active_requests: Gauge,
    retries: Family<RouteLabels, Counter>,
    breaker_rejections: Family<UpstreamLabels, Counter>,
    target_healthy: Family<TargetLabels, Gauge>,
    plugin_memory: Gauge,
    plugin_memory_budget: Gauge,
    reloads: Family<OutcomeLabels, Counter>,
    access_log_dropped: Counter,
    trace_spans_dropped: Counter,
    connections: ConnectionFamilies,
    plugins: Arc<plugin::PluginMetrics>,
    state: Arc<state::StateMetrics>,
    plugin_costs: Arc<plugin_cost::PluginCostMetrics>,
    unmatched: OnceLock<RouteMetrics>,
    /// The request counters and latency histograms alone, for [`Metrics::route_totals`].
    route_stats: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every family registered under the `portcullis` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests answered, by route, method and status class",
            requests.clone(),
        );
        let request_duration = Family::new_with_constructor(Buckets(&LATENCY_BUCKETS));
        registry.register_with_unit(
            "request_duration",
            "Time from the request's arrival to the response's headers, by route",
            Unit::Seconds,
            request_duration.clone(),
        );
        let upstream_duration = Family::new_with_constructor(Buckets(&LATENCY_BUCKETS));
        registry.register_with_unit(
            "upstream_duration",
            "Time for the upstream's response headers, all tries included, by route",
            Unit::Seconds,
            upstream_duration.clone(),
        );
        let plugin_duration = Family::new_with_constructor(Buckets(&PLUGIN_BUCKETS));
        registry.register_with_unit(
            "plugin_duration",
            "Time of each plugin call, by plugin, route and phase",
            Unit::Seconds,
            plugin_duration.clone(),
        );
        let plugin_failures = Family::default();
        registry.register(
            "plugin_failures",
            "Plugin calls that failed, by plugin, route and kind \
             (error, trap, cpu-limit, wall-clock, memory-limit, memory-budget, handle-limit, \
             instantiate)",
            plugin_failures.clone(),
        );
        let plugin_skips = Family::default();
        registry.register(
            "plugin_fail_open_skips",
            "Plugin failures skipped under fail-open, by plugin and route",
            plugin_skips.clone(),
        );
        let active_requests = Gauge::default();
        registry.register(
            "active_requests",
            "Requests being handled now (until their response headers)",
            active_requests.clone(),
        );
        let retries = Family::default();
        registry.register(
            "upstream_retries",
            "Upstream tries after the first, by route",
            retries.clone(),
        );
        let breaker_rejections = Family::default();
        registry.register(
            "circuit_breaker_rejections",
            "Requests refused because the upstream was at its request limit, by upstream",
            breaker_rejections.clone(),
        );
        let target_healthy = Family::default();
        registry.register(
            "upstream_target_healthy",
            "1 when a target may receive requests (active checks pass and not ejected), else 0",
            target_healthy.clone(),
        );
        let plugin_memory = Gauge::default();
        registry.register_with_unit(
            "plugin_memory",
            "Linear memory held by all plugin instances (busy and idle), reserved from the budget",
            Unit::Bytes,
            plugin_memory.clone(),
        );
        let plugin_memory_budget = Gauge::default();
        registry.register_with_unit(
            "plugin_memory_budget",
            "The most linear memory all plugin instances together may hold \
             ([plugin-runtime] memory-budget)",
            Unit::Bytes,
            plugin_memory_budget.clone(),
        );
        let reloads = Family::default();
        registry.register(
            "reloads",
            "Reloads, by outcome (succeeded, failed)",
            reloads.clone(),
        );
        let access_log_dropped = Counter::default();
        registry.register(
            "access_log_dropped",
            "Access log lines dropped because the writer fell behind",
            access_log_dropped.clone(),
        );
        let trace_spans_dropped = Counter::default();
        registry.register(
            "trace_spans_dropped",
            "Spans dropped because the OTLP exporter fell behind",
            trace_spans_dropped.clone(),
        );
        let connections = ConnectionFamilies::register(&mut registry);
        let plugins = Arc::new(plugin::PluginMetrics::default());
        registry.register_collector(Box::new(plugins.clone()));
        let state = Arc::new(state::StateMetrics::default());
        registry.register_collector(Box::new(state.clone()));
        let plugin_costs = Arc::new(plugin_cost::PluginCostMetrics::default());
        registry.register_collector(Box::new(plugin_costs.clone()));
        let route_stats = route_stats::registry(&requests, &request_duration);
        Self {
            registry,
            requests,
            request_duration,
            upstream_duration,
            plugin_duration,
            plugin_failures,
            plugin_skips,
            active_requests,
            retries,
            breaker_rejections,
            target_healthy,
            plugin_memory,
            plugin_memory_budget,
            reloads,
            access_log_dropped,
            trace_spans_dropped,
            connections,
            plugins,
            state,
            plugin_costs,
            unmatched: OnceLock::new(),
            route_stats,
        }
    }

    /// The handles of listener `name`'s connection metrics, resolved once per listener.
    pub fn listener(&self, name: &str) -> ListenerMetrics {
        let families = &self.connections;
        let labels = ListenerLabels {
            listener: name.to_owned(),
        };
        let timeout = |timeout: &str| {
            families
                .timed_out
                .get_or_create(&TimeoutLabels {
                    listener: name.to_owned(),
                    timeout: timeout.to_owned(),
                })
                .clone()
        };
        ListenerMetrics {
            open: families.open.get_or_create(&labels).clone(),
            refused: families.refused.get_or_create(&labels).clone(),
            header_timeouts: timeout("header"),
            keepalive_timeouts: timeout("keepalive"),
        }
    }

    /// The label handles of `route`, whose chain runs `plugins` in order. A snapshot resolves
    /// them once per route (on the route's first request); `portcullis plugin test` for its
    /// one detached chain.
    pub fn route<'p>(&self, route: &str, plugins: impl Iterator<Item = &'p str>) -> RouteMetrics {
        RouteMetrics::new(self, route, plugins)
    }

    /// Every route's request counts by status class and latency buckets since the start, read
    /// from the counters the data plane keeps (for the admin API's `GET /stats`).
    pub fn route_totals(&self) -> Vec<route_stats::RouteTotals> {
        route_stats::read(&self.route_stats)
    }

    /// The handles for requests that matched no route.
    pub fn unmatched(&self) -> &RouteMetrics {
        self.unmatched
            .get_or_init(|| RouteMetrics::new(self, UNMATCHED, std::iter::empty()))
    }

    /// The metrics plugins define (lent to each request's exchange).
    pub fn plugins(&self) -> &Arc<plugin::PluginMetrics> {
        &self.plugins
    }

    /// Counts a request in flight until the guard drops.
    pub fn enter(&self) -> ActiveGuard {
        self.active_requests.inc();
        ActiveGuard(self.active_requests.clone())
    }

    /// Counts a request refused by `upstream`'s circuit breaker.
    pub fn breaker_rejected(&self, upstream: &str) {
        self.breaker_rejections
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    /// Counts a reload's outcome.
    pub fn reloaded(&self, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts an access log line dropped.
    pub fn access_log_dropped(&self) {
        self.access_log_dropped.inc();
    }

    /// The counter of dropped spans, for spans handed over when the body ends.
    pub fn trace_spans_dropped_counter(&self) -> Counter {
        self.trace_spans_dropped.clone()
    }

    /// The counter of dropped access lines, for a line written later (when the body ends).
    pub fn access_log_dropped_counter(&self) -> Counter {
        self.access_log_dropped.clone()
    }

    /// Every metric in `format`, with the gauges read from the runtime now.
    pub fn encode_as(&self, format: exposition::Format, now: Readings) -> String {
        let openmetrics = self.encode(now);
        match format {
            exposition::Format::OpenMetrics => openmetrics,
            exposition::Format::Prometheus => exposition::to_prometheus_text(&openmetrics),
        }
    }

    /// Every metric in OpenMetrics text, with the gauges read from the runtime now.
    pub fn encode(&self, now: Readings) -> String {
        // Targets a reload removed disappear from the gauge.
        self.target_healthy.clear();
        for target in now.targets {
            self.target_healthy
                .get_or_create(&TargetLabels {
                    upstream: target.upstream,
                    target: target.target,
                })
                .set(i64::from(target.healthy));
        }
        self.plugin_memory
            .set(i64::try_from(now.plugin_memory_used).unwrap_or(i64::MAX));
        self.plugin_memory_budget
            .set(i64::try_from(now.plugin_memory_limit).unwrap_or(i64::MAX));
        self.state.observe(now.state);
        self.plugin_costs.observe(now.plugins);
        let mut text = String::new();
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// What a scrape reads from the runtime in service (the snapshot builds it), for the gauges
/// that are read rather than counted.
pub struct Readings {
    /// Every upstream target and whether it takes traffic now.
    pub targets: Vec<TargetHealth>,
    /// Bytes of plugin memory in use, gateway-wide.
    pub plugin_memory_used: u64,
    /// The gateway-wide plugin memory budget (`[plugin-runtime] memory-budget`).
    pub plugin_memory_limit: u64,
    /// The state store in service, read while the scrape encodes.
    pub state: std::sync::Weak<dyn StateUsage>,
    /// Every plugin version's cost and every roll-out's state.
    pub plugins: PluginReadings,
}

/// One upstream target's health, for the `target_healthy` gauge.
pub struct TargetHealth {
    /// The upstream's name.
    pub upstream: String,
    /// The target's address.
    pub target: String,
    /// Whether it takes traffic.
    pub healthy: bool,
}

/// Gives back a count of [`Metrics::enter`] when dropped.
pub struct ActiveGuard(Gauge);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
