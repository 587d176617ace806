//! Counters and histograms of your own, exported by the gateway on `/metrics` as
//! `portcullis_plugin_<name>` (a counter gets `_total`), each sample labelled with your plugin's
//! name and the request's route by the gateway.
//!
//! ```no_run
//! use portcullis_sdk::metrics;
//!
//! # fn f(bytes: usize) -> Result<(), portcullis_sdk::Error> {
//! // portcullis_plugin_tokens_checked_total{plugin="jwt-auth",route="orders",outcome="valid"}
//! metrics::counter("tokens_checked", &[("outcome", "valid")], 1)?;
//! // portcullis_plugin_token_bytes_bucket{plugin="jwt-auth",route="orders",le="..."}
//! metrics::histogram("token_bytes", &[], bytes as f64)?;
//! # Ok(()) }
//! ```
//!
//! Names and label names are `[a-z_][a-z0-9_]*`; an invalid one is an error. Keep label values
//! few: the gateway keeps at most 32 names per plugin and 64 label sets per name and route, and
//! drops (and counts in `portcullis_plugin_metrics_dropped_total`) what comes past that. Calls
//! work during a request (`on_request`, `on_response`), not in `Plugin::new`.

use crate::bindings::portcullis::plugin::metrics as wit;

/// Adds `value` to the counter `name` with `labels`.
pub fn counter(name: &str, labels: &[(&str, &str)], value: u64) -> Result<(), crate::Error> {
    wit::counter_add(name, &owned(labels), value).map_err(crate::Error::new)
}

/// Records `value` (finite: seconds, bytes...) in the histogram `name` with `labels`.
pub fn histogram(name: &str, labels: &[(&str, &str)], value: f64) -> Result<(), crate::Error> {
    wit::histogram_record(name, &owned(labels), value).map_err(crate::Error::new)
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
