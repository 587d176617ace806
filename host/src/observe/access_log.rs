//! Access logs: one line per request, written when the response body has gone (so its byte
//! counts are exact). By default the line is an event on the `access` log target (in the log's
//! own format). With a `stdout` or file destination (the manifest's `[access-log]` or
//! `--access-log`) lines go through a bounded channel to a writer task that batches them into a
//! buffered writer: the request path never waits on a write, and a line that finds the channel
//! full is dropped and counted (`portcullis_access_log_dropped_total`).
//!
//! Precedence, as in Envoy and Traefik where a command-line flag beats the file: a flag given
//! on the command line fixes its setting for the life of the process; the manifest's table
//! decides every setting no flag gives, and a reload that changes it opens the new destination
//! and swaps it in. The old writer drains what is queued and closes, so no line is lost.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::message::{Context, ServedVersions};

/// Lines waiting for the writer before new ones are dropped.
pub const CHANNEL_CAPACITY: usize = 8192;

/// Where access lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The `access` target of the process log.
    Log,
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

impl std::str::FromStr for Destination {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "log" => Destination::Log,
            "stdout" | "-" => Destination::Stdout,
            path => Destination::File(path.into()),
        })
    }
}

impl From<crate::config::AccessLogDestination> for Destination {
    fn from(destination: crate::config::AccessLogDestination) -> Self {
        match destination {
            crate::config::AccessLogDestination::Log => Destination::Log,
            crate::config::AccessLogDestination::Stdout => Destination::Stdout,
            crate::config::AccessLogDestination::File(path) => Destination::File(path),
        }
    }
}

/// The line format for a stdout or file destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// The common log format, followed by `key=value` fields.
    Common,
}

impl From<crate::config::AccessLogFormat> for Format {
    fn from(format: crate::config::AccessLogFormat) -> Self {
        match format {
            crate::config::AccessLogFormat::Json => Format::Json,
            crate::config::AccessLogFormat::Common => Format::Common,
        }
    }
}

/// What the command line fixed: `None` where the flag was not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--access-log`.
    pub destination: Option<Destination>,
    /// `--access-log-format`.
    pub format: Option<Format>,
}

/// Where lines go, in what format, with which context keys: the flags over the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where lines go.
    pub destination: Destination,
    /// Their format (for stdout or a file).
    pub format: Format,
    /// The context keys shown; `None` shows all.
    pub context: Option<Vec<String>>,
}

impl Settings {
    /// The flags given in `overrides`, the manifest's `table` for the rest, then the defaults
    /// (`log`, `json`, every context key).
    pub fn resolve(overrides: &Overrides, table: &crate::config::AccessLogConfig) -> Self {
        Self {
            destination: overrides
                .destination
                .clone()
                .or_else(|| table.destination.clone().map(Into::into))
                .unwrap_or(Destination::Log),
            format: overrides
                .format
                .or(table.format.map(Into::into))
                .unwrap_or(Format::Json),
            context: table.context.clone(),
        }
    }
}

/// One request, as logged.
pub struct Entry {
    /// When the response headers were ready.
    pub time: SystemTime,
    /// The request id.
    pub request_id: Arc<str>,
    /// The W3C trace id (written as 32 hex digits).
    pub trace_id: [u8; 16],
    /// The client's address.
    pub client: IpAddr,
    /// The method.
    pub method: http::Method,
    /// The path as requested.
    pub path: String,
    /// The request's HTTP version.
    pub version: http::Version,
    /// The matched route, if any.
    pub route: Option<Arc<str>>,
    /// The upstream and the target of the last try, if one was tried.
    pub upstream: Option<Tried>,
    /// The response status.
    pub status: u16,
    /// Response body bytes sent to the client, counted as they went.
    pub bytes: u64,
    /// Request body bytes read from the client, counted as they came.
    pub bytes_received: u64,
    /// The response body stopped early (the upstream failed or stalled, or the client left).
    pub aborted: bool,
    /// From arrival to response headers.
    pub duration: Duration,
    /// The upstream's part of it, all tries included.
    pub upstream_duration: Option<Duration>,
    /// The plugins' part of it, both phases.
    pub plugin_duration: Duration,
    /// What plugins chose to expose.
    pub context: Context,
    /// Which version of each entry with a canary served the request.
    pub versions: ServedVersions,
}

/// An upstream target by name: what an access line says of where a request went.
#[derive(Debug, Clone)]
pub struct Tried {
    /// The upstream's name.
    pub upstream: Arc<str>,
    /// The target's address, as in the manifest.
    pub target: Arc<str>,
}

impl Entry {
    fn upstream_name(&self) -> Option<&str> {
        self.upstream.as_ref().map(|t| &*t.upstream)
    }

    fn target(&self) -> Option<&str> {
        self.upstream.as_ref().map(|t| &*t.target)
    }

    /// The entry as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let context: serde_json::Map<_, _> = self
            .context
            .iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
            .collect();
        let mut line = serde_json::json!({
            "time": rfc3339(self.time),
            "request_id": &*self.request_id,
            "trace_id": Hex(&self.trace_id).to_string(),
            "client": self.client.to_string(),
            "method": self.method.as_str(),
            "path": self.path,
            "protocol": format!("{:?}", self.version),
            "route": self.route.as_deref(),
            "upstream": self.upstream_name(),
            "target": self.target(),
            "status": self.status,
            "bytes": self.bytes,
            "bytes_received": self.bytes_received,
            "aborted": self.aborted,
            "duration_ms": millis(self.duration),
            "upstream_ms": self.upstream_duration.map(millis),
            "plugins_ms": millis(self.plugin_duration),
            "context": context,
        });
        if !self.versions.0.is_empty() {
            let versions: serde_json::Map<_, _> = self
                .versions
                .0
                .iter()
                .map(|v| {
                    (
                        v.plugin.to_string(),
                        format!("{}@{}", v.role, v.version).into(),
                    )
                })
                .collect();
            line["plugin_versions"] = versions.into();
            let digests: serde_json::Map<_, _> = self
                .versions
                .0
                .iter()
                .filter_map(|v| Some((v.plugin.to_string(), v.digest.as_deref()?.into())))
                .collect();
            if !digests.is_empty() {
                line["plugin_digests"] = digests.into();
            }
        }
        line
    }

    /// The entry in the common log format, then `key=value` fields.
    pub fn to_common(&self) -> String {
        let dash = |s: Option<&str>| s.unwrap_or("-").to_owned();
        let mut line = format!(
            "{} - - [{}] \"{} {} {:?}\" {} {} request_id={} trace_id={} route={} upstream={} \
             target={} duration_ms={:.3} upstream_ms={} plugins_ms={:.3}",
            self.client,
            clf_time(self.time),
            self.method,
            self.path,
            self.version,
            self.status,
            self.bytes,
            self.request_id,
            Hex(&self.trace_id),
            dash(self.route.as_deref()),
            dash(self.upstream_name()),
            self.target().unwrap_or("-"),
            millis(self.duration),
            self.upstream_duration
                .map_or("-".into(), |d| format!("{:.3}", millis(d))),
            millis(self.plugin_duration),
        );
        line.push_str(&format!(" bytes_received={}", self.bytes_received));
        if self.aborted {
            line.push_str(" aborted=true");
        }
        for (key, value) in self.context.iter() {
            line.push_str(&format!(" {key}={value:?}"));
        }
        for v in &self.versions.0 {
            line.push_str(&format!(
                " plugin_version.{}={}@{}",
                v.plugin, v.role, v.version
            ));
            if let Some(digest) = &v.digest {
                line.push_str(&format!(" plugin_digest.{}={digest}", v.plugin));
            }
        }
        line
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Access logging for one gateway.
#[derive(Clone, Default)]
pub struct AccessLog {
    sink: Option<Sink>,
    /// The context keys a line shows (`[access-log] context`); `None` shows all.
    context: Option<Arc<[String]>>,
}

#[derive(Clone)]
struct Sink {
    sender: mpsc::Sender<Entry>,
}

/// Why an access log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the access log `{path}`: {source}")]
pub struct OpenError {
    path: String,
    source: std::io::Error,
}

impl AccessLog {
    /// Access lines to `destination` in `format`; a stdout or file destination starts its
    /// writer task (in the current tokio runtime).
    pub fn open(destination: &Destination, format: Format) -> Result<Self, OpenError> {
        let writer: Box<dyn Write + Send> = match destination {
            Destination::Log => return Ok(Self::default()),
            Destination::Stdout => Box::new(std::io::stdout()),
            Destination::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| OpenError {
                        path: path.display().to_string(),
                        source,
                    })?,
            ),
        };
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::task::spawn_blocking(move || write_lines(receiver, writer, format));
        Ok(Self {
            sink: Some(Sink { sender }),
            context: None,
        })
    }

    /// Opens the destination of `settings`, showing only its context keys.
    pub fn open_settings(settings: &Settings) -> Result<Self, OpenError> {
        let mut log = Self::open(&settings.destination, settings.format)?;
        log.context = settings.context.as_deref().map(Arc::from);
        Ok(log)
    }

    /// Logs `entry` without waiting; `false` when it was dropped (the writer is behind).
    pub fn log(&self, mut entry: Entry) -> bool {
        if let Some(keys) = &self.context {
            entry.context.retain(|key| keys.iter().any(|k| k == key));
        }
        match &self.sink {
            None => {
                tracing::info!(
                    target: "access",
                    request_id = &*entry.request_id,
                    trace_id = %Hex(&entry.trace_id),
                    client = %entry.client,
                    method = %entry.method,
                    path = entry.path,
                    route = entry.route.as_deref(),
                    upstream = entry.upstream_name(),
                    target = entry.target(),
                    status = entry.status,
                    bytes = entry.bytes,
                    bytes_received = entry.bytes_received,
                    aborted = entry.aborted,
                    duration_us = entry.duration.as_micros() as u64,
                    upstream_us = entry.upstream_duration.map(|d| d.as_micros() as u64),
                    plugins_us = entry.plugin_duration.as_micros() as u64,
                    context = %ContextFields(&entry.context),
                );
                true
            }
            Some(sink) => sink.sender.try_send(entry).is_ok(),
        }
    }
}

/// The writer: takes every line waiting, writes them, flushes once the channel is empty.
fn write_lines(mut receiver: mpsc::Receiver<Entry>, writer: Box<dyn Write + Send>, format: Format) {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, writer);
    while let Some(entry) = receiver.blocking_recv() {
        let mut next = Some(entry);
        while let Some(entry) = next {
            let line = match format {
                Format::Json => entry.to_json().to_string(),
                Format::Common => entry.to_common(),
            };
            if writeln!(out, "{line}").is_err() {
                return;
            }
            next = receiver.try_recv().ok();
        }
        if out.flush().is_err() {
            return;
        }
    }
}

/// Bytes as lowercase hex, written without an intermediate string.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The request context in the `access` log event: `key=value` pairs.
struct ContextFields<'a>(&'a Context);

impl std::fmt::Display for ContextFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{key}={value:?}")?;
        }
        Ok(())
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split(time: SystemTime) -> (i64, u32, u32, u64, u32) {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil((secs / 86_400) as i64);
    (year, month, day, secs % 86_400, since.subsec_millis())
}

/// `2026-11-23T19:04:52.123Z`.
fn rfc3339(time: SystemTime) -> String {
    let (y, mo, d, s, ms) = split(time);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `23/Nov/2026:19:04:52 +0000`.
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, s, _) = split(time);
    let month = MONTHS.get(mo as usize - 1).copied().unwrap_or("Jan");
    format!(
        "{d:02}/{month}/{y:04}:{:02}:{:02}:{:02} +0000",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests;
