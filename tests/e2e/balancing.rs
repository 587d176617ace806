//! Balancing through real sockets: each algorithm's distribution within a stated tolerance,
//! and consistent hashing keeping a key on one target.

use std::collections::HashMap;

use portcullis_tests::{EchoUpstream, TestGateway};

async fn upstreams(n: usize) -> Vec<EchoUpstream> {
    let mut all = Vec::new();
    for i in 0..n {
        all.push(EchoUpstream::start(&format!("u{i}")).await);
    }
    all
}

fn manifest(targets: &str, extra: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.pool]
targets = [{targets}]
{extra}

[routes.all]
upstream = "pool"
match.path-prefix = "/"
"#
    )
}

fn plain(ups: &[EchoUpstream]) -> String {
    ups.iter()
        .map(|u| format!("\"{}\"", u.authority()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends `n` GETs (with `headers`) and counts the answers by `x-upstream`.
async fn spread(
    gateway: &TestGateway,
    n: usize,
    headers: &[(&str, &str)],
) -> HashMap<String, usize> {
    let client = gateway.client();
    let mut counts = HashMap::new();
    for _ in 0..n {
        let response = client.get_with("/x", headers).await;
        assert_eq!(response.status, 200);
        let name = response
            .header("x-upstream")
            .expect("x-upstream")
            .to_owned();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn within(count: usize, expected: usize, percent: usize) -> bool {
    let tolerance = expected * percent / 100;
    (expected - tolerance..=expected + tolerance).contains(&count)
}

#[tokio::test]
async fn round_robin_gives_each_target_an_equal_share() {
    let ups = upstreams(3).await;
    let gateway = TestGateway::start(&manifest(&plain(&ups), "")).await;
    let counts = spread(&gateway, 300, &[]).await;
    // ±10% of 100 each.
    for name in ["u0", "u1", "u2"] {
        assert!(within(counts[name], 100, 10), "{counts:?}");
    }
}

#[tokio::test]
async fn weighted_one_to_three_over_400_requests_is_100_to_300() {
    let ups = upstreams(2).await;
    let targets = format!(
        "{{ address = \"{}\", weight = 1 }}, {{ address = \"{}\", weight = 3 }}",
        ups[0].authority(),
        ups[1].authority()
    );
    let gateway = TestGateway::start(&manifest(&targets, "balance = \"weighted\"")).await;
    let counts = spread(&gateway, 400, &[]).await;
    // ±10%.
    assert!(within(counts["u0"], 100, 10), "{counts:?}");
    assert!(within(counts["u1"], 300, 10), "{counts:?}");
}

#[tokio::test]
async fn random_and_least_request_spread_sequential_requests_evenly() {
    for balance in ["random", "least-request"] {
        let ups = upstreams(2).await;
        let extra = format!("balance = \"{balance}\"");
        let gateway = TestGateway::start(&manifest(&plain(&ups), &extra)).await;
        let counts = spread(&gateway, 400, &[]).await;
        // 200 each, ±25% (random draws: 5 standard deviations is about ±25%).
        for name in ["u0", "u1"] {
            assert!(
                within(counts.get(name).copied().unwrap_or(0), 200, 25),
                "{balance}: {counts:?}"
            );
        }
    }
}

#[tokio::test]
async fn least_request_avoids_a_target_busy_with_slow_requests() {
    let ups = upstreams(2).await;
    let gateway = TestGateway::start(&manifest(&plain(&ups), "balance = \"least-request\"")).await;
    let client = gateway.client();
    // Four slow requests in flight; the draws put most of them on alternate targets, but
    // whichever target is busier must get fewer of the next quick requests.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/slow/1500").await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let busy = (ups[0].requests(), ups[1].requests());
    let quick = spread(&gateway, 40, &[]).await;
    for s in slow {
        assert_eq!(s.await.expect("slow request").status, 200);
    }
    if busy.0 != busy.1 {
        let (busier, idler) = if busy.0 > busy.1 {
            ("u0", "u1")
        } else {
            ("u1", "u0")
        };
        assert!(
            quick.get(busier).copied().unwrap_or(0) < quick.get(idler).copied().unwrap_or(0),
            "busy {busy:?}, quick {quick:?}"
        );
    }
}

#[tokio::test]
async fn consistent_hashing_keeps_each_user_on_one_target() {
    let ups = upstreams(3).await;
    let extra = "balance = \"consistent-hash\"\nhash-on = { header = \"x-user\" }";
    let gateway = TestGateway::start(&manifest(&plain(&ups), extra)).await;
    let mut owners = HashMap::new();
    for user in 0..30 {
        let user = format!("user-{user}");
        let counts = spread(&gateway, 5, &[("x-user", &user)]).await;
        assert_eq!(counts.len(), 1, "{user} went to {counts:?}");
        owners.insert(user, counts.into_keys().next().expect("one owner"));
    }
    // 30 users over 3 targets: every target owns some.
    let distinct: std::collections::HashSet<_> = owners.values().collect();
    assert_eq!(distinct.len(), 3, "{owners:?}");
    // No key: round robin.
    assert_eq!(spread(&gateway, 30, &[]).await.len(), 3);
}

#[tokio::test]
async fn consistent_hashing_on_a_cookie_sticks_a_session() {
    let ups = upstreams(3).await;
    let extra = "balance = \"consistent-hash\"\nhash-on = { cookie = \"session\" }";
    let gateway = TestGateway::start(&manifest(&plain(&ups), extra)).await;
    for session in ["a1", "b2", "c3", "d4"] {
        let cookie = format!("theme=dark; session={session}");
        let counts = spread(&gateway, 6, &[("cookie", &cookie)]).await;
        assert_eq!(counts.len(), 1, "{session}: {counts:?}");
    }
}
