//! An upstream's choice of target under health: ejected targets skipped, 503 when none is
//! left, panic mode using them all, retries preferring untried targets and never a
//! target that refused the request.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;
use crate::config::{PassiveHealth, RetryBudget, UpstreamLimits};

fn spec(panic_mode: bool) -> config::Upstream {
    config::Upstream {
        name: "pool".into(),
        targets: vec!["10.0.0.1:80".into(), "10.0.0.2:80".into()],
        weights: vec![1, 1],
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        balance: Balance::RoundRobin,
        active_health: None,
        passive_health: Some(PassiveHealth {
            consecutive_failures: 1,
            base_ejection: Duration::from_secs(60),
            max_ejection: Duration::from_secs(60),
            max_ejection_percent: 100,
        }),
        panic_mode,
        limits: UpstreamLimits::default(),
        retry_budget: RetryBudget::default(),
        protocol: config::UpstreamProtocol::Http1,
        tls: None,
        span: 0..0,
    }
}

#[tokio::test]
async fn ejected_targets_are_skipped_and_none_left_is_no_healthy_target() {
    let upstream = Upstream::new(&spec(false)).unwrap();
    assert_eq!(
        upstream.pick(None, 0b01, 0),
        Ok(1),
        "a retry prefers an untried target"
    );
    upstream.record(0, true);
    assert!((0..4).all(|_| upstream.pick(None, 0, 0) == Ok(1)));
    assert_eq!(
        upstream.pick(None, 0b10, 0),
        Ok(1),
        "tried, but the only healthy one"
    );
    upstream.record(1, true);
    assert_eq!(upstream.pick(None, 0, 0), Err(NoTarget::NoneHealthy));
}

#[tokio::test]
async fn panic_mode_uses_every_target_when_none_is_healthy() {
    let upstream = Upstream::new(&spec(true)).unwrap();
    upstream.record(0, true);
    upstream.record(1, true);
    assert!(upstream.pick(None, 0, 0).is_ok());
    assert!(upstream.pick(None, 0b11, 0).is_ok());
}

#[tokio::test]
async fn a_target_that_refused_the_request_is_never_picked_for_it_again() {
    let upstream = Upstream::new(&spec(true)).unwrap();
    // Target 0 refused: every pick is 1, tried or not, healthy or in panic mode.
    assert!((0..4).all(|_| upstream.pick(None, 0b11, 0b01) == Ok(1)));
    upstream.record(1, true);
    upstream.record(0, true);
    assert!((0..4).all(|_| upstream.pick(None, 0b11, 0b01) == Ok(1)));
    // Both refused: nothing is left to try.
    assert_eq!(upstream.pick(None, 0b11, 0b11), Err(NoTarget::NoneHealthy));
}
