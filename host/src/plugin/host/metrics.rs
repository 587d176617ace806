//! WIT `metrics`: a plugin's own counters and histograms, recorded under its name and the
//! request's route in the process's plugin metrics (bounded there), during a request only.

use crate::contract::portcullis::plugin::metrics;
use crate::observe::metrics::plugin::Sample;
use crate::plugin::store::InstanceState;

impl metrics::Host for InstanceState {
    fn counter_add(
        &mut self,
        name: String,
        labels: Vec<(String, String)>,
        value: u64,
    ) -> Result<(), metrics::MetricError> {
        self.record_metric(&name, labels, Sample::Counter(value))
    }

    fn histogram_record(
        &mut self,
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    ) -> Result<(), metrics::MetricError> {
        self.record_metric(&name, labels, Sample::Histogram(value))
    }
}

impl InstanceState {
    /// Records a plugin's sample under its name and the request's route (a global plugin's
    /// samples go under each route it serves, as its call durations do). The error is WIT's
    /// `metric-error`, a text for the plugin.
    fn record_metric(
        &self,
        name: &str,
        labels: Vec<(String, String)>,
        sample: Sample,
    ) -> Result<(), metrics::MetricError> {
        let ex = self
            .exchange()
            .ok_or("metrics are recorded during a request, not in init")?;
        ex.metrics
            .record(&self.tag.plugin, &ex.route, name, labels, sample)
            .map_err(|e| e.to_string())
    }
}
