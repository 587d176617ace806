//! Checks the observability tables: `[access-log]` (where access lines go, their format, the
//! context they show) and `[tracing]` (span export over OTLP/HTTP).

use std::path::Path;
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::raw::{RawAccessLog, RawTracing};
use super::validate::duration;
use super::{
    AccessLogConfig, AccessLogDestination, AccessLogFormat, OtlpConfig, TracingConfig, suggest,
};

const FORMATS: &[&str] = &["json", "common"];

/// The validated `[access-log]`; errors are pushed and the bad fields left unset.
pub(super) fn access_log(
    raw: RawAccessLog,
    base: &Path,
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
            path => Some(AccessLogDestination::File(base.join(path))),
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
