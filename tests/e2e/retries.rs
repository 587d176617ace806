//! Retries and circuit breaking through real sockets: a target killed under load costs GET
//! clients nothing, non-idempotent requests are not retried unless allowed, retried statuses,
//! and `max-requests` answering 503 with `Retry-After` at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use portcullis_tests::manifest::pool as manifest;
use portcullis_tests::{EchoUpstream, TestGateway};

use crate::flaky::{Flaky, free_port};

const RETRY: &str = r#"retry = { attempts = 2, on = ["connect-failure", "reset", 502, 503], backoff = "5ms", max-backoff = "50ms" }"#;

#[tokio::test]
async fn a_target_killed_under_load_costs_get_clients_nothing() {
    let a = Flaky::start("a").await;
    let b = Flaky::start("b").await;
    let c = Flaky::start("c").await;
    let passive = r#"health.passive = { consecutive-failures = 3, base-ejection = "5s" }"#;
    let gateway = TestGateway::start(&manifest(
        &[a.authority(), b.authority(), c.authority()],
        passive,
        RETRY,
    ))
    .await;
    let errors = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Instant::now() + Duration::from_secs(2);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = gateway.client();
            let (errors, served) = (errors.clone(), served.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    let r = client.get("/work").await;
                    if r.status == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(b); // every connection to `b` closes, and it accepts no more
    for t in tasks {
        t.await.expect("a load task");
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert!(served.load(Ordering::Relaxed) > 100);
}

/// The upstream and route of docs/retries-and-timeouts.md, as written there.
const DOCUMENTED_UPSTREAM: &str = r#"connect-timeout = "2s"
retry-budget = { percent = 20, min-per-second = 3 }"#;
const DOCUMENTED_ROUTE: &str = r#"timeout = "10s"
try-timeout = "2s"
retry = { attempts = 2, on = ["connect-failure", "reset", 503], backoff = "25ms", max-backoff = "250ms", non-idempotent = false }"#;

#[tokio::test]
async fn with_the_documented_retries_one_of_two_targets_killed_midway_fails_no_get() {
    const CLIENTS: usize = 4;
    const EACH: usize = 100;
    let a = Flaky::start("a").await;
    let b = Flaky::start("b").await;
    let targets = [a.authority(), b.authority()];
    let gateway =
        TestGateway::start(&manifest(&targets, DOCUMENTED_UPSTREAM, DOCUMENTED_ROUTE)).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = gateway.client();
            let (sent, failed) = (sent.clone(), failed.clone());
            tokio::spawn(async move {
                for _ in 0..EACH {
                    let r = client.get("/work").await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if r.status != 200 {
                        failed.lock().expect("a lock").push(r.text());
                    }
                }
            })
        })
        .collect();
    while sent.load(Ordering::Relaxed) < CLIENTS * EACH / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(b); // killed: its connections close, and it refuses new ones
    for client in clients {
        client.await.expect("a client");
    }
    assert_eq!(sent.load(Ordering::Relaxed), CLIENTS * EACH);
    assert_eq!(*failed.lock().expect("a lock"), Vec::<String>::new());
}

#[tokio::test]
async fn a_refused_connection_is_retried_at_once_on_another_target_and_never_on_itself() {
    let alive = EchoUpstream::start("alive").await;
    let dead = free_port().to_string();
    // Backoff so long that a retry after it would outlast the client's patience.
    let route = r#"retry = { attempts = 3, on = ["connect-failure"], backoff = "5s", max-backoff = "5s" }
timeout = "3s""#;
    let gateway = TestGateway::start(&manifest(&[dead, alive.authority()], "", route)).await;
    let started = Instant::now();
    for _ in 0..4 {
        let r = gateway.client().get("/x").await;
        assert_eq!(
            (r.status.as_u16(), r.header("x-upstream")),
            (200, Some("alive"))
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(alive.requests(), 4);

    // With no other target, the dead one is not tried again: one refusal, one answer.
    let lonely = TestGateway::start(&manifest(&[free_port().to_string()], "", route)).await;
    let started = Instant::now();
    let r = lonely.client().get("/x").await;
    assert_eq!(r.status, 502);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn post_is_not_retried_unless_the_route_allows_it() {
    let alive = EchoUpstream::start("alive").await;
    let targets = [alive.authority(), free_port().to_string()];
    let post = |gateway: &TestGateway| {
        let client = gateway.client();
        async move {
            let mut failed = 0;
            for _ in 0..4 {
                let r = client
                    .send(Method::POST, "/orders", &[], Bytes::from_static(b"{}"))
                    .await;
                failed += usize::from(r.status != 200);
            }
            failed
        }
    };
    let gateway = TestGateway::start(&manifest(&targets, "", RETRY)).await;
    assert_eq!(
        post(&gateway).await,
        2,
        "round robin: every other POST hits the dead target"
    );

    let allowed = RETRY.replace("max-backoff", "non-idempotent = true, max-backoff");
    let gateway = TestGateway::start(&manifest(&targets, "", &allowed)).await;
    assert_eq!(post(&gateway).await, 0);
}

#[tokio::test]
async fn chosen_statuses_are_retried_up_to_the_attempts() {
    let ups = [
        EchoUpstream::start("u0").await,
        EchoUpstream::start("u1").await,
        EchoUpstream::start("u2").await,
    ];
    let targets: Vec<String> = ups.iter().map(EchoUpstream::authority).collect();
    let gateway = TestGateway::start(&manifest(&targets, "", RETRY)).await;
    let r = gateway.client().get("/status/503").await;
    assert_eq!(r.status, 503);
    // One try and two retries, each on a different target.
    assert_eq!(
        ups.iter().map(EchoUpstream::requests).collect::<Vec<_>>(),
        [1, 1, 1]
    );
    // 404 is not in `on`: one try.
    let r = gateway.client().get("/status/404").await;
    assert_eq!(r.status, 404);
    assert_eq!(ups.iter().map(EchoUpstream::requests).sum::<usize>(), 4);
}

#[tokio::test]
async fn a_slow_try_is_cut_by_try_timeout_and_retried() {
    let up = EchoUpstream::start("slow").await;
    let route = r#"retry = { attempts = 1, on = ["timeout"] }
try-timeout = "200ms"
timeout = "5s""#;
    let gateway = TestGateway::start(&manifest(&[up.authority()], "", route)).await;
    let started = Instant::now();
    let r = gateway.client().get("/slow/2000").await;
    assert_eq!(r.status, 504);
    assert_eq!(up.requests(), 2);
    assert!(started.elapsed() < Duration::from_millis(1800));
}

#[tokio::test]
async fn over_max_requests_is_an_immediate_503_with_retry_after() {
    let up = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &[up.authority()],
        "limits = { max-requests = 2 }",
        "",
    ))
    .await;
    let client = gateway.client();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/slow/1500").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = client.get("/x").await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"], "upstream_overloaded");
    for b in busy {
        assert_eq!(b.await.expect("a slow request").status, 200);
    }
    assert_eq!(client.get("/x").await.status, 200);
}
