//! Per-route totals for the admin API's `GET /stats`, read from the request counters and
//! latency histograms the data plane already keeps: nothing is counted twice and no request
//! does more work. The families are shared with a second, small registry holding only them;
//! encoding that registry and reading its lines back is the one way `prometheus_client` gives
//! to read a histogram's buckets.

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{Buckets, LATENCY_BUCKETS, RequestLabels, RouteLabels, STATUS_CLASSES};

/// What one route has answered since the gateway started (counters survive reloads).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTotals {
    /// The route's id; empty for requests that matched no route.
    pub route: String,
    /// Requests answered by status class: `1xx` to `5xx`.
    pub status_classes: [u64; 5],
    /// Requests timed (those answered).
    pub latency_count: u64,
    /// Their time to response headers, summed, in seconds.
    pub latency_sum_s: f64,
    /// Cumulative counts at each bound of [`latency_bounds`], then at `+Inf`.
    pub latency_buckets: Vec<u64>,
}

/// The upper bounds of the latency buckets, in seconds.
pub fn latency_bounds() -> &'static [f64] {
    &LATENCY_BUCKETS
}

/// A registry holding only the request counters (`r`) and latency histograms (`d`), short
/// names keeping the text to read small.
pub(super) fn registry(
    requests: &Family<RequestLabels, Counter>,
    durations: &Family<RouteLabels, Histogram, Buckets>,
) -> Registry {
    let mut registry = Registry::default();
    registry.register("r", "requests", requests.clone());
    registry.register("d", "durations", durations.clone());
    registry
}

/// Every route's totals, sorted by route id.
pub(super) fn read(registry: &Registry) -> Vec<RouteTotals> {
    let mut text = String::new();
    // Writing to a `String` cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    parse(&text)
}

/// Reads the OpenMetrics text of [`registry`].
fn parse(text: &str) -> Vec<RouteTotals> {
    let mut routes: BTreeMap<String, RouteTotals> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some(route) = label(series, "route") else {
            continue;
        };
        let totals = routes.entry(route.clone()).or_insert_with(|| RouteTotals {
            route,
            status_classes: [0; 5],
            latency_count: 0,
            latency_sum_s: 0.0,
            latency_buckets: vec![0; LATENCY_BUCKETS.len() + 1],
        });
        let name = series.split('{').next().unwrap_or_default();
        let count = || value.parse::<f64>().map_or(0, |v| v as u64);
        match name {
            "r_total" => {
                let class = label(series, "status_class");
                if let Some(i) = STATUS_CLASSES
                    .iter()
                    .position(|c| Some(*c) == class.as_deref())
                {
                    totals.status_classes[i] += count();
                }
            }
            "d_count" => totals.latency_count = count(),
            "d_sum" => totals.latency_sum_s = value.parse().unwrap_or(0.0),
            "d_bucket" => {
                let le = label(series, "le").unwrap_or_default();
                let index = if le == "+Inf" {
                    Some(LATENCY_BUCKETS.len())
                } else {
                    le.parse::<f64>().ok().and_then(|le| {
                        LATENCY_BUCKETS
                            .iter()
                            .position(|b| (b - le).abs() <= b * 1e-9)
                    })
                };
                if let Some(slot) = index.and_then(|i| totals.latency_buckets.get_mut(i)) {
                    *slot = count();
                }
            }
            _ => {}
        }
    }
    routes.into_values().collect()
}

/// The value of label `name` in a series `name{a="x",b="y"}`, unescaped.
fn label(series: &str, name: &str) -> Option<String> {
    let labels = series.split_once('{')?.1;
    let mut rest = labels;
    loop {
        let (key, after) = rest.split_once("=\"")?;
        let key = key.trim_start_matches(',');
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        if key == name {
            return Some(value);
        }
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests;
