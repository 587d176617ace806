//! One route's metric handles, resolved when the route serves its first request in a snapshot,
//! so that counting a request allocates nothing: the request counter of each method and status
//! class, the latency histograms, and one histogram per plugin and phase of the chain.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Method;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::{
    METHOD_LABELS, METHODS, Metrics, PhaseLabels, PluginFailureLabels, PluginLabels, RequestLabels,
    RouteLabels, STATUS_CLASSES,
};
use crate::contract::Phase;

/// One route's label handles: counters and histograms resolved once, reached by index.
pub struct RouteMetrics {
    route: Arc<str>,
    requests: Family<RequestLabels, Counter>,
    by_method_status: [[OnceLock<Counter>; STATUS_CLASSES.len()]; METHOD_LABELS],
    duration: Histogram,
    upstream_duration: Histogram,
    retries: Counter,
    /// Per chain position: the `on-request` and `on-response` histograms.
    plugins: Vec<[Histogram; 2]>,
    plugin_failures: Family<PluginFailureLabels, Counter>,
    plugin_skips: Family<PluginLabels, Counter>,
}

impl RouteMetrics {
    pub(super) fn new<'p>(
        metrics: &Metrics,
        route: &str,
        plugins: impl Iterator<Item = &'p str>,
    ) -> Self {
        let labels = RouteLabels {
            route: route.to_owned(),
        };
        let plugin = |name: &str, phase: Phase| {
            metrics.plugin_duration.get_or_create_owned(&PhaseLabels {
                plugin: name.to_owned(),
                route: route.to_owned(),
                phase: phase.as_str().to_owned(),
            })
        };
        Self {
            route: route.into(),
            requests: metrics.requests.clone(),
            by_method_status: Default::default(),
            duration: metrics.request_duration.get_or_create_owned(&labels),
            upstream_duration: metrics.upstream_duration.get_or_create_owned(&labels),
            retries: metrics.retries.get_or_create_owned(&labels),
            plugins: plugins
                .map(|name| [plugin(name, Phase::Request), plugin(name, Phase::Response)])
                .collect(),
            plugin_failures: metrics.plugin_failures.clone(),
            plugin_skips: metrics.plugin_skips.clone(),
        }
    }

    /// Records an answered request: its count and its time to response headers.
    pub fn answered(&self, method: &Method, status: u16, elapsed: Duration) {
        let m = METHODS
            .iter()
            .position(|known| known == method)
            .unwrap_or(METHODS.len());
        let s = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(cell) = self.by_method_status.get(m).and_then(|row| row.get(s)) {
            cell.get_or_init(|| {
                self.requests.get_or_create_owned(&RequestLabels {
                    route: self.route.to_string(),
                    method: METHODS.get(m).map_or("OTHER", Method::as_str).to_owned(),
                    status_class: STATUS_CLASSES[s].to_owned(),
                })
            })
            .inc();
        }
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Records the time the upstream took to answer.
    pub fn upstream(&self, elapsed: Duration) {
        self.upstream_duration.observe(elapsed.as_secs_f64());
    }

    /// Counts a retry.
    pub fn retried(&self) {
        self.retries.inc();
    }

    /// Records a call of the plugin at chain position `index`.
    pub fn plugin_call(&self, index: usize, phase: Phase, elapsed: Duration) {
        if let Some(pair) = self.plugins.get(index) {
            let histogram = match phase {
                Phase::Request => &pair[0],
                Phase::Response => &pair[1],
            };
            histogram.observe(elapsed.as_secs_f64());
        }
    }

    /// Counts a failed plugin call (rare: the labels are built here).
    pub fn plugin_failed(&self, plugin: &str, kind: &str, skipped: bool) {
        self.plugin_failures
            .get_or_create(&PluginFailureLabels {
                plugin: plugin.to_owned(),
                route: self.route.to_string(),
                kind: kind.to_owned(),
            })
            .inc();
        if skipped {
            self.plugin_skips
                .get_or_create(&PluginLabels {
                    plugin: plugin.to_owned(),
                    route: self.route.to_string(),
                })
                .inc();
        }
    }
}
