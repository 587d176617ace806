//! Target health: active checks (a background task per upstream, `GET <path>` on every target
//! each interval) and passive outlier detection (consecutive connect failures or 5xx answers
//! eject a target for a time that doubles with each ejection, up to a cap). All state is atomics.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Authority;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::connect::Connector;

use crate::config::{ActiveHealth, PassiveHealth};

/// The health of one target.
#[derive(Debug)]
pub struct TargetHealth {
    /// What active checks say (true until they say otherwise).
    up: AtomicBool,
    checks_passed: AtomicU32,
    checks_failed: AtomicU32,
    /// Passive: consecutive failures of live requests.
    failures: AtomicU32,
    /// Passive: ejected until this time (ms on the upstream's clock); 0 when never ejected.
    ejected_until: AtomicU64,
    ejections: AtomicU32,
}

impl Default for TargetHealth {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(true),
            checks_passed: AtomicU32::new(0),
            checks_failed: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
        }
    }
}

impl TargetHealth {
    /// Whether requests may go to this target at `now` (ms).
    pub fn usable(&self, now: u64) -> bool {
        self.up.load(Ordering::Relaxed) && !self.ejected(now)
    }

    /// What active checks say now (`true` until they fail).
    pub fn checks_pass(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Passive ejections in a row (reset after a healthy base time).
    pub fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Whether passive health has ejected this target at `now` (ms).
    pub fn ejected(&self, now: u64) -> bool {
        now < self.ejected_until.load(Ordering::Relaxed)
    }

    /// Records an active check; returns the new state when it changed.
    pub fn record_check(&self, passed: bool, config: &ActiveHealth) -> Option<bool> {
        if passed {
            self.checks_failed.store(0, Ordering::Relaxed);
            let n = self.checks_passed.fetch_add(1, Ordering::Relaxed) + 1;
            (n >= config.healthy_threshold && !self.up.swap(true, Ordering::Relaxed))
                .then_some(true)
        } else {
            self.checks_passed.store(0, Ordering::Relaxed);
            let n = self.checks_failed.fetch_add(1, Ordering::Relaxed) + 1;
            (n >= config.unhealthy_threshold && self.up.swap(false, Ordering::Relaxed))
                .then_some(false)
        }
    }
}

/// Records a live request's outcome on `targets[index]` for passive outlier detection; returns
/// the ejection time when the target was ejected.
pub fn record_outcome(
    targets: &[TargetHealth],
    index: usize,
    failed: bool,
    config: &PassiveHealth,
    now: u64,
) -> Option<Duration> {
    let target = targets.get(index)?;
    if !failed {
        if target.failures.load(Ordering::Relaxed) != 0 {
            target.failures.store(0, Ordering::Relaxed);
        }
        // A target healthy for a base time after its last ejection starts afresh.
        let until = target.ejected_until.load(Ordering::Relaxed);
        let base = config.base_ejection.as_millis() as u64;
        if until != 0 && now > until.saturating_add(base) {
            target.ejections.store(0, Ordering::Relaxed);
        }
        return None;
    }
    let failures = target.failures.fetch_add(1, Ordering::Relaxed) + 1;
    if failures < config.consecutive_failures || target.ejected(now) {
        return None;
    }
    let ejected = targets.iter().filter(|t| t.ejected(now)).count();
    let allowed =
        ejected == 0 || (ejected + 1) * 100 <= targets.len() * config.max_ejection_percent as usize;
    if !allowed {
        return None;
    }
    let k = target.ejections.fetch_add(1, Ordering::Relaxed).min(16);
    let time = config
        .base_ejection
        .saturating_mul(1 << k)
        .min(config.max_ejection);
    target.ejected_until.store(
        now.saturating_add(time.as_millis() as u64).max(1),
        Ordering::Relaxed,
    );
    target.failures.store(0, Ordering::Relaxed);
    Some(time)
}

/// Aborts the task when dropped, so a dropped upstream leaves no check running.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The active checker of one upstream: runs while the upstream lives (it holds only a `Weak`),
/// and is aborted when the upstream is dropped.
/// Checks speak the upstream's protocol, over TLS when it does, outside `max-connections`.
pub async fn run_checks(
    upstream: Weak<super::Upstream>,
    config: ActiveHealth,
    connector: Connector,
    http2: bool,
) {
    let scheme = connector.scheme();
    // No pooling: every check opens its own connection, so a check also tests that the target
    // still accepts connections.
    let client: Client<Connector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .http2_only(http2)
        .build(connector);
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let targets: Vec<Authority> = match upstream.upgrade() {
            Some(upstream) => upstream.targets().to_vec(),
            None => return,
        };
        let mut checks = tokio::task::JoinSet::new();
        for (index, target) in targets.into_iter().enumerate() {
            let client = client.clone();
            let path = config.path.clone();
            let scheme = scheme.clone();
            let timeout = config.timeout;
            checks.spawn(async move {
                let passed = check(&client, &scheme, &target, &path, timeout).await;
                (index, passed)
            });
        }
        while let Some(result) = checks.join_next().await {
            let Ok((index, passed)) = result else {
                continue;
            };
            let Some(upstream) = upstream.upgrade() else {
                return;
            };
            upstream.record_check(index, passed, &config);
        }
    }
}

async fn check(
    client: &Client<Connector, Empty<Bytes>>,
    scheme: &http::uri::Scheme,
    target: &Authority,
    path: &str,
    timeout: Duration,
) -> bool {
    let Ok(request) = http::Request::get(format!("{scheme}://{target}{path}"))
        .header(http::header::USER_AGENT, "portcullis-health-check")
        .body(Empty::new())
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(timeout, client.request(request)).await,
        Ok(Ok(response)) if response.status().is_success()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passive() -> PassiveHealth {
        PassiveHealth {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(25),
            max_ejection_percent: 50,
        }
    }

    #[test]
    fn consecutive_failures_eject_for_a_growing_capped_time() {
        let targets: Vec<TargetHealth> = (0..2).map(|_| TargetHealth::default()).collect();
        let c = passive();
        assert_eq!(record_outcome(&targets, 0, true, &c, 1), None);
        assert_eq!(record_outcome(&targets, 0, false, &c, 1), None);
        assert_eq!(record_outcome(&targets, 0, true, &c, 1), None);
        assert_eq!(record_outcome(&targets, 0, true, &c, 1), None);
        assert_eq!(
            record_outcome(&targets, 0, true, &c, 1),
            Some(Duration::from_secs(10))
        );
        assert!(!targets[0].usable(5_000) && targets[0].usable(10_001));
        // Half the targets are out: the other one stays in whatever it does.
        for _ in 0..5 {
            assert_eq!(record_outcome(&targets, 1, true, &c, 5_000), None);
        }
        assert!(targets[1].usable(5_000));
        // Back, failing again at once: 20s, then capped at 25s.
        for _ in 0..2 {
            record_outcome(&targets, 0, true, &c, 11_000);
        }
        assert_eq!(
            record_outcome(&targets, 0, true, &c, 11_000),
            Some(Duration::from_secs(20))
        );
        for _ in 0..2 {
            record_outcome(&targets, 0, true, &c, 40_000);
        }
        assert_eq!(
            record_outcome(&targets, 0, true, &c, 40_000),
            Some(Duration::from_secs(25))
        );
    }

    #[test]
    fn active_checks_flip_state_at_their_thresholds() {
        let t = TargetHealth::default();
        let c = ActiveHealth {
            path: "/healthz".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        assert_eq!(t.record_check(false, &c), None);
        assert_eq!(t.record_check(false, &c), None);
        assert_eq!(t.record_check(false, &c), Some(false));
        assert!(!t.usable(0));
        assert_eq!(t.record_check(true, &c), None);
        assert_eq!(t.record_check(true, &c), Some(true));
        assert!(t.usable(0));
    }
}
