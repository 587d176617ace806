//! Target health through real sockets: passive ejection and its end, active checks taking a
//! target out and bringing it back, 503 at once when nothing is healthy, and panic mode.

use std::time::{Duration, Instant};

use portcullis_tests::{EchoUpstream, TestGateway};

use crate::flaky::{Flaky, free_port};

fn manifest(targets: &[String], extra: &str) -> String {
    portcullis_tests::manifest::pool(targets, extra, "")
}

/// Polls until `check` holds for a whole batch of 10 requests, for at most `limit`.
async fn eventually(
    gateway: &TestGateway,
    limit: Duration,
    check: impl Fn(u16, Option<&str>) -> bool,
) {
    let client = gateway.client();
    let deadline = Instant::now() + limit;
    loop {
        let mut all = true;
        for _ in 0..10 {
            let r = client.get("/x").await;
            all &= check(r.status.as_u16(), r.header("x-upstream"));
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn consecutive_failures_eject_a_target_until_its_ejection_time_ends() {
    let alive = EchoUpstream::start("alive").await;
    let dead = free_port();
    let extra = r#"health.passive = { consecutive-failures = 2, base-ejection = "1s" }"#;
    let gateway =
        TestGateway::start(&manifest(&[alive.authority(), dead.to_string()], extra)).await;
    let client = gateway.client();

    // Round robin: the dead target fails twice (502), then is ejected.
    let mut failures = 0;
    for _ in 0..4 {
        if client.get("/x").await.status == 502 {
            failures += 1;
        }
    }
    assert_eq!(failures, 2);
    for _ in 0..10 {
        let r = client.get("/x").await;
        assert_eq!(
            (r.status.as_u16(), r.header("x-upstream")),
            (200, Some("alive"))
        );
    }
    // The target comes back on the same port; once the ejection ends it serves again.
    let _back = Flaky::start_on("back", dead).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        let r = client.get("/x").await;
        assert_eq!(r.status, 200);
        seen.insert(r.header("x-upstream").unwrap_or_default().to_owned());
    }
    assert!(seen.contains("back"), "{seen:?}");
}

#[tokio::test]
async fn active_checks_take_a_failing_target_out_and_bring_it_back() {
    let good = Flaky::start("good").await;
    let flaky = Flaky::start("flaky").await;
    let extra = r#"health.active = { path = "/healthz", interval = "100ms", timeout = "500ms", healthy-threshold = 2, unhealthy-threshold = 2 }"#;
    let gateway =
        TestGateway::start(&manifest(&[good.authority(), flaky.authority()], extra)).await;

    flaky.set_healthy(false);
    eventually(&gateway, Duration::from_secs(5), |s, u| {
        s == 200 && u == Some("good")
    })
    .await;

    flaky.set_healthy(true);
    let client = gateway.client();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = client.get("/x").await;
        assert_eq!(r.status, 200);
        if r.header("x-upstream") == Some("flaky") {
            break;
        }
        assert!(Instant::now() < deadline, "the target did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stopped_target_fails_its_checks_and_is_skipped() {
    let good = Flaky::start("good").await;
    let doomed = Flaky::start("doomed").await;
    let extra =
        r#"health.active = { interval = "100ms", timeout = "300ms", unhealthy-threshold = 1 }"#;
    let gateway =
        TestGateway::start(&manifest(&[good.authority(), doomed.authority()], extra)).await;
    drop(doomed);
    eventually(&gateway, Duration::from_secs(5), |s, u| {
        s == 200 && u == Some("good")
    })
    .await;
}

#[tokio::test]
async fn no_healthy_target_is_a_fast_503_and_panic_mode_uses_them_all() {
    let sick = EchoUpstream::start("sick").await;
    let check =
        r#"health.active = { path = "/status/503", interval = "100ms", unhealthy-threshold = 1 }"#;
    let gateway = TestGateway::start(&manifest(&[sick.authority()], check)).await;
    eventually(&gateway, Duration::from_secs(5), |s, _| s == 503).await;
    let started = Instant::now();
    let r = gateway.client().get("/x").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "no_healthy_upstream");

    let panic = format!("{check}\npanic-mode = true");
    let gateway = TestGateway::start(&manifest(&[sick.authority()], &panic)).await;
    // Give the checks time to mark the target down; panic mode still serves.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..5 {
        let r = gateway.client().get("/x").await;
        assert_eq!(r.status, 200);
    }
}
