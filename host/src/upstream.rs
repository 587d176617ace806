//! Upstreams: named groups of targets, each with a pooled keep-alive client, and the choice of a
//! target for each request (round robin for now; `balance/` will hold one file per algorithm).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::uri::Authority;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::proxy::body::ProxyBody;

/// How long an idle upstream connection stays in the pool.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per target.
const POOL_MAX_IDLE_PER_TARGET: usize = 256;

/// The pooled HTTP client of one upstream.
pub type UpstreamClient = Client<HttpConnector, ProxyBody>;

/// A group of interchangeable targets, as configured in the manifest.
pub struct Upstream {
    name: String,
    targets: Vec<Authority>,
    next: AtomicUsize,
    client: UpstreamClient,
    timeout: Duration,
}

/// A target that is not a valid `host:port`.
#[derive(Debug, thiserror::Error)]
#[error("upstream `{upstream}`: target `{target}` is not a valid host:port ({reason})")]
pub struct BadTarget {
    upstream: String,
    target: String,
    reason: String,
}

impl Upstream {
    /// An upstream over `targets` (`host:port`), connecting within `connect_timeout`, with
    /// `timeout` as the default time to wait for a response.
    pub fn new(
        name: &str,
        targets: &[String],
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, BadTarget> {
        let targets = targets
            .iter()
            .map(|t| {
                t.parse::<Authority>().map_err(|e| BadTarget {
                    upstream: name.to_owned(),
                    target: t.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_TARGET)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            name: name.to_owned(),
            targets,
            next: AtomicUsize::new(0),
            client,
            timeout,
        })
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its targets.
    pub fn targets(&self) -> &[Authority] {
        &self.targets
    }

    /// The default time to wait for a response.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The next target, round robin.
    pub fn pick(&self) -> Option<&Authority> {
        if self.targets.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.targets.get(n % self.targets.len())
    }

    /// The pooled client.
    pub fn client(&self) -> &UpstreamClient {
        &self.client
    }
}
