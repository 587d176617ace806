//! Upstreams: named groups of targets, each with a pooled keep-alive client, a balancer
//! (`balance/`, one file per algorithm), target health (`health`) and a circuit breaker and
//! retry budget (`breaker`).

pub mod balance;
pub mod breaker;
pub mod client;
pub mod connect;
pub mod health;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use http::uri::Authority;

use crate::config::{
    self, ActiveHealth, Balance, Diagnostic, HashOn, PassiveHealth, UpstreamProtocol,
};
use crate::observe::access_log::Tried;
use balance::{Balancer, hash_bytes};
use breaker::{Breaker, Budget, InFlight};
use health::{AbortOnDrop, TargetHealth};

pub use client::{ClientError, UpstreamBody, UpstreamClient};

/// A group of interchangeable targets, as configured in the manifest.
pub struct Upstream {
    name: Arc<str>,
    targets: Vec<Authority>,
    /// Each target's address as text, shared with the access lines that name it.
    target_labels: Vec<Arc<str>>,
    health: Vec<TargetHealth>,
    in_flight: Vec<Arc<AtomicU32>>,
    balancer: Balancer,
    hash_on: Option<HashOn>,
    active_health: Option<ActiveHealth>,
    passive_health: Option<PassiveHealth>,
    panic_mode: bool,
    breaker: Breaker,
    budget: Budget,
    clock: Instant,
    client: UpstreamClient,
    scheme: http::uri::Scheme,
    protocol: UpstreamProtocol,
    /// Opens the active checks' connections: the same TLS, no cap.
    check_connector: connect::Connector,
    /// What it was built from (see [`Upstream::fingerprint`]).
    fingerprint: u64,
    timeout: Duration,
    checker: OnceLock<AbortOnDrop>,
}

/// One target's health as the admin API shows it.
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    /// `host:port`.
    pub address: &'a str,
    /// Whether it may receive requests now (active checks pass and not ejected).
    pub usable: bool,
    /// What active checks say; `None` without active checks.
    pub checks_pass: Option<bool>,
    /// Whether passive health has ejected it now; `None` without passive health.
    pub ejected: Option<bool>,
    /// Passive ejections in a row.
    pub ejections: u32,
    /// Requests in flight to it.
    pub in_flight: u32,
}

/// Why no target could be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTarget {
    /// The upstream has no target at all.
    Empty,
    /// Every target is unhealthy or ejected (and `panic-mode` is off).
    NoneHealthy,
}

impl Upstream {
    /// The upstream `spec` describes. Active health checks start with [`Upstream::start`].
    /// Errors (a TLS file that cannot be used, say) point at the manifest.
    pub fn new(spec: &config::Upstream) -> Result<Self, Vec<Diagnostic>> {
        Self::build(spec, Self::fingerprint(spec))
    }

    /// For a reload: `previous` itself when it was built from the same configuration and TLS
    /// files (its connection pool, health and counts carry over), else a new upstream with its
    /// active checks started.
    pub fn reuse_or_new(
        spec: &config::Upstream,
        previous: Option<&Arc<Self>>,
    ) -> Result<Arc<Self>, Vec<Diagnostic>> {
        let fingerprint = Self::fingerprint(spec);
        if let Some(previous) = previous.filter(|p| p.fingerprint == fingerprint) {
            return Ok(previous.clone());
        }
        let upstream = Arc::new(Self::build(spec, fingerprint)?);
        upstream.start();
        Ok(upstream)
    }

    fn build(spec: &config::Upstream, fingerprint: u64) -> Result<Self, Vec<Diagnostic>> {
        let name = &spec.name;
        let targets = spec
            .targets
            .iter()
            .map(|t| {
                t.parse::<Authority>().map_err(|e| {
                    vec![Diagnostic::new(
                        spec.span.clone(),
                        format!("upstream `{name}`: target `{t}` is not a valid host:port ({e})"),
                        "write `host:port`, e.g. \"10.0.0.5:8080\"",
                    )]
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let weighted: Vec<(&str, u32)> = spec
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), spec.weights.get(i).copied().unwrap_or(1)))
            .collect();
        let tls = match &spec.tls {
            Some(tls) => Some((
                crate::tls::client::config(name, tls, spec.protocol)?,
                tls.server_name.clone(),
            )),
            None => None,
        };
        let check_connector = connect::Connector::new(spec.connect_timeout, tls.clone(), None);
        let connector =
            connect::Connector::new(spec.connect_timeout, tls, spec.limits.max_connections);
        let scheme = connector.scheme();
        let client = UpstreamClient::new(connector, spec.protocol, targets.len());
        // Over HTTP/1.1 each request in flight holds a connection of its own, so beyond
        // `max-connections` requests wait for one, and beyond `max-pending` waiting ones the
        // breaker answers at once. (Over HTTP/2 requests share connections.)
        let limits = &spec.limits;
        let queue = match (spec.protocol, limits.max_connections, limits.max_pending) {
            (UpstreamProtocol::Http1, Some(connections), Some(pending)) => {
                Some(connections.saturating_add(pending))
            }
            _ => None,
        };
        let max_requests = [limits.max_requests, queue].into_iter().flatten().min();
        let hash_on = match &spec.balance {
            Balance::ConsistentHash(on) => Some(on.clone()),
            _ => None,
        };
        Ok(Self {
            name: name.as_str().into(),
            target_labels: targets.iter().map(|t| t.as_str().into()).collect(),
            health: targets.iter().map(|_| TargetHealth::default()).collect(),
            in_flight: targets.iter().map(|_| Arc::default()).collect(),
            balancer: Balancer::new(&spec.balance, &weighted),
            targets,
            hash_on,
            active_health: spec.active_health.clone(),
            passive_health: spec.passive_health.clone(),
            panic_mode: spec.panic_mode,
            breaker: Breaker::new(max_requests),
            budget: Budget::new(spec.retry_budget),
            clock: Instant::now(),
            client,
            scheme,
            protocol: spec.protocol,
            check_connector,
            fingerprint,
            timeout: spec.timeout,
            checker: OnceLock::new(),
        })
    }

    /// A digest of everything an upstream is built from: its configuration (wherever it sits
    /// in the manifest) and the contents of its TLS files. Equal digests mean a reload can keep
    /// the upstream as it is.
    fn fingerprint(spec: &config::Upstream) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut spec = spec.clone();
        spec.span = 0..0;
        let mut files = Vec::new();
        if let Some(tls) = &mut spec.tls {
            tls.span = 0..0;
            tls.ca_span = 0..0;
            files.extend(tls.ca.clone());
            if let Some(identity) = &mut tls.client_certificate {
                identity.cert_span = 0..0;
                identity.key_span = 0..0;
                files.push(identity.cert.clone());
                files.push(identity.key.clone());
            }
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{spec:?}").hash(&mut hasher);
        for file in files {
            std::fs::read(&file).ok().hash(&mut hasher);
        }
        hasher.finish()
    }

    /// Starts the active health checks, if configured: one task, which ends when the upstream
    /// is dropped (it holds a `Weak`, and the upstream aborts it on drop).
    pub fn start(self: &Arc<Self>) {
        let Some(config) = self.active_health.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let task = runtime.spawn(health::run_checks(
            Arc::downgrade(self),
            config,
            self.check_connector.clone(),
            self.protocol == UpstreamProtocol::Http2,
        ));
        let _ = self.checker.set(AbortOnDrop(task));
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

    /// The pooled client.
    pub fn client(&self) -> &UpstreamClient {
        &self.client
    }

    /// `https` when the upstream speaks TLS, else `http`.
    pub fn scheme(&self) -> &http::uri::Scheme {
        &self.scheme
    }

    /// The HTTP version spoken to the targets.
    pub fn protocol(&self) -> UpstreamProtocol {
        self.protocol
    }

    /// Milliseconds on the upstream's clock (never 0).
    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64 + 1
    }

    /// The request's consistent-hash key, when the upstream hashes and the key is present.
    pub fn hash_key(&self, headers: &HeaderMap, client: IpAddr) -> Option<u64> {
        match self.hash_on.as_ref()? {
            HashOn::Header(name) => headers.get(name).map(|v| hash_bytes(v.as_bytes())),
            HashOn::Cookie(name) => headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| hash_bytes(v.as_bytes())),
            HashOn::ClientIp => Some(match client {
                IpAddr::V4(ip) => hash_bytes(&ip.octets()),
                IpAddr::V6(ip) => hash_bytes(&ip.octets()),
            }),
        }
    }

    /// A target for a request: a healthy one not in `tried` (a bit per index) if possible, else
    /// a healthy one, else any one in panic mode; never one in `refused` (targets that refused
    /// this request's connection: trying them again would fail the same way).
    pub fn pick(&self, key: Option<u64>, tried: u64, refused: u64) -> Result<usize, NoTarget> {
        let n = self.targets.len();
        if n == 0 {
            return Err(NoTarget::Empty);
        }
        let now = self.now();
        let load = |i: usize| {
            self.in_flight
                .get(i)
                .map_or(0, |c| c.load(Ordering::Relaxed))
        };
        let allowed = |i: usize| i >= 64 || refused & (1 << i) == 0;
        let healthy = |i: usize| allowed(i) && self.health.get(i).is_some_and(|h| h.usable(now));
        let untried = |i: usize| allowed(i) && (i >= 64 || tried & (1 << i) == 0);
        if tried != 0
            && let Some(i) = self
                .balancer
                .pick(n, key, load, |i| healthy(i) && untried(i))
        {
            return Ok(i);
        }
        if let Some(i) = self.balancer.pick(n, key, load, healthy) {
            return Ok(i);
        }
        if self.panic_mode {
            return self
                .balancer
                .pick(n, key, load, untried)
                .or_else(|| self.balancer.pick(n, key, load, allowed))
                .ok_or(NoTarget::NoneHealthy);
        }
        Err(NoTarget::NoneHealthy)
    }

    /// Whether each target may receive requests now (active checks pass and not ejected), in
    /// target order.
    pub fn health_now(&self) -> impl Iterator<Item = bool> + '_ {
        let now = self.now();
        self.health.iter().map(move |h| h.usable(now))
    }

    /// Each target's health in detail, in target order, for the admin API.
    pub fn target_views(&self) -> impl Iterator<Item = TargetView<'_>> + '_ {
        let now = self.now();
        let active = self.active_health.is_some();
        let passive = self.passive_health.is_some();
        self.targets
            .iter()
            .zip(&self.health)
            .zip(&self.in_flight)
            .map(move |((target, health), in_flight)| TargetView {
                address: target.as_str(),
                usable: health.usable(now),
                checks_pass: active.then(|| health.checks_pass()),
                ejected: passive.then(|| health.ejected(now)),
                ejections: health.ejections(),
                in_flight: in_flight.load(std::sync::atomic::Ordering::Relaxed),
            })
    }

    /// `max-requests`: the breaker opens when this many requests are in flight.
    pub fn max_requests(&self) -> Option<u32> {
        self.breaker.max_requests()
    }

    /// The authority of target `index`.
    pub fn target(&self, index: usize) -> Option<&Authority> {
        self.targets.get(index)
    }

    /// The upstream and target `index` by name, as access lines show them.
    pub fn tried(&self, index: usize) -> Option<Tried> {
        self.target_labels.get(index).map(|target| Tried {
            upstream: self.name.clone(),
            target: target.clone(),
        })
    }

    /// Counts a request to target `index` until the guard drops (for least-request).
    pub fn begin(&self, index: usize) -> Option<InFlight> {
        self.in_flight.get(index).map(InFlight::enter)
    }

    /// Records a try's outcome on target `index` for passive health.
    pub fn record(&self, index: usize, failed: bool) {
        let Some(config) = &self.passive_health else {
            return;
        };
        if let Some(time) = health::record_outcome(&self.health, index, failed, config, self.now())
        {
            tracing::warn!(
                upstream = %self.name,
                target = %self.targets.get(index).map_or("?", Authority::as_str),
                ejected_for = ?time,
                "target ejected after consecutive failures"
            );
        }
    }

    fn record_check(&self, index: usize, passed: bool, config: &ActiveHealth) {
        let Some(health) = self.health.get(index) else {
            return;
        };
        if let Some(up) = health.record_check(passed, config) {
            let target = self.targets.get(index).map_or("?", Authority::as_str);
            if up {
                tracing::info!(upstream = %self.name, target, "target healthy again");
            } else {
                tracing::warn!(upstream = %self.name, target, "target failed its health checks");
            }
        }
    }

    /// Requests in flight now (admitted by the breaker, until their response body ends).
    pub fn active(&self) -> u32 {
        self.breaker.active()
    }

    /// Admits a request under `max-requests`, or `None` when the breaker is open.
    pub fn enter(&self) -> Option<InFlight> {
        self.breaker.enter()
    }

    /// A retry within the budget, held while it runs; `None` when spent.
    pub fn try_retry(&self) -> Option<InFlight> {
        self.budget
            .try_retry(self.breaker.active(), self.clock.elapsed().as_secs())
    }
}

#[cfg(test)]
mod tests;
