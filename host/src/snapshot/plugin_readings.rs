//! The plugin runtime's figures as `/metrics` reads them: each plugin version's cost (stable,
//! candidate and shadow of every entry, a global entry once) and each roll-out's state.

use std::sync::atomic::Ordering::Relaxed;

use super::Snapshot;
use crate::observe::metrics::plugin_cost::{BreakerFigures, CanaryFigures, ShadowFigures};
use crate::observe::metrics::{PluginCost, PluginReadings, RolloutFigures};
use crate::plugin::account::{FAILURE_KINDS, histogram};
use crate::plugin::rollout::canary::Phase;
use crate::plugin::rollout::shadow::DIVERGENCE_KINDS;
use crate::plugin::rollout::{Breaker, Version};

/// CPU buckets exported: one per eight of the accounting's (a factor of four each), from
/// 448 ns to about two minutes, then `+Inf`.
const EXPORTED_BUCKET_STEP: usize = 8;

impl Snapshot {
    /// What every plugin of the snapshot has cost, and its roll-outs' state.
    pub fn plugin_readings(&self) -> PluginReadings {
        let mut readings = PluginReadings::default();
        for step in self.plugin_entries() {
            readings.versions.push(cost(step.stable(), "stable"));
            if let Some(canary) = step.canary() {
                readings.versions.push(cost(&canary.version, "candidate"));
            }
            if let Some(shadow) = step.shadow() {
                let version = Version {
                    plugin: shadow.plugin().clone(),
                    breaker: None,
                };
                readings.versions.push(cost(&version, "shadow"));
            }
            if step.canary().is_none() && step.shadow().is_none() {
                continue;
            }
            let plugin = step.plugin();
            readings.rollouts.push(RolloutFigures {
                plugin: plugin.name().to_owned(),
                route: plugin.route().to_owned(),
                canary: step.canary().map(|canary| {
                    let view = canary.state.view();
                    let state = match view.phase {
                        Phase::Active => 0,
                        Phase::RolledBack => 1,
                        Phase::Aborted => 2,
                        Phase::Promoted => 3,
                    };
                    CanaryFigures {
                        state,
                        rollbacks: view.rollbacks,
                        served: view.served,
                    }
                }),
                shadow: step.shadow().map(|shadow| {
                    let state = shadow.state();
                    let divergences = DIVERGENCE_KINDS
                        .iter()
                        .zip(&state.divergences)
                        .map(|(kind, n)| (*kind, n.load(Relaxed)))
                        .filter(|(_, n)| *n > 0)
                        .collect();
                    ShadowFigures {
                        runs: state.runs.load(Relaxed),
                        dropped: state.dropped.load(Relaxed),
                        divergences,
                    }
                }),
            });
        }
        readings
    }
}

fn cost(version: &Version, role: &'static str) -> PluginCost {
    let plugin = &version.plugin;
    let figures = plugin.stats.figures();
    // Coarser buckets for Prometheus: the counts of each group of eight, under its top bound.
    let cpu_buckets = figures
        .cpu_buckets
        .chunks(EXPORTED_BUCKET_STEP)
        .enumerate()
        .map(|(i, chunk)| {
            let last = (i * EXPORTED_BUCKET_STEP + chunk.len() - 1).min(histogram::BUCKETS - 1);
            (histogram::upper_seconds(last), chunk.iter().sum())
        })
        .collect::<Vec<(f64, u64)>>();
    let mut cpu_buckets = cpu_buckets;
    if let Some(last) = cpu_buckets.last_mut() {
        last.0 = f64::INFINITY;
    }
    PluginCost {
        plugin: plugin.name().to_owned(),
        route: plugin.route().to_owned(),
        version: plugin.version().to_string(),
        role,
        calls: figures.calls,
        failures: FAILURE_KINDS
            .iter()
            .zip(figures.failures_by_kind)
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| (*kind, n))
            .collect(),
        cpu_seconds: figures.cpu_total.as_secs_f64(),
        cpu_buckets,
        instances: figures.live_instances,
        memory_high_water: figures.memory_high_water,
        breaker: version.breaker.as_deref().map(breaker),
        source: plugin
            .origin()
            .map(|origin| (origin.reference.to_string(), origin.digest.to_string())),
    }
}

fn breaker(breaker: &Breaker) -> BreakerFigures {
    let view = breaker.view();
    let state = match view.state {
        "closed" => 0,
        "open" => 1,
        _ => 2,
    };
    BreakerFigures {
        state,
        opened: view.opened,
        refused: view.refused,
    }
}
