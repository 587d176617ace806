//! What each plugin version costs and how its roll-out stands, read from the plugin runtime at
//! scrape time (the snapshot builds the readings): calls, CPU time per call, failures by kind,
//! instances alive, the largest memory an instance reached, breakers, canaries and shadows.
//! Labelled by plugin, route, version (a digest of the component and its configuration) and
//! role (`stable`, `candidate`, `shadow`): bounded by the manifest.

use std::sync::{Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// One plugin version's figures.
#[derive(Debug, Clone, Default)]
pub struct PluginCost {
    /// The plugin's name.
    pub plugin: String,
    /// Its route (`*` for a global plugin).
    pub route: String,
    /// Its version.
    pub version: String,
    /// `stable`, `candidate` or `shadow`.
    pub role: &'static str,
    /// Calls made.
    pub calls: u64,
    /// Failed calls by kind (kinds with none left out).
    pub failures: Vec<(&'static str, u64)>,
    /// CPU time of every call, in seconds.
    pub cpu_seconds: f64,
    /// CPU time per call: (upper bound in seconds, calls in that bucket).
    pub cpu_buckets: Vec<(f64, u64)>,
    /// Instances alive now.
    pub instances: u64,
    /// The largest linear memory an instance has had.
    pub memory_high_water: u64,
    /// Its breaker, if it has one.
    pub breaker: Option<BreakerFigures>,
    /// For a component from a registry: the reference as written and the digest it resolved to.
    pub source: Option<(String, String)>,
}

/// A breaker's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct BreakerFigures {
    /// 0 closed, 1 open, 2 half-open.
    pub state: i64,
    /// Times it opened.
    pub opened: u64,
    /// Calls refused while open.
    pub refused: u64,
}

/// A canary's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct CanaryFigures {
    /// 0 active, 1 rolled back, 2 aborted, 3 promoted.
    pub state: i64,
    /// Times its guard rolled it back.
    pub rollbacks: u64,
    /// Requests served by the stable version and by the candidate.
    pub served: [u64; 2],
}

/// A shadow's figures.
#[derive(Debug, Clone, Default)]
pub struct ShadowFigures {
    /// Runs made.
    pub runs: u64,
    /// Runs dropped (queue full).
    pub dropped: u64,
    /// Divergences by kind (kinds with none left out).
    pub divergences: Vec<(&'static str, u64)>,
}

/// One entry's roll-out figures.
#[derive(Debug, Clone, Default)]
pub struct RolloutFigures {
    /// The plugin's name.
    pub plugin: String,
    /// Its route.
    pub route: String,
    /// Its canary.
    pub canary: Option<CanaryFigures>,
    /// Its shadow.
    pub shadow: Option<ShadowFigures>,
}

/// Everything read at one scrape.
#[derive(Debug, Clone, Default)]
pub struct PluginReadings {
    /// Every plugin version in service.
    pub versions: Vec<PluginCost>,
    /// Every entry with a canary or a shadow.
    pub rollouts: Vec<RolloutFigures>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    plugin: String,
    route: String,
    version: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    plugin: String,
    route: String,
    version: String,
    role: String,
    source: String,
    digest: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    plugin: String,
    route: String,
    version: String,
    role: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryLabels {
    plugin: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryKindLabels {
    plugin: String,
    route: String,
    kind: String,
}

/// A gauge per version: name, help, value.
type VersionGauge = (&'static str, &'static str, fn(&PluginCost) -> u64);

/// A breaker family: name, help, type, value.
type BreakerFamily = (
    &'static str,
    &'static str,
    MetricType,
    fn(&BreakerFigures) -> i64,
);

/// Encodes the readings it was last shown.
#[derive(Debug, Default)]
pub struct PluginCostMetrics {
    readings: Mutex<PluginReadings>,
}

impl PluginCostMetrics {
    /// The readings of this scrape.
    pub fn observe(&self, readings: PluginReadings) {
        *self.readings.lock().unwrap_or_else(PoisonError::into_inner) = readings;
    }
}

fn labels(cost: &PluginCost) -> VersionLabels {
    VersionLabels {
        plugin: cost.plugin.clone(),
        route: cost.route.clone(),
        version: cost.version.clone(),
        role: cost.role.to_owned(),
    }
}

fn gauge(value: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Collector for PluginCostMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let readings = self
            .readings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let versions = &readings.versions;
        let mut family = encoder.encode_descriptor(
            "plugin_calls",
            "Plugin calls, by plugin, route, version and role (stable, candidate, shadow)",
            None,
            MetricType::Counter,
        )?;
        for cost in versions {
            ConstCounter::new(cost.calls).encode(family.encode_family(&labels(cost))?)?;
        }
        let mut family = encoder.encode_descriptor(
            "plugin_source_info",
            "Where a plugin version's component came from, for those pulled from an OCI \
             registry: the reference as written and the manifest digest it resolved to (always 1; \
             join on plugin, route, version and role)",
            None,
            MetricType::Gauge,
        )?;
        for cost in versions {
            if let Some((source, digest)) = &cost.source {
                let labels = SourceLabels {
                    plugin: cost.plugin.clone(),
                    route: cost.route.clone(),
                    version: cost.version.clone(),
                    role: cost.role.to_owned(),
                    source: source.clone(),
                    digest: digest.clone(),
                };
                gauge(1).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "plugin_cpu_seconds",
            "CPU time per plugin call (guest code and host functions, not waits), by plugin, \
             route, version and role",
            None,
            MetricType::Histogram,
        )?;
        for cost in versions {
            let labels = labels(cost);
            let mut metric = family.encode_family(&labels)?;
            metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                cost.cpu_seconds,
                cost.calls,
                &cost.cpu_buckets,
                None,
            )?;
        }
        let mut family = encoder.encode_descriptor(
            "plugin_traps",
            "Failed plugin calls by plugin, route, version, role and kind (error, panic, trap, \
             cpu-limit, memory-limit, memory-budget, handle-limit, wall-clock, instantiate)",
            None,
            MetricType::Counter,
        )?;
        for cost in versions {
            for (kind, count) in &cost.failures {
                let labels = KindLabels {
                    plugin: cost.plugin.clone(),
                    route: cost.route.clone(),
                    version: cost.version.clone(),
                    role: cost.role.to_owned(),
                    kind: (*kind).to_owned(),
                };
                ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
            }
        }
        let gauges: [VersionGauge; 2] = [
            (
                "plugin_instances",
                "Plugin instances alive (idle or in a call), by plugin, route, version and role",
                |c| c.instances,
            ),
            (
                "plugin_memory_high_water_bytes",
                "The largest linear memory one instance of the plugin has had, in bytes",
                |c| c.memory_high_water,
            ),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for cost in versions {
                gauge(value(cost)).encode(family.encode_family(&labels(cost))?)?;
            }
        }
        let breakers: [BreakerFamily; 3] = [
            (
                "plugin_breaker_state",
                "A plugin's circuit breaker: 0 closed, 1 open, 2 half-open",
                MetricType::Gauge,
                |b| b.state,
            ),
            (
                "plugin_breaker_opened",
                "Times a plugin's circuit breaker opened",
                MetricType::Counter,
                |b| i64::try_from(b.opened).unwrap_or(i64::MAX),
            ),
            (
                "plugin_breaker_refused",
                "Plugin calls not made because the breaker was open",
                MetricType::Counter,
                |b| i64::try_from(b.refused).unwrap_or(i64::MAX),
            ),
        ];
        for (name, help, kind, value) in breakers {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for cost in versions {
                let Some(breaker) = cost.breaker else {
                    continue;
                };
                let labels = labels(cost);
                let metric = family.encode_family(&labels)?;
                let v = value(&breaker);
                match kind {
                    MetricType::Counter => {
                        ConstCounter::new(u64::try_from(v).unwrap_or(0)).encode(metric)?
                    }
                    _ => ConstGauge::new(v).encode(metric)?,
                }
            }
        }
        encode_rollouts(&mut encoder, &readings.rollouts)
    }
}

fn encode_rollouts(
    encoder: &mut DescriptorEncoder<'_>,
    rollouts: &[RolloutFigures],
) -> Result<(), std::fmt::Error> {
    let entry = |r: &RolloutFigures| EntryLabels {
        plugin: r.plugin.clone(),
        route: r.route.clone(),
    };
    let mut family = encoder.encode_descriptor(
        "plugin_canary_state",
        "A canary: 0 active, 1 rolled back by its guard, 2 aborted, 3 promoted",
        None,
        MetricType::Gauge,
    )?;
    for r in rollouts {
        if let Some(canary) = r.canary {
            ConstGauge::new(canary.state).encode(family.encode_family(&entry(r))?)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "plugin_canary_rollbacks",
        "Times a canary's guard rolled it back",
        None,
        MetricType::Counter,
    )?;
    for r in rollouts {
        if let Some(canary) = r.canary {
            ConstCounter::new(canary.rollbacks).encode(family.encode_family(&entry(r))?)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "plugin_canary_requests",
        "Requests served by each version of an entry with a canary (kind: stable, candidate)",
        None,
        MetricType::Counter,
    )?;
    for r in rollouts {
        if let Some(canary) = r.canary {
            for (kind, count) in ["stable", "candidate"].iter().zip(canary.served) {
                let labels = EntryKindLabels {
                    plugin: r.plugin.clone(),
                    route: r.route.clone(),
                    kind: (*kind).to_owned(),
                };
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    let mut family = encoder.encode_descriptor(
        "plugin_shadow_runs",
        "Shadow runs made (kind: run) and dropped because the queue was full (kind: dropped)",
        None,
        MetricType::Counter,
    )?;
    for r in rollouts {
        if let Some(shadow) = &r.shadow {
            for (kind, count) in [("run", shadow.runs), ("dropped", shadow.dropped)] {
                let labels = EntryKindLabels {
                    plugin: r.plugin.clone(),
                    route: r.route.clone(),
                    kind: kind.to_owned(),
                };
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    let mut family = encoder.encode_descriptor(
        "plugin_shadow_divergences",
        "Differences between a shadow's run and the live plugin's, by kind (action, status, \
         request-headers, request-body, response-headers, response-body, failure)",
        None,
        MetricType::Counter,
    )?;
    for r in rollouts {
        if let Some(shadow) = &r.shadow {
            for (kind, count) in &shadow.divergences {
                let labels = EntryKindLabels {
                    plugin: r.plugin.clone(),
                    route: r.route.clone(),
                    kind: (*kind).to_owned(),
                };
                ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}
