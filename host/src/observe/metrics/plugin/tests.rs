//! The metrics plugins define, as specifications: an invalid name or label is the plugin's
//! error, samples carry the plugin and route labels, and past the bounds they are dropped and
//! counted.

use std::sync::Arc;

use super::*;

/// The text a scrape shows, through a registry as `/metrics` does.
fn scrape(metrics: &Arc<PluginMetrics>) -> String {
    let mut registry = prometheus_client::registry::Registry::with_prefix("portcullis");
    registry.register_collector(Box::new(metrics.clone()));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn invalid_names_and_labels_are_errors_for_the_plugin() {
    let m = PluginMetrics::default();
    let c = Sample::Counter(1);
    for bad in ["", "Hits", "1st", "a-b", "a.b", &"x".repeat(65)] {
        assert!(
            matches!(
                m.record("p", "r", bad, vec![], c),
                Err(MetricError::Name(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        m.record("p", "r", "failures", vec![], c),
        Err(MetricError::Reserved(_))
    ));
    assert!(matches!(
        m.record("p", "r", "failures_total", vec![], c),
        Err(MetricError::Reserved(_))
    ));
    for bad in ["plugin", "route", "le", "__x", "Bad"] {
        let r = m.record("p", "r", "ok", labels(&[(bad, "v")]), c);
        assert!(matches!(r, Err(MetricError::Label(..))), "{bad}");
    }
    let twice = labels(&[("a", "1"), ("a", "2")]);
    assert!(matches!(
        m.record("p", "r", "ok", twice, c),
        Err(MetricError::Label(..))
    ));
    let nine: Vec<_> = (0..9).map(|i| (format!("l{i}"), "v".to_owned())).collect();
    assert!(matches!(
        m.record("p", "r", "ok", nine, c),
        Err(MetricError::TooManyLabels(9))
    ));
    let nan = m.record("p", "r", "h", vec![], Sample::Histogram(f64::NAN));
    assert!(matches!(nan, Err(MetricError::NotFinite(_))));
    m.record("p", "r", "ok", vec![], c).unwrap();
    let conflict = m.record("q", "r", "ok", vec![], Sample::Histogram(1.0));
    assert!(matches!(conflict, Err(MetricError::TypeConflict { .. })));
}

#[test]
fn samples_are_labelled_with_plugin_and_route_and_counters_end_in_total() {
    let m = Arc::new(PluginMetrics::default());
    m.record(
        "auth",
        "orders",
        "hits_total",
        labels(&[("b", "2"), ("a", "1")]),
        Sample::Counter(2),
    )
    .unwrap();
    m.record(
        "auth",
        "orders",
        "hits",
        labels(&[("a", "1"), ("b", "2")]),
        Sample::Counter(3),
    )
    .unwrap();
    m.record("auth", "orders", "size", vec![], Sample::Histogram(3.0))
        .unwrap();
    let text = scrape(&m);
    assert!(
        text.contains(
            r#"portcullis_plugin_hits_total{plugin="auth",route="orders",a="1",b="2"} 5"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"portcullis_plugin_size_count{plugin="auth",route="orders"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"portcullis_plugin_size_bucket{le="5.0",plugin="auth",route="orders"} 1"#),
        "{text}"
    );
}

#[test]
fn past_the_bounds_samples_are_dropped_and_counted() {
    let m = Arc::new(PluginMetrics::default());
    for i in 0..MAX_SERIES + 3 {
        let set = labels(&[("n", &i.to_string())]);
        m.record("p", "r", "wide", set, Sample::Counter(1)).unwrap();
    }
    for i in 0..MAX_METRICS_PER_PLUGIN + 2 {
        m.record("p", "r", &format!("m{i}"), vec![], Sample::Counter(1))
            .unwrap();
    }
    // Another route has its own label sets; another plugin its own names.
    m.record(
        "p",
        "other",
        "wide",
        labels(&[("n", "x")]),
        Sample::Counter(1),
    )
    .unwrap();
    m.record("q", "r", "m40", vec![], Sample::Counter(1))
        .unwrap();
    let text = scrape(&m);
    let series = text
        .lines()
        .filter(|l| l.starts_with("portcullis_plugin_wide_total{plugin=\"p\",route=\"r\""))
        .count();
    assert_eq!(series, MAX_SERIES, "{text}");
    // `wide` is one of p's names, so p gets 31 more before the bound: 3 + 3 dropped.
    assert!(
        text.contains(r#"portcullis_plugin_metrics_dropped_total{plugin="p",route="r"} 6"#),
        "{text}"
    );
    assert!(
        text.contains(r#"portcullis_plugin_wide_total{plugin="p",route="other",n="x"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"portcullis_plugin_m40_total{plugin="q",route="r"} 1"#),
        "{text}"
    );
}
