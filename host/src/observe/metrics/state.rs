//! The state store's metrics, read from the current snapshot's store at scrape time: keys and
//! bytes held, entries expired, live entries evicted and new keys refused, per namespace
//! (plugin and route: bounded by the manifest). A store replaced by a reload (its `[state]`
//! changed) starts its counters from zero, which Prometheus reads as a counter reset.

use std::sync::{Mutex, PoisonError, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::PluginLabels;

/// What one namespace holds and what it had to give up, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceUsage {
    /// The plugin's name.
    pub plugin: String,
    /// The route (`*` for a global plugin).
    pub route: String,
    /// Keys held now.
    pub keys: u64,
    /// Bytes held now (keys, values and bookkeeping, estimated).
    pub bytes: u64,
    /// Entries removed because they expired.
    pub expired: u64,
    /// Live entries evicted (least recently used) to keep the namespace within its quota.
    pub evicted: u64,
    /// New keys refused because no room could be made.
    pub refused: u64,
}

/// A state store as the metrics see it: its namespaces' usage, read at scrape time.
pub trait StateUsage: Send + Sync {
    /// The usage of every namespace now.
    fn usage(&self) -> Vec<NamespaceUsage>;
}

/// Encodes the usage of the store it was last shown.
#[derive(Default)]
pub struct StateMetrics {
    store: Mutex<Option<Weak<dyn StateUsage>>>,
}

impl std::fmt::Debug for StateMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMetrics").finish_non_exhaustive()
    }
}

impl StateMetrics {
    /// The store to report from now on (the current snapshot's).
    pub fn observe(&self, store: Weak<dyn StateUsage>) {
        *self.store.lock().unwrap_or_else(PoisonError::into_inner) = Some(store);
    }

    fn usage(&self) -> Vec<NamespaceUsage> {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        store
            .as_ref()
            .and_then(Weak::upgrade)
            .map(|s| s.usage())
            .unwrap_or_default()
    }
}

/// A family: its name, help, type and the sample of one namespace.
type Family = (
    &'static str,
    &'static str,
    MetricType,
    fn(&NamespaceUsage) -> u64,
);

const FAMILIES: [Family; 5] = [
    (
        "state_keys",
        "Keys held by the local state store, by plugin and route",
        MetricType::Gauge,
        |u| u.keys,
    ),
    (
        "state_bytes",
        "Bytes held by the local state store (keys, values and bookkeeping, estimated), by plugin and route",
        MetricType::Gauge,
        |u| u.bytes,
    ),
    (
        "state_expired",
        "Entries of the local state store removed because they expired, by plugin and route",
        MetricType::Counter,
        |u| u.expired,
    ),
    (
        "state_evictions",
        "Live entries of the local state store evicted (least recently used) to keep a namespace within its quota, by plugin and route",
        MetricType::Counter,
        |u| u.evicted,
    ),
    (
        "state_refusals",
        "New keys the local state store refused (the plugin saw `unavailable`), by plugin and route",
        MetricType::Counter,
        |u| u.refused,
    ),
];

impl Collector for StateMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let usage = self.usage();
        for (name, help, kind, sample) in FAMILIES {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for namespace in &usage {
                let labels = PluginLabels {
                    plugin: namespace.plugin.clone(),
                    route: namespace.route.clone(),
                };
                let value = sample(namespace);
                let encoder = family.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => ConstCounter::new(value).encode(encoder)?,
                    _ => {
                        ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(encoder)?
                    }
                }
            }
        }
        Ok(())
    }
}
