//! Observability: metrics, access log lines, W3C trace context, OTLP span export and log output.
//!
//! This layer knows the HTTP message and the manifest's models, and nothing of snapshots, the
//! proxy or the plugin runtime: those call in with names and numbers, so that what is observed
//! never decides how the gateway is built.

pub mod access_log;
pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod trace;
