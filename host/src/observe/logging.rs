//! Log output: human-readable or one JSON object per line, filtered by level or `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Why the logger could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum LogInitError {
    /// The level or `RUST_LOG` is not a valid filter.
    #[error("invalid log filter: {0}")]
    Filter(#[source] tracing_subscriber::filter::ParseError),
    /// A global subscriber is already installed.
    #[error("cannot install the logger: {0}")]
    Install(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Installs the global subscriber. `level` is a `RUST_LOG`-style filter (`info`,
/// `portcullis=debug,plugin=trace`); the `RUST_LOG` variable wins when set.
pub fn init(level: &str, format: LogFormat) -> Result<(), LogInitError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(level),
    }
    .map_err(LogInitError::Filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(LogInitError::Install)
}
