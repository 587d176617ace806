//! Metrics that plugins define through the WIT `metrics` interface, exported with the gateway's
//! own as `portcullis_plugin_<name>`.
//!
//! Why a collector and not families registered up front: plugins name their metrics at run time,
//! so the families are created on first use and encoded at scrape time. Every sample carries the
//! plugin's name and the request's route as labels (set here, never by the plugin), and the
//! cardinality is bounded here too, because a plugin is untrusted code: at most
//! [`MAX_METRICS_PER_PLUGIN`] names per plugin and [`MAX_SERIES`] label sets per metric, plugin
//! and route. A sample past a bound is dropped and counted in
//! `portcullis_plugin_metrics_dropped_total`, so a plugin putting user ids in a label costs a
//! bounded amount of memory and shows up on a dashboard instead of exhausting the gateway.
//!
//! The registry lives with [`super::Metrics`], outside the snapshot: plugin metrics survive
//! reloads like the gateway's own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::PluginLabels;

/// Most metric names one plugin (by its name in the manifest) may define.
pub const MAX_METRICS_PER_PLUGIN: usize = 32;
/// Most label sets per metric, plugin and route.
pub const MAX_SERIES: usize = 64;
/// Most labels a plugin may add to a sample.
pub const MAX_LABELS: usize = 8;
/// Longest metric or label name.
pub const MAX_NAME: usize = 64;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 128;

/// Histogram buckets: wide enough for seconds (1 ms up) and for bytes (up to 1 MB).
pub const BUCKETS: [f64; 18] = [
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    100.0,
    1000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
];

/// Names the gateway itself exports under `portcullis_plugin_`: a plugin may not take them.
const RESERVED: [&str; 17] = [
    "duration_seconds",
    "failures",
    "fail_open_skips",
    "metrics_dropped",
    // The host's accounting and roll-outs (`plugin_cost`).
    "calls",
    "cpu_seconds",
    "traps",
    "instances",
    "memory_high_water_bytes",
    "breaker_state",
    "breaker_opened",
    "breaker_refused",
    "canary_state",
    "canary_rollbacks",
    "canary_requests",
    "shadow_runs",
    "shadow_divergences",
];

/// Labels the host sets on every sample, and the one Prometheus gives histogram buckets.
const HOST_LABELS: [&str; 3] = ["plugin", "route", "le"];

/// One sample from a plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// Add to a counter.
    Counter(u64),
    /// Observe a value in a histogram.
    Histogram(f64),
}

impl Sample {
    fn kind(self) -> &'static str {
        match self {
            Sample::Counter(_) => "counter",
            Sample::Histogram(_) => "histogram",
        }
    }
}

/// Why a plugin's metric call was refused. The message is given to the plugin as is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// The metric name does not match `[a-z_][a-z0-9_]*` or is too long.
    #[error(
        "`{0}` is not a valid metric name: use 1 to 64 of `a-z`, `0-9` and `_`, not starting with a digit"
    )]
    Name(String),
    /// The name is one the gateway exports itself.
    #[error("`{0}` is reserved: the gateway exports `portcullis_plugin_{0}` itself")]
    Reserved(String),
    /// A label is not valid.
    #[error("label `{0}`: {1}")]
    Label(String, &'static str),
    /// Too many labels.
    #[error("{0} labels given; a sample may have at most 8")]
    TooManyLabels(usize),
    /// A histogram value that is NaN or infinite.
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    /// The name is already a metric of the other type.
    #[error("`{name}` is already a {existing}; it cannot also be a {asked}")]
    TypeConflict {
        /// The metric name.
        name: String,
        /// Its type.
        existing: &'static str,
        /// The type asked for.
        asked: &'static str,
    },
}

/// One metric's series.
enum Series {
    Counter(HashMap<Vec<(String, String)>, Counter>),
    Histogram(HashMap<Vec<(String, String)>, Histogram>),
}

impl Series {
    fn kind(&self) -> &'static str {
        match self {
            Series::Counter(_) => "counter",
            Series::Histogram(_) => "histogram",
        }
    }

    /// Applies `sample` to the series `labels`; `false` when that series does not exist yet.
    fn apply(&self, labels: &[(String, String)], sample: Sample) -> bool {
        match (self, sample) {
            (Series::Counter(map), Sample::Counter(value)) => map
                .get(labels)
                .map(|c| {
                    c.inc_by(value);
                })
                .is_some(),
            (Series::Histogram(map), Sample::Histogram(value)) => {
                map.get(labels).map(|h| h.observe(value)).is_some()
            }
            _ => false,
        }
    }

    fn insert(&mut self, labels: Vec<(String, String)>, sample: Sample) {
        match (self, sample) {
            (Series::Counter(map), Sample::Counter(value)) => {
                map.entry(labels).or_default().inc_by(value);
            }
            (Series::Histogram(map), Sample::Histogram(value)) => {
                map.entry(labels)
                    .or_insert_with(|| Histogram::new(BUCKETS.iter().copied()))
                    .observe(value);
            }
            _ => {}
        }
    }
}

struct PluginFamily {
    series: Series,
    /// Label sets per (plugin, route), for the cardinality bound.
    counts: HashMap<(String, String), usize>,
}

#[derive(Default)]
struct Families {
    by_name: BTreeMap<String, PluginFamily>,
    /// The names each plugin has defined.
    names: HashMap<String, HashSet<String>>,
}

/// Every plugin-defined metric of the process.
#[derive(Default)]
pub struct PluginMetrics {
    families: RwLock<Families>,
    dropped: Family<PluginLabels, Counter>,
}

impl std::fmt::Debug for PluginMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginMetrics").finish_non_exhaustive()
    }
}

impl PluginMetrics {
    /// Records `sample` of metric `name` for `plugin` on `route`, with the plugin's `labels`.
    /// A sample past a cardinality bound is dropped (and counted): `Ok` all the same, since the
    /// plugin did nothing invalid.
    pub fn record(
        &self,
        plugin: &str,
        route: &str,
        name: &str,
        labels: Vec<(String, String)>,
        sample: Sample,
    ) -> Result<(), MetricError> {
        let name = check_name(name, sample)?;
        if let Sample::Histogram(value) = sample
            && !value.is_finite()
        {
            return Err(MetricError::NotFinite(value));
        }
        let key = label_set(plugin, route, labels)?;
        {
            let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(family) = families.by_name.get(name) {
                check_kind(name, &family.series, sample)?;
                if family.series.apply(&key, sample) {
                    return Ok(());
                }
            }
        }
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Families { by_name, names } = &mut *families;
        if !by_name.contains_key(name) {
            let mine = names.entry(plugin.to_owned()).or_default();
            if !mine.contains(name) && mine.len() >= MAX_METRICS_PER_PLUGIN {
                self.drop_sample(plugin, route);
                return Ok(());
            }
            let series = match sample {
                Sample::Counter(_) => Series::Counter(HashMap::new()),
                Sample::Histogram(_) => Series::Histogram(HashMap::new()),
            };
            by_name.insert(
                name.to_owned(),
                PluginFamily {
                    series,
                    counts: HashMap::new(),
                },
            );
        }
        let Some(family) = by_name.get_mut(name) else {
            return Ok(());
        };
        check_kind(name, &family.series, sample)?;
        // Another call may have created the series between the two locks.
        if family.series.apply(&key, sample) {
            return Ok(());
        }
        let mine = names.entry(plugin.to_owned()).or_default();
        if !mine.contains(name) && mine.len() >= MAX_METRICS_PER_PLUGIN {
            self.drop_sample(plugin, route);
            return Ok(());
        }
        let count = family
            .counts
            .entry((plugin.to_owned(), route.to_owned()))
            .or_default();
        if *count >= MAX_SERIES {
            self.drop_sample(plugin, route);
            return Ok(());
        }
        *count += 1;
        mine.insert(name.to_owned());
        family.series.insert(key, sample);
        Ok(())
    }

    fn drop_sample(&self, plugin: &str, route: &str) {
        self.dropped
            .get_or_create(&PluginLabels {
                plugin: plugin.to_owned(),
                route: route.to_owned(),
            })
            .inc();
    }
}

impl Collector for PluginMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let dropped = encoder.encode_descriptor(
            "plugin_metrics_dropped",
            "Plugin metric samples dropped past a cardinality bound, by plugin and route",
            None,
            MetricType::Counter,
        )?;
        self.dropped.encode(dropped)?;
        let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
        for (name, family) in &families.by_name {
            let name = format!("plugin_{name}");
            let help = "Defined by plugins (the `plugin` label names which one)";
            match &family.series {
                Series::Counter(map) => {
                    let mut metric =
                        encoder.encode_descriptor(&name, help, None, MetricType::Counter)?;
                    for (labels, counter) in map {
                        counter.encode(metric.encode_family(labels)?)?;
                    }
                }
                Series::Histogram(map) => {
                    let mut metric =
                        encoder.encode_descriptor(&name, help, None, MetricType::Histogram)?;
                    for (labels, histogram) in map {
                        histogram.encode(metric.encode_family(labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_kind(name: &str, series: &Series, sample: Sample) -> Result<(), MetricError> {
    if series.kind() == sample.kind() {
        return Ok(());
    }
    Err(MetricError::TypeConflict {
        name: name.to_owned(),
        existing: series.kind(),
        asked: sample.kind(),
    })
}

/// The metric's name as exported after `portcullis_plugin_`: a counter's trailing `_total` is
/// the encoder's to add.
fn check_name(name: &str, sample: Sample) -> Result<&str, MetricError> {
    if !is_identifier(name) {
        return Err(MetricError::Name(name.chars().take(80).collect()));
    }
    let name = match sample {
        Sample::Counter(_) => name
            .strip_suffix("_total")
            .filter(|n| !n.is_empty())
            .unwrap_or(name),
        Sample::Histogram(_) => name,
    };
    if RESERVED.contains(&name) {
        return Err(MetricError::Reserved(name.to_owned()));
    }
    Ok(name)
}

fn is_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// The full label set: the host's `plugin` and `route`, then the plugin's labels sorted by
/// name (so their order in the call does not make a new series).
fn label_set(
    plugin: &str,
    route: &str,
    mut labels: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, MetricError> {
    if labels.len() > MAX_LABELS {
        return Err(MetricError::TooManyLabels(labels.len()));
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (key, value)) in labels.iter().enumerate() {
        let shown = || key.chars().take(80).collect::<String>();
        if !is_identifier(key) {
            return Err(MetricError::Label(
                shown(),
                "a label name is 1 to 64 of `a-z`, `0-9` and `_`, not starting with a digit",
            ));
        }
        if HOST_LABELS.contains(&key.as_str()) || key.starts_with("__") {
            return Err(MetricError::Label(
                shown(),
                "reserved (the gateway sets `plugin` and `route`; `le` and `__*` are Prometheus')",
            ));
        }
        if i > 0 && labels[i - 1].0 == *key {
            return Err(MetricError::Label(shown(), "given twice"));
        }
        if value.len() > MAX_LABEL_VALUE {
            return Err(MetricError::Label(
                shown(),
                "its value is longer than 128 bytes",
            ));
        }
    }
    let mut set = Vec::with_capacity(labels.len() + 2);
    set.push(("plugin".to_owned(), plugin.to_owned()));
    set.push(("route".to_owned(), route.to_owned()));
    set.extend(labels);
    Ok(set)
}

#[cfg(test)]
mod tests;
