//! The observability tables: `[access-log]` (where access lines go, their format, the context
//! they show) and `[tracing]` (span export over OTLP/HTTP). The raw tables as written, the
//! validated [`AccessLogConfig`] and [`TracingConfig`], and their checks.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::base::Base;
use super::diagnostic::Diagnostic;
use super::suggest;
use super::units::{Text, duration};

/// The `[access-log]` table: where access lines go, in which format, with which context.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawAccessLog {
    pub(super) destination: Option<Spanned<String>>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) context: Option<Vec<Spanned<String>>>,
}

/// The `[tracing]` table: span export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTracing {
    pub(super) otlp: Option<Spanned<RawOtlp>>,
    pub(super) sample_ratio: Option<Spanned<f64>>,
    pub(super) service_name: Option<Spanned<String>>,
}

/// `[tracing] otlp`: the OTLP/HTTP collector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawOtlp {
    pub(super) endpoint: Spanned<String>,
    pub(super) timeout: Option<Spanned<Text>>,
}

/// The `[access-log]` table (see `docs/observability.md`). Each field is `None` when not written,
/// so the command line's defaults and flags can be told apart from the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// `destination`: `log`, `stdout` or a file (resolved against the manifest's directory).
    pub destination: Option<AccessLogDestination>,
    /// `format`: for `stdout` or a file.
    pub format: Option<AccessLogFormat>,
    /// `context`: the request-context keys a line shows; `None` shows every key.
    pub context: Option<Vec<String>>,
}

/// Where access lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogDestination {
    /// The `access` target of the process log.
    Log,
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// The line format for a stdout or file destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// The common log format, then `key=value` fields.
    Common,
}

/// The `[tracing]` table (see `docs/observability.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// `otlp`: where spans are exported; `None` exports nothing.
    pub otlp: Option<OtlpConfig>,
    /// `sample-ratio`: the share of new traces (started here) that are sampled, 0 to 1.
    pub sample_ratio: f64,
    /// `service-name`: the `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp: None,
            sample_ratio: 1.0,
            service_name: "portcullis".to_owned(),
        }
    }
}

/// `[tracing] otlp`: an OTLP/HTTP (protobuf) collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The URL spans are posted to (`/v1/traces` added when the endpoint has no path).
    pub endpoint: http::Uri,
    /// The longest one export may take (default 10s).
    pub timeout: Duration,
}

const FORMATS: &[&str] = &["json", "common"];

/// The validated `[access-log]`; errors are pushed and the bad fields left unset.
pub(super) fn access_log(
    raw: RawAccessLog,
    base: Base<'_>,
    errors: &mut Vec<Diagnostic>,
) -> AccessLogConfig {
    let destination = raw.destination.and_then(|d| {
        let text = d.get_ref().trim();
        match text {
            "log" => Some(AccessLogDestination::Log),
            "stdout" | "-" => Some(AccessLogDestination::Stdout),
            "" => {
                errors.push(Diagnostic::new(
                    d.span(),
                    "empty access log destination",
                    "write `log` (the process log), `stdout`, or a file path such as \"access.log\" (relative to the manifest)",
                ));
                None
            }
            path => Some(AccessLogDestination::File(base.join(
                d.span(),
                path,
                errors,
            ))),
        }
    });
    let format = raw.format.and_then(|f| match f.get_ref().as_str() {
        "json" => Some(AccessLogFormat::Json),
        "common" => Some(AccessLogFormat::Common),
        other => {
            errors.push(Diagnostic::new(
                f.span(),
                format!("unknown access log format `{other}`"),
                suggest::help(other, "formats", FORMATS),
            ));
            None
        }
    });
    let context = raw.context.map(|keys| {
        let mut kept: Vec<String> = Vec::with_capacity(keys.len());
        for key in keys {
            if key.get_ref().is_empty() {
                errors.push(Diagnostic::new(
                    key.span(),
                    "empty context key in `[access-log] context`",
                    "name the keys plugins set, e.g. `context = [\"consumer\"]`",
                ));
            } else if kept.contains(key.get_ref()) {
                errors.push(Diagnostic::new(
                    key.span(),
                    format!("context key `{}` is listed twice", key.get_ref()),
                    "remove the second one",
                ));
            } else {
                kept.push(key.into_inner());
            }
        }
        kept
    });
    AccessLogConfig {
        destination,
        format,
        context,
    }
}

/// The validated `[tracing]`; errors are pushed and defaults stand in for the bad values.
pub(super) fn tracing(raw: RawTracing, errors: &mut Vec<Diagnostic>) -> TracingConfig {
    let defaults = TracingConfig::default();
    let sample_ratio = match raw.sample_ratio {
        Some(ratio) if !(0.0..=1.0).contains(ratio.get_ref()) => {
            errors.push(Diagnostic::new(
                ratio.span(),
                format!("sample ratio {} is not between 0 and 1", ratio.get_ref()),
                "write a share of new traces to sample, e.g. `sample-ratio = 0.1` for one in ten",
            ));
            defaults.sample_ratio
        }
        Some(ratio) => ratio.into_inner(),
        None => defaults.sample_ratio,
    };
    let service_name = match raw.service_name {
        Some(name) if name.get_ref().trim().is_empty() => {
            errors.push(Diagnostic::new(
                name.span(),
                "empty service name in `[tracing]`",
                "name the service as traces should show it, e.g. `service-name = \"edge-gateway\"`",
            ));
            defaults.service_name
        }
        Some(name) => name.into_inner(),
        None => defaults.service_name,
    };
    let otlp = raw.otlp.and_then(|otlp| {
        let otlp = otlp.into_inner();
        let timeout = duration(
            otlp.timeout,
            Duration::from_secs(10),
            "`[tracing] otlp.timeout`",
            errors,
        );
        match endpoint(otlp.endpoint.get_ref()) {
            Ok(endpoint) => Some(OtlpConfig { endpoint, timeout }),
            Err(problem) => {
                errors.push(Diagnostic::new(
                    otlp.endpoint.span(),
                    format!(
                        "invalid OTLP endpoint `{}`: {problem}",
                        otlp.endpoint.get_ref()
                    ),
                    "write the collector's OTLP/HTTP address, e.g. `otlp = { endpoint = \"http://127.0.0.1:4318\" }` (`/v1/traces` is added when no path is given)",
                ));
                None
            }
        }
    });
    TracingConfig {
        otlp,
        sample_ratio,
        service_name,
    }
}

/// The URL spans are posted to: `http://host:port[/path]`, with `/v1/traces` when no path.
fn endpoint(text: &str) -> Result<http::Uri, &'static str> {
    let uri: http::Uri = text.parse().map_err(|_| "not a URL")?;
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        return Err(
            "only `http://` is supported (put a local collector or agent in front for TLS)",
        );
    }
    let Some(authority) = uri.authority() else {
        return Err("no host");
    };
    let path = match uri.path() {
        "" | "/" => "/v1/traces",
        path => path,
    };
    format!("http://{authority}{path}")
        .parse()
        .map_err(|_| "not a URL")
}
