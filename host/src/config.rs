//! The manifest: what an operator writes (TOML, see `docs/manifest.md`) turned into a validated,
//! immutable model. Two stages: `raw` deserializes each section with positions kept, then
//! `validate` and `plugin` check meaning; every error from both is collected, sorted and rendered
//! against the text by `diagnostic`. Pure: no I/O but reading the file and checking that plugin
//! files exist.
//!
//! # The manifest reference (`docs/manifest.md`)
//!
#![doc = include_str!("../../docs/manifest.md")]

mod connection;
mod diagnostic;
mod listener;
mod observe;
mod path;
mod plugin;
mod plugin_runtime;
mod raw;
mod state;
mod suggest;
mod units;
mod validate;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use diagnostic::{Diagnostic, Diagnostics, Source};

use crate::router::RouteMatcher;
use crate::router::path::PathOptions;

/// A validated manifest. Indices (`Route::upstream`) are always in range.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The text it was read from, to render later errors (a plugin rejecting its config).
    pub source: Source,
    /// Where to accept connections; at least one.
    pub listeners: Vec<Listener>,
    /// Backends, in manifest order.
    pub upstreams: Vec<Upstream>,
    /// `[[plugins]]`: run before every route's own plugins, in order.
    pub global_plugins: Vec<PluginSpec>,
    /// Routes, in manifest order; their matchers never conflict.
    pub routes: Vec<Route>,
    /// `[state]`: where plugins' shared state lives (in process unless configured).
    pub state: StateConfig,
    /// `[plugin-runtime]`: bounds on the plugin instances of the whole gateway.
    pub plugin_runtime: PluginRuntimeConfig,
    /// `[admin]`: the admin API, off unless the table is given.
    pub admin: Option<Admin>,
    /// `[access-log]`: where access lines go (the command line's flags, when given, win).
    pub access_log: AccessLogConfig,
    /// `[tracing]`: span export, off unless `otlp` is given.
    pub tracing: TracingConfig,
    /// `[limits]`: timeouts and the cap of client connections (see `docs/connections.md`).
    pub limits: ConnectionLimits,
}

/// The `[limits]` table: how long a client connection may take or idle, and how many may be
/// open at once, on every listener (the admin API's has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max-connections`: client connections open at once, all listeners together; `None`
    /// derives it from the open-file limit (see `listener::cap`).
    pub max_connections: Option<u32>,
    /// `header-timeout`: from accept to the first request's headers (TLS handshake included),
    /// and from a request's first byte to its headers on a kept-alive connection (default 30s).
    pub header_timeout: Duration,
    /// `keepalive-timeout`: how long a connection with no request in flight stays open
    /// (HTTP/1.1 between requests, HTTP/2 with no stream open; default 75s).
    pub keepalive_timeout: Duration,
    /// `http2-ping-interval`: an HTTP/2 connection silent this long is sent a PING, and closed
    /// if no answer comes within 20s (default 60s).
    pub http2_ping_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: None,
            header_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(75),
            http2_ping_interval: Duration::from_secs(60),
        }
    }
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

/// The `[state]` table (see `docs/state.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// Where the state is kept.
    pub backend: StateBackend,
    /// The longest a state call may wait for Redis (default 50ms).
    pub timeout: Duration,
    /// The most keys the in-process backend holds (default 100 000).
    pub max_keys: usize,
    /// The most bytes (keys, values and bookkeeping) the in-process backend holds
    /// (default 64 MiB).
    pub max_bytes: usize,
    /// The most keys one namespace (a plugin entry on a route) may hold in the in-process
    /// backend; `None`: an equal share of `max_keys` among the namespaces holding keys.
    pub namespace_max_keys: Option<usize>,
    /// The most bytes one namespace may hold; `None`: an equal share of `max_bytes`.
    pub namespace_max_bytes: Option<usize>,
    /// Where `[state]` is in the manifest (empty when absent).
    pub span: Range<usize>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: StateBackend::Local,
            timeout: Duration::from_millis(50),
            max_keys: 100_000,
            max_bytes: 64 << 20,
            namespace_max_keys: None,
            namespace_max_bytes: None,
            span: 0..0,
        }
    }
}

/// The `[plugin-runtime]` table (see `docs/plugin-runtime.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRuntimeConfig {
    /// `memory-budget`: the most linear memory all plugin instances together may have; `None`
    /// for half the memory of the machine (or of its container, when it has a cgroup limit).
    pub memory_budget: Option<usize>,
    /// `idle-memory`: a reused instance whose memory grew beyond this size (default 64 MiB), or
    /// beyond its size after `init` when that is larger, is dropped when its request ends
    /// instead of waiting idle in the pool.
    pub idle_memory: usize,
}

impl Default for PluginRuntimeConfig {
    fn default() -> Self {
        Self {
            memory_budget: None,
            idle_memory: 64 << 20,
        }
    }
}

/// `backend` of `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend {
    /// In this process, lost on restart, not shared with other gateways (default).
    Local,
    /// A Redis server shared by every gateway that names it.
    Redis {
        /// `redis://[user:password@]host:port[/db]`.
        url: String,
        /// Prefix of every key (default `portcullis`), so several clusters can share a server.
        prefix: String,
    },
}

/// The `[admin]` table (see `docs/admin.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `address`: where the admin API listens (default `127.0.0.1:9901`).
    pub address: SocketAddr,
    /// `token`: when set, every admin request needs `Authorization: Bearer <token>`. Required
    /// when `address` is not a loopback address.
    pub token: Option<String>,
    /// `hosts`: names the admin API may be reached by (lowercase), besides `localhost`, loopback
    /// addresses and its own address; checked against `Host` when there is no token.
    pub hosts: Vec<String>,
}

/// A `[listeners.<name>]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The section's name.
    pub name: String,
    /// The address to bind.
    pub address: SocketAddr,
    /// `tls`: serve HTTPS with these certificates (plain HTTP when absent).
    pub tls: Option<ListenerTls>,
    /// `redirect-to-https`: answer every request with a redirect to HTTPS (plain listeners only).
    pub redirect_to_https: Option<HttpsRedirect>,
    /// `path`: how request paths are normalised before routing (see `docs/routing.md`).
    pub path: PathOptions,
    /// Where the section's name is in the manifest.
    pub span: Range<usize>,
}

/// A listener's `tls` table (see `docs/tls.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificates, chosen by SNI; at least one.
    pub certificates: Vec<CertificateSpec>,
    /// Which entry of `certificates` serves clients whose SNI names none (or who send none).
    pub default: usize,
    /// `client-auth`: verify client certificates (mTLS).
    pub client_auth: Option<ClientAuth>,
}

/// One entry of `tls.certificates`: PEM files, resolved against the manifest's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// SNI names this certificate serves, lowercase; `*.example.com` is a wildcard.
    pub server_names: Vec<String>,
    /// Where `cert` is written in the manifest.
    pub cert_span: Range<usize>,
    /// Where `key` is written in the manifest.
    pub key_span: Range<usize>,
}

/// `tls.client-auth`: client certificates checked against a CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// The CA certificates (PEM) client certificates must chain to.
    pub ca: PathBuf,
    /// Whether a client without a certificate is let in.
    pub mode: ClientAuthMode,
    /// Where `ca` is written in the manifest.
    pub ca_span: Range<usize>,
}

/// `tls.client-auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMode {
    /// A valid client certificate is required to complete the handshake (default).
    #[default]
    Required,
    /// A client certificate is verified if sent; clients without one are let in.
    Optional,
}

/// `redirect-to-https`: where a plain listener sends its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpsRedirect {
    /// The HTTPS port; 443 is left out of the `Location`.
    pub port: u16,
}

/// An `[upstreams.<name>]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The section's name.
    pub name: String,
    /// `host:port` authorities (names or IP addresses), at least one.
    pub targets: Vec<String>,
    /// How long to wait for a TCP connection (default 2s).
    pub connect_timeout: Duration,
    /// How long to wait for response headers, unless a route overrides it (default 30s).
    pub timeout: Duration,
    /// The weight of each target, parallel to `targets` (default 1; 1 to 100).
    pub weights: Vec<u32>,
    /// How a target is chosen (`balance`, default round robin).
    pub balance: Balance,
    /// `health.active`: periodic HTTP checks, off unless given.
    pub active_health: Option<ActiveHealth>,
    /// `health.passive`: outlier detection on live traffic, off unless given.
    pub passive_health: Option<PassiveHealth>,
    /// `panic-mode`: when no target is healthy, use them all instead of answering 503.
    pub panic_mode: bool,
    /// `limits`: the circuit breaker's thresholds (each off unless given).
    pub limits: UpstreamLimits,
    /// `retry-budget`: how many retries the upstream takes on top of its active requests.
    pub retry_budget: RetryBudget,
    /// `protocol`: the HTTP version spoken to the targets (default HTTP/1.1).
    pub protocol: UpstreamProtocol,
    /// `tls`: connect to the targets over TLS (off unless given).
    pub tls: Option<UpstreamTls>,
    /// Where the section's name is in the manifest.
    pub span: Range<usize>,
}

/// `protocol`: the HTTP version an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (default), over TLS with ALPN `http/1.1`.
    #[default]
    Http1,
    /// HTTP/2: with prior knowledge (h2c) in plain text, ALPN `h2` over TLS. gRPC needs it.
    Http2,
    /// Over TLS, whichever of `h2` and `http/1.1` the target chooses by ALPN.
    Auto,
}

/// An upstream's `tls` table (see `docs/tls.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `ca`: the CA certificates (PEM) that targets' certificates must chain to; the system's
    /// roots when absent.
    pub ca: Option<PathBuf>,
    /// `server-name`: the name sent as SNI and verified in the certificate; the target's host
    /// when absent.
    pub server_name: Option<String>,
    /// `cert` and `key`: the gateway's client certificate, for targets that require mTLS.
    pub client_certificate: Option<CertificateSpec>,
    /// Where the `tls` table is in the manifest.
    pub span: Range<usize>,
    /// Where `ca` is written, when it is.
    pub ca_span: Range<usize>,
}

/// `balance` (and `hash-on`): how an upstream chooses a target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// In turn (default).
    #[default]
    RoundRobin,
    /// Smooth weighted round robin (nginx's algorithm) on the targets' `weight`.
    Weighted,
    /// The less busy of two targets drawn at random (power of two choices).
    LeastRequest,
    /// Uniformly at random.
    Random,
    /// A ring hash of a request key; round robin when the key is absent.
    ConsistentHash(HashOn),
}

/// `hash-on`: the request key of consistent hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// A header's value (`{ header = "x-user" }`).
    Header(http::HeaderName),
    /// A cookie's value (`{ cookie = "session" }`).
    Cookie(String),
    /// The client's IP address (`"client-ip"`).
    ClientIp,
}

/// `health.active`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveHealth {
    /// The path requested with `GET` (default `/healthz`); 2xx is healthy.
    pub path: String,
    /// Time between checks of one target (default 5s).
    pub interval: Duration,
    /// Time a check may take (default 1s).
    pub timeout: Duration,
    /// Consecutive successes that bring a target back (default 2).
    pub healthy_threshold: u32,
    /// Consecutive failures that take a target out (default 3).
    pub unhealthy_threshold: u32,
}

/// `health.passive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveHealth {
    /// Consecutive connect failures or 5xx answers that eject a target (default 5).
    pub consecutive_failures: u32,
    /// The first ejection's length; each further one doubles it (default 30s).
    pub base_ejection: Duration,
    /// The longest ejection (default 300s, at least `base-ejection`).
    pub max_ejection: Duration,
    /// The most targets ejected at once, in percent (default 50; one target may always go).
    pub max_ejection_percent: u32,
}

/// `limits`: the circuit breaker of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamLimits {
    /// Most open connections to all targets together.
    pub max_connections: Option<u32>,
    /// Most requests waiting for a connection when `max-connections` are open.
    pub max_pending: Option<u32>,
    /// Most requests in flight at once.
    pub max_requests: Option<u32>,
}

/// `retry-budget`: retries may add at most `percent` of the active requests, or
/// `min-per-second` retries per second, whichever is more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// Percent of active requests (default 20).
    pub percent: u32,
    /// Retries allowed each second whatever the load (default 3).
    pub min_per_second: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            percent: 20,
            min_per_second: 3,
        }
    }
}

/// A route's `retry` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (1 to 10).
    pub attempts: u32,
    /// Retry when no connection could be opened.
    pub on_connect_failure: bool,
    /// Retry when the connection broke before the response headers.
    pub on_reset: bool,
    /// Retry when a try exceeded `try-timeout`.
    pub on_timeout: bool,
    /// Retry on these response statuses.
    pub statuses: Vec<u16>,
    /// The first backoff (default 25ms); doubled each retry, with full jitter.
    pub backoff: Duration,
    /// The longest backoff (default 250ms).
    pub max_backoff: Duration,
    /// Retry non-idempotent methods (POST, PATCH) too (default false).
    pub non_idempotent: bool,
}

/// A `[routes.<id>]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The section's name.
    pub id: String,
    /// What requests it takes.
    pub matcher: RouteMatcher,
    /// Index into [`Manifest::upstreams`].
    pub upstream: usize,
    /// The route's `timeout`, or its upstream's: the total time for all tries.
    pub timeout: Duration,
    /// `try-timeout`: the time one try may take to the response headers (default: `timeout`).
    pub try_timeout: Option<Duration>,
    /// `idle-timeout`: the longest pause in the upstream's response body (default none).
    pub idle_timeout: Option<Duration>,
    /// `retry`: off unless given.
    pub retry: Option<RetryPolicy>,
    /// Its own plugins, in order (after the global ones).
    pub plugins: Vec<PluginSpec>,
    /// Where the route's id is in the manifest.
    pub span: Range<usize>,
}

/// One plugin entry, global or in a route.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// Display name: `name`, else the prebuilt plugin's name, else the file stem.
    pub name: String,
    /// Where the component comes from.
    pub source: PluginSource,
    /// The `config` table as JSON (`{}` when absent).
    pub config: serde_json::Value,
    /// Instance life cycle.
    pub isolation: Isolation,
    /// What a failing plugin does to the request.
    pub failure: FailurePolicy,
    /// Resource limits per instance and call.
    pub limits: Limits,
    /// The whole entry in the manifest.
    /// The files of `config-files`, whose text is in `config`.
    pub files: Vec<PathBuf>,
    pub span: Range<usize>,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// `plugin = "<name>"`: one shipped with the gateway.
    Prebuilt(String),
    /// `wasm = "<path>"`: a component file, resolved to an absolute path.
    File(PathBuf),
}

/// `isolation`: how long a plugin instance lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Reused across requests on a worker, recycled after `max-requests` or a trap (default).
    #[default]
    Reuse,
    /// A fresh instance for every request.
    Request,
}

/// `failure`: what happens to the request when a plugin traps or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The request fails with an error (default).
    #[default]
    FailClosed,
    /// The plugin is skipped and the request goes on.
    FailOpen,
}

/// Resource limits of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes (default 16 MiB; 64 KiB to 1 GiB).
    pub memory_bytes: usize,
    /// CPU time per call (default 50ms).
    pub cpu: Duration,
    /// Requests served by one instance in `reuse` mode before it is recycled (default 10000).
    pub max_requests: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 << 20,
            cpu: Duration::from_millis(50),
            max_requests: 10_000,
        }
    }
}

/// The prebuilt plugins a manifest may name with `plugin = "..."`.
pub trait PluginCatalog {
    /// Whether `name` is a prebuilt plugin.
    fn contains(&self, name: &str) -> bool;
    /// All names, for "did you mean" help; empty if unknown.
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<F: Fn(&str) -> bool> PluginCatalog for F {
    fn contains(&self, name: &str) -> bool {
        self(name)
    }
}

impl PluginCatalog for [&str] {
    fn contains(&self, name: &str) -> bool {
        <[&str]>::contains(self, &name)
    }
    fn names(&self) -> Vec<String> {
        self.iter().map(|n| (*n).to_owned()).collect()
    }
}

impl PluginCatalog for Vec<&str> {
    fn contains(&self, name: &str) -> bool {
        PluginCatalog::contains(self.as_slice(), name)
    }
    fn names(&self) -> Vec<String> {
        self.as_slice().names()
    }
}

impl<const N: usize> PluginCatalog for [&str; N] {
    fn contains(&self, name: &str) -> bool {
        PluginCatalog::contains(&self[..], name)
    }
    fn names(&self) -> Vec<String> {
        self[..].names()
    }
}

/// The largest manifest read: 4 MiB, a hundred times a manifest of a thousand routes. A file
/// beyond it is a mistake (a log or a binary named by accident), and parsing and checking one
/// would hold the reload for as long as it takes.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

impl Manifest {
    /// Reads and validates the manifest at `path`; `wasm` paths are relative to its directory.
    pub fn load(path: &Path, plugins: &dyn PluginCatalog) -> Result<Self, Diagnostics> {
        let cannot_read = |message: String, help: &str| {
            Diagnostics::new(
                Source::new(path, ""),
                vec![Diagnostic {
                    message,
                    span: None,
                    help: Some(help.into()),
                }],
            )
        };
        let mut bytes = Vec::new();
        let read = std::fs::File::open(path).and_then(|file| {
            use std::io::Read;
            file.take(MAX_MANIFEST_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        });
        if let Err(e) = read {
            return Err(cannot_read(
                format!("cannot read the manifest: {e}"),
                "check the path given to portcullis",
            ));
        }
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(cannot_read(
                format!(
                    "the manifest is larger than {} MiB",
                    MAX_MANIFEST_BYTES >> 20
                ),
                "check that the path names the manifest; keep large data (consumers, keys, schemas) in `config-files`",
            ));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Self::parse(path, &text, plugins),
            Err(e) => Err(cannot_read(
                format!(
                    "the manifest is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
                "save the file as UTF-8",
            )),
        }
    }

    /// Validates `text`, read from `path` (shown in messages; `wasm` paths are relative to its
    /// directory). Reports every error found, sorted by position.
    pub fn parse(
        path: &Path,
        text: &str,
        plugins: &dyn PluginCatalog,
    ) -> Result<Self, Diagnostics> {
        let source = Source::new(path, text);
        let mut errors = Vec::new();
        if text.len() > MAX_MANIFEST_BYTES {
            errors.push(Diagnostic {
                message: format!(
                    "the manifest is larger than {} MiB",
                    MAX_MANIFEST_BYTES >> 20
                ),
                span: None,
                help: Some("keep large data (consumers, keys, schemas) in `config-files`".into()),
            });
            return Err(Diagnostics::new(source, errors));
        }
        let (doc, syntax) = toml::de::DeTable::parse_recoverable(text);
        for error in syntax {
            errors.push(Diagnostic {
                message: format!("invalid TOML: {}", error.message().trim()),
                span: error.span(),
                help: Some(syntax_help(error.message())),
            });
        }
        if !errors.is_empty() {
            // What was recovered is incomplete; checking it would report errors that are not there.
            return Err(Diagnostics::new(source, errors));
        }
        let raw = raw::split(doc.into_inner(), &mut errors);
        let base = path.parent().unwrap_or(Path::new(""));
        let manifest = validate::manifest(raw, source.clone(), base, plugins, &mut errors);
        match manifest {
            Some(manifest) if errors.is_empty() => Ok(manifest),
            _ => Err(Diagnostics::new(source, errors)),
        }
    }

    /// The route with id `id`.
    pub fn route(&self, id: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.id == id)
    }
}

fn syntax_help(message: &str) -> String {
    if message.contains("unclosed") {
        "close it where it should end".into()
    } else if message.contains("invalid") || message.contains("unquoted") {
        "put text values in double quotes, e.g. `address = \"127.0.0.1:8080\"`".into()
    } else if message.contains("duplicate key") {
        "each key may appear once per table; remove or rename one of them".into()
    } else {
        "fix the TOML syntax here (see https://toml.io)".into()
    }
}

#[cfg(test)]
mod tests;
