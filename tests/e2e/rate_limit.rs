//! `rate-limit` on the local backend and on a real Redis shared by two gateways: exact counts,
//! the IETF `RateLimit-*` fields, 429 with `Retry-After`, and what an outage of Redis does.

use std::time::{Duration, Instant};

use portcullis_tests::manifest::one_route;
use portcullis_tests::redis::RedisServer;
use portcullis_tests::{Client, EchoUpstream, TestGateway, logs};
use tokio::task::JoinSet;

fn limited(upstream: &EchoUpstream, config: &str, state: &str) -> String {
    let mut text = one_route(
        upstream,
        &format!(
            r#"
[[routes.api.plugins]]
plugin = "rate-limit"
config = {{ {config} }}
"#
        ),
    );
    text.push_str(state);
    text
}

/// A generous timeout: the machine running the tests may be busy, and a timeout would turn into
/// an admission (fault-tolerant) or a 503 (strict).
fn redis_state(redis: &RedisServer) -> String {
    format!(
        "\n[state]\nbackend = \"redis\"\nurl = \"{}\"\ntimeout = \"1s\"\n",
        redis.url()
    )
}

/// Sends `count` requests at once, spread over `clients` in turn; returns the statuses.
async fn burst(clients: &[Client], count: usize) -> Vec<u16> {
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let client = clients[i % clients.len()].clone();
        tasks.spawn(async move { client.get("/limited").await.status.as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.expect("the request task"));
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_local_limit_admits_exactly_n_then_answers_429_with_retry_after() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&limited(
        &upstream,
        r#"minute = 3, algorithm = "token-bucket""#,
        "",
    ))
    .await;
    let client = gateway.client();

    for remaining in ["2", "1", "0"] {
        let response = client.get("/limited").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("ratelimit-limit"), Some("3"));
        assert_eq!(response.header("ratelimit-remaining"), Some(remaining));
        assert_eq!(response.header("ratelimit-policy"), Some("3;w=60"));
        assert!(response.header("retry-after").is_none());
    }
    let refused = client.get("/limited").await;

    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    // One token comes back every 20 seconds.
    assert_eq!(refused.header("retry-after"), Some("20"));
    let body = refused.json();
    assert_eq!(body["error"], "too_many_requests");
    assert_eq!(
        body["message"],
        "rate limit exceeded: 3 requests per minute"
    );
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(upstream.requests(), 3);
}

#[tokio::test]
async fn a_sliding_window_admits_exactly_n_of_a_concurrent_burst() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&limited(&upstream, "hour = 10", "")).await;

    let statuses = burst(&[gateway.client()], 25).await;

    assert_eq!(count(&statuses, 200), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 15, "{statuses:?}");
    assert_eq!(upstream.requests(), 10);
}

#[tokio::test]
async fn consumers_from_key_auth_have_budgets_of_their_own() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "key-auth"
config = { consumers = { alice = ["alice-key"], bob = ["bob-key"] } }

[[routes.api.plugins]]
plugin = "rate-limit"
config = { minute = 2, by = ["consumer"] }
"#,
    );
    let gateway = TestGateway::start(&manifest).await;
    let client = gateway.client();
    let get = |key: &'static str| {
        let client = client.clone();
        async move { client.get_with("/", &[("apikey", key)]).await.status }
    };

    assert_eq!(get("alice-key").await, 200);
    assert_eq!(get("alice-key").await, 200);
    assert_eq!(get("alice-key").await, 429);
    assert_eq!(get("bob-key").await, 200, "bob's budget is untouched");
}

#[tokio::test]
async fn a_header_keys_the_limit_and_an_overlong_value_gets_400_not_a_failure() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&limited(
        &upstream,
        r#"second = 1, hour = 1, by = ["header", "route"], header = "x-tenant""#,
        "",
    ))
    .await;
    let client = gateway.client();

    let first = client.get_with("/", &[("x-tenant", "a")]).await;
    let again = client.get_with("/", &[("x-tenant", "a")]).await;
    let other = client.get_with("/", &[("x-tenant", "b")]).await;
    let long = "x".repeat(300);
    let overlong = client.get_with("/", &[("x-tenant", long.as_str())]).await;

    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-policy"), Some("1;w=1, 1;w=3600"));
    assert_eq!(again.status, 429);
    assert_eq!(other.status, 200);
    assert_eq!(overlong.status, 400);
    assert_eq!(overlong.json()["error"], "bad_request");
}

/// The state backends a test runs against: the in-process one and a real Redis.
fn backends(redis: &RedisServer) -> [(&'static str, String); 2] {
    [("local", String::new()), ("redis", redis_state(redis))]
}

fn header_secs(response: &portcullis_tests::TestResponse, name: &str) -> u64 {
    response
        .header(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("`{name}` in seconds: {:?}", response.header(name)))
}

/// 5 per hour, all used at once: the refusal's `Retry-After` is within the hour (it was 4320 s),
/// and `RateLimit-Reset` is no earlier than it, so a client retrying at the reset is admitted.
#[tokio::test]
async fn a_refusal_never_asks_to_wait_longer_than_the_window_and_the_reset_agrees() {
    let redis = RedisServer::start();
    for (backend, state) in backends(&redis) {
        // The token bucket gives one request back every 12 minutes; the sliding window's wait
        // depends on how far into the (UTC) hour the burst came, and is at most the hour.
        for (algorithm, shortest) in [("sliding-window", 1), ("token-bucket", 719)] {
            let upstream = EchoUpstream::start("echo").await;
            let config = format!(r#"hour = 5, algorithm = "{algorithm}", fault-tolerant = false"#);
            let gateway = TestGateway::start(&limited(&upstream, &config, &state)).await;
            let client = gateway.client();
            for _ in 0..5 {
                assert_eq!(client.get("/limited").await.status, 200);
            }

            let refused = client.get("/limited").await;

            let at = format!("{backend}, {algorithm}");
            assert_eq!(refused.status, 429, "{at}");
            assert_eq!(refused.header("ratelimit-policy"), Some("5;w=3600"), "{at}");
            let wait = header_secs(&refused, "retry-after");
            let reset = header_secs(&refused, "ratelimit-reset");
            assert!(
                wait <= 3600 && reset <= 3600,
                "{at}: {wait} s, reset {reset} s"
            );
            assert!(wait >= shortest, "{at}: {wait} s");
            if algorithm == "token-bucket" {
                assert!(wait <= 720, "{at}: {wait} s");
            }
            assert!(reset >= wait, "{at}: reset {reset} s before retry {wait} s");
        }
    }
}

/// A client that waits what `Retry-After` says is admitted, on both backends and with both
/// algorithms (3 per second: the shortest window the plugin has).
#[tokio::test]
async fn waiting_retry_after_admits_the_next_request() {
    let redis = RedisServer::start();
    for (backend, state) in backends(&redis) {
        for algorithm in ["sliding-window", "token-bucket"] {
            let upstream = EchoUpstream::start("echo").await;
            let config =
                format!(r#"second = 3, algorithm = "{algorithm}", fault-tolerant = false"#);
            let gateway = TestGateway::start(&limited(&upstream, &config, &state)).await;
            let client = gateway.client();
            let at = format!("{backend}, {algorithm}");
            let mut refused = None;
            // Normally the 4th; a slow machine may see a token come back meanwhile.
            for _ in 0..10 {
                let response = client.get("/limited").await;
                if response.status == 429 {
                    refused = Some(response);
                    break;
                }
                assert_eq!(response.status, 200, "{at}");
            }
            let refused = refused.unwrap_or_else(|| panic!("{at}: no request was refused"));
            let wait = header_secs(&refused, "retry-after");
            assert_eq!(wait, 1, "{at}: never more than the window");

            tokio::time::sleep(Duration::from_secs(wait)).await;

            assert_eq!(client.get("/limited").await.status, 200, "{at}");
        }
    }
}

/// Three routes on one gateway whose local store holds 300 keys: `flood` is limited per
/// `x-client` (a header the client chooses), `quiet` allows 5 a minute per IP, `strict` is
/// fail-closed per `x-client`.
fn three_routes(upstream: &EchoUpstream) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[state]
max-keys = 300

[upstreams.echo]
targets = ["{}"]

[routes.flood]
upstream = "echo"
match.path-prefix = "/flood"

[[routes.flood.plugins]]
plugin = "rate-limit"
config = {{ minute = 100, by = ["header"], header = "x-client" }}

[routes.quiet]
upstream = "echo"
match.path-prefix = "/quiet"

[[routes.quiet.plugins]]
plugin = "rate-limit"
config = {{ minute = 5 }}

[routes.strict]
upstream = "echo"
match.path-prefix = "/strict"

[[routes.strict.plugins]]
plugin = "rate-limit"
config = {{ minute = 100, by = ["header"], header = "x-client", fault-tolerant = false }}
"#,
        upstream.authority()
    )
}

/// One client sends a thousand random keys (over three times the whole store) to one route:
/// it evicts only its own namespace's entries, so the 5-a-minute limit of another route still
/// admits exactly 5 and refuses the 6th, and a fail-closed route still serves new clients
/// instead of answering 503. `/metrics` shows the evictions, on the flooded route only.
#[tokio::test]
async fn a_flood_of_random_keys_on_one_route_leaves_every_other_limit_working() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&three_routes(&upstream)).await;
    let client = gateway.client();
    assert_eq!(
        client
            .get_with("/strict", &[("x-client", "early")])
            .await
            .status,
        200
    );

    let mut flood = JoinSet::new();
    for worker in 0..4 {
        let client = client.clone();
        flood.spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..250 {
                let key = format!("random-{worker}-{i}-{}", rand_suffix(worker, i));
                statuses.push(
                    client
                        .get_with("/flood", &[("x-client", &key)])
                        .await
                        .status,
                );
            }
            statuses
        });
    }
    while let Some(statuses) = flood.join_next().await {
        let statuses = statuses.expect("a flood task");
        assert!(
            statuses.iter().all(|s| *s == 200),
            "new keys are counted, not refused"
        );
    }

    let quiet: Vec<u16> = {
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(client.get("/quiet").await.status.as_u16());
        }
        seen
    };
    assert_eq!(
        quiet,
        [200, 200, 200, 200, 200, 429],
        "a client arriving after the flood"
    );
    for client_key in ["early", "late"] {
        let strict = client
            .get_with("/strict", &[("x-client", client_key)])
            .await;
        assert_eq!(strict.status, 200, "{client_key}: {}", strict.text());
    }
    let admin =
        portcullis_tests::Client::http1(gateway.running().admin_address().expect("an admin API"));
    let samples = portcullis_tests::metrics::parse(&admin.get("/metrics").await.text());
    let evictions = |route: &str| {
        samples
            .iter()
            .find(|s| {
                s.name == "portcullis_state_evictions_total"
                    && s.labels.get("route").map(String::as_str) == Some(route)
            })
            .map(|s| s.value)
    };
    assert!(
        evictions("flood").is_some_and(|n| n >= 700.0),
        "{:?}",
        evictions("flood")
    );
    assert_eq!(evictions("quiet"), Some(0.0));
    assert_eq!(evictions("strict"), Some(0.0));
}

/// A key no other test or worker uses (the gateway sees only the header's bytes).
fn rand_suffix(worker: usize, i: usize) -> u64 {
    let mut x = (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64;
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

#[tokio::test]
async fn a_bad_config_is_refused_at_load_with_the_plugins_own_message() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = limited(&upstream, r#"minute = 10, by = ["header"]"#, "");

    let error = TestGateway::try_start(&manifest)
        .await
        .err()
        .expect("refused");

    assert!(
        error.contains("plugin `rate-limit` on route `api` rejected its config")
            && error.contains("`header` is not set"),
        "{error}"
    );
}

#[tokio::test]
async fn two_gateways_sharing_redis_admit_exactly_n_in_total() {
    let redis = RedisServer::start();
    for algorithm in ["token-bucket", "sliding-window"] {
        let upstream = EchoUpstream::start("echo").await;
        // Strict, so that a state failure shows as a 503 instead of an admission.
        let config = format!(
            r#"hour = 10, by = ["route"], algorithm = "{algorithm}", fault-tolerant = false"#
        );
        let manifest = limited(&upstream, &config, &redis_state(&redis));
        let (a, b) = (
            TestGateway::start(&manifest).await,
            TestGateway::start(&manifest).await,
        );
        // Each decision is one Lua script, atomic in Redis: the tolerance is zero.
        let statuses = burst(&[a.client(), b.client()], 30).await;

        assert_eq!(count(&statuses, 200), 10, "{algorithm}: {statuses:?}");
        assert_eq!(count(&statuses, 429), 20, "{algorithm}: {statuses:?}");
        assert_eq!(upstream.requests(), 10, "{algorithm}");
        let from_b = b.client().get("/limited").await;
        assert_eq!(
            from_b.header("ratelimit-remaining"),
            Some("0"),
            "{algorithm}"
        );
        assert!(from_b.header("retry-after").is_some());
    }
}

#[tokio::test]
async fn when_redis_dies_fault_tolerant_admits_strict_refuses_503_and_both_keep_serving() {
    logs::capture();
    let mut redis = RedisServer::start();
    let upstream = EchoUpstream::start("echo").await;
    let state = redis_state(&redis);
    let tolerant =
        TestGateway::start(&limited(&upstream, "second = 1000, minute = 2", &state)).await;
    let strict = TestGateway::start(&limited(
        &upstream,
        "minute = 1000, fault-tolerant = false",
        &state,
    ))
    .await;
    assert_eq!(tolerant.client().get("/").await.status, 200);
    assert_eq!(tolerant.client().get("/").await.status, 200);
    assert_eq!(tolerant.client().get("/").await.status, 429);

    redis.kill();
    let started = Instant::now();
    let admitted = tolerant.client().get("/").await;
    let refused = strict.client().get("/").await;
    let elapsed = started.elapsed();

    assert_eq!(admitted.status, 200, "fail-open: the request goes through");
    assert!(
        admitted.header("ratelimit-limit").is_none(),
        "no made-up headers"
    );
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"], "rate_limit_unavailable");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        elapsed < Duration::from_secs(3),
        "bounded by the timeout: {elapsed:?}"
    );
    for _ in 0..5 {
        assert_eq!(tolerant.client().get("/").await.status, 200);
        assert_eq!(strict.client().get("/").await.status, 503);
    }
    let admitted_line = logs::wait_for(
        &[r#"rate-limit="unavailable-admitted""#],
        Duration::from_secs(5),
    );
    assert!(
        admitted_line.is_some(),
        "the access log shows it:\n{}",
        logs::all()
    );
    let down = format!(
        "state backend `redis 127.0.0.1:{}` is unavailable",
        redis.port()
    );
    let line = logs::wait_for(&[&down], Duration::from_secs(5));
    assert!(line.is_some(), "the outage is logged:\n{}", logs::all());
    let lines = logs::all().lines().filter(|l| l.contains(&down)).count();
    assert!(
        (2..=4).contains(&lines),
        "once for each gateway (again every 10s), not once per request: {lines} lines"
    );

    // Redis comes back on the same port: limits apply again, and the recovery is logged.
    let redis = RedisServer::start_on(redis.port());
    let deadline = Instant::now() + Duration::from_secs(10);
    while strict.client().get("/").await.status != 200 {
        assert!(Instant::now() < deadline, "the gateway reconnects to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let up = format!(
        "state backend `redis 127.0.0.1:{}` is available again",
        redis.port()
    );
    assert!(logs::wait_for(&[&up], Duration::from_secs(5)).is_some());
    drop(redis);
}

#[tokio::test]
async fn a_gateway_starts_and_serves_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let state = redis_state(&redis);
    redis.kill();
    let upstream = EchoUpstream::start("echo").await;

    let gateway = TestGateway::start(&limited(&upstream, "minute = 1", &state)).await;

    assert_eq!(gateway.client().get("/").await.status, 200);
    assert_eq!(
        gateway.client().get("/").await.status,
        200,
        "fault-tolerant by default"
    );
}
