//! What plugins can make the host hold, beyond one instance's own limit: the gateway-wide budget
//! of plugin memory (`[plugin-runtime] memory-budget`), the bound on what an idle reused instance
//! may keep (`idle-memory`), and the cap on host handles (WASI pollables) per instance.

use std::time::Duration;

use portcullis_tests::metrics;
use portcullis_tests::{EchoUpstream, TestGateway, logs};

const MIB: f64 = (1 << 20) as f64;

/// `[plugin-runtime]` as given, an admin API, and two routes: `/slow/...` (the echo upstream
/// waits the milliseconds of the path) and `/normal`, each with the plugin entry given.
fn manifest(upstream: &EchoUpstream, runtime: &str, slow: &str, normal: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[plugin-runtime]
{runtime}

[upstreams.echo]
targets = ["{upstream}"]

[routes.slow]
upstream = "echo"
match.path-prefix = "/slow/"

[[routes.slow.plugins]]
wasm = "@MISBEHAVE@"
{slow}

[routes.normal]
upstream = "echo"
match.path-prefix = "/normal"

[[routes.normal.plugins]]
wasm = "@MISBEHAVE@"
{normal}
"#,
        upstream = upstream.authority()
    )
}

async fn memory_used(gateway: &TestGateway) -> f64 {
    let plugins = gateway.admin_client().get("/plugins").await.json();
    plugins["memory"]["used_bytes"]
        .as_f64()
        .unwrap_or_else(|| panic!("memory.used_bytes in {plugins}"))
}

#[tokio::test]
async fn concurrent_greedy_requests_beyond_the_memory_budget_fail_while_other_plugins_answer() {
    logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    // Each greedy request takes a fresh instance and 24 MiB more, held across the upstream's
    // two seconds: two fit in the 64 MiB budget, a third does not.
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"memory-budget = "64MiB""#,
        r#"name = "greedy-under-budget"
isolation = "request"
memory = "1GiB"
config = { mode = "grow", mib = 24 }"#,
        r#"name = "modest-under-budget"
isolation = "request"
config = { mode = "none" }"#,
    ))
    .await;

    let (done, mut responses) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..4 {
        let (client, done) = (gateway.client(), done.clone());
        tokio::spawn(async move { done.send(client.get("/slow/2000").await) });
    }
    // The refused ones answer at once; then, with two greedy instances still held, a plugin
    // that needs a fresh instance of its own still gets one.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let refused = responses.recv().await.expect("a response");
        assert_eq!(refused.status, 500, "{}", refused.text());
        assert_eq!(refused.json()["error"], "plugin_failed");
        statuses.push(refused.status.as_u16());
    }
    let normal = gateway.client().get("/normal").await;
    assert_eq!(normal.status, 200, "{}", normal.text());
    for _ in 0..2 {
        statuses.push(responses.recv().await.expect("a response").status.as_u16());
    }
    assert_eq!(statuses, [500, 500, 200, 200], "two fit in the budget");
    let refused = logs::wait_for(
        &["greedy-under-budget", "route `slow`", "memory budget"],
        Duration::from_secs(1),
    )
    .unwrap_or_else(|| panic!("a log line for the refusal; the log:\n{}", logs::all()));
    assert!(
        refused.contains("67108864 bytes"),
        "the line gives the budget: {refused}"
    );

    let samples = metrics::parse(&gateway.admin_client().get("/metrics").await.text());
    let refusals = metrics::value(
        &samples,
        "portcullis_plugin_failures_total",
        &[
            ("plugin", "greedy-under-budget"),
            ("route", "slow"),
            ("kind", "memory-budget"),
        ],
    );
    assert_eq!(refusals, Some(2.0));
    assert_eq!(
        metrics::value(&samples, "portcullis_plugin_memory_budget_bytes", &[]),
        Some(64.0 * MIB)
    );
    // Every instance was dropped with its request: the memory is back in the budget.
    let used = metrics::value(&samples, "portcullis_plugin_memory_bytes", &[]);
    assert!(used.is_some_and(|bytes| bytes < 8.0 * MIB), "{used:?}");
    assert!(memory_used(&gateway).await < 8.0 * MIB);
}

#[tokio::test]
async fn a_reused_instance_that_grew_beyond_idle_memory_is_dropped_not_kept_idle() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"idle-memory = "8MiB""#,
        r#"name = "grows-past-idle"
memory = "64MiB"
config = { mode = "grow", mib = 16 }"#,
        r#"name = "stays-small"
config = { mode = "none" }"#,
    ))
    .await;
    let client = gateway.client();

    for _ in 0..2 {
        assert_eq!(client.get("/slow/0").await.status, 200);
        assert_eq!(client.get("/normal").await.status, 200);
    }

    let grown = gateway.plugin_entry("grows-past-idle").await;
    assert_eq!(grown["oversized_drops"], 2, "{grown}");
    // Each `on-request` grows its instance, which is dropped when the call ends; the instance
    // left idle is the one the last `on-response` borrowed, which did not grow.
    assert_eq!(grown["idle_instances"], 1, "{grown}");
    assert!(
        grown["idle_memory_bytes"].as_u64() < Some(2 << 20),
        "{grown}"
    );
    // `init`'s instance served the first `on-request`; each `on-response` after a drop took a
    // new one.
    assert_eq!(grown["instantiations"], 3, "{grown}");
    assert!(
        grown["memory_high_water_bytes"].as_u64() > Some(16 << 20),
        "{grown}"
    );
    assert!(
        grown["largest_call_growth_bytes"].as_u64() >= Some(16 << 20),
        "the calls whose instances were dropped count: {grown}"
    );
    let small = gateway.plugin_entry("stays-small").await;
    assert_eq!(small["oversized_drops"], 0, "{small}");
    assert_eq!(small["idle_instances"], 1, "{small}");
    assert_eq!(small["instantiations"], 1, "{small}");
    assert!(
        memory_used(&gateway).await < 8.0 * MIB,
        "only the small idle instance holds memory"
    );
}

/// A plugin that keeps a little memory on every call (as a JavaScript engine's heap does) is
/// given a fresh instance before its limit, instead of failing one request each time an
/// instance reaches it: it keeps 1 MiB per request here, with a limit of 16 MiB.
#[tokio::test]
async fn a_plugin_keeping_memory_on_every_call_is_recycled_before_its_limit_and_never_fails() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "",
        r#"name = "keeps-a-mib"
memory = "16MiB"
config = { mode = "grow", mib = 1 }"#,
        r#"name = "keeps-nothing"
config = { mode = "none" }"#,
    ))
    .await;
    let client = gateway.client();

    for i in 0..40 {
        let response = client.get("/slow/0").await;
        assert_eq!(response.status, 200, "request {i}: {}", response.text());
    }
    assert_eq!(client.get("/normal").await.status, 200);

    let keeping = gateway.plugin_entry("keeps-a-mib").await;
    assert_eq!(keeping["failures"], 0, "{keeping}");
    // Each instance serves about ten requests before less than a quarter of its room is left.
    let recycled = keeping["limit_recycles"].as_u64().unwrap_or(0);
    assert!((2..=8).contains(&recycled), "{keeping}");
    assert_eq!(keeping["instantiations"], recycled + 1, "{keeping}");
    assert!(
        keeping["largest_call_growth_bytes"].as_u64() >= Some(1 << 20),
        "{keeping}"
    );
    assert!(
        keeping["memory_high_water_bytes"].as_u64() < Some(16 << 20),
        "{keeping}"
    );
    let nothing = gateway.plugin_entry("keeps-nothing").await;
    assert_eq!(nothing["limit_recycles"], 0, "{nothing}");
    assert_eq!(nothing["largest_call_growth_bytes"], 0, "{nothing}");
}

#[tokio::test]
async fn a_plugin_creating_host_handles_traps_at_the_cap_and_a_fresh_instance_follows() {
    logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    // 700 clock subscriptions a request, never dropped, in a reused instance; each is two
    // host table entries (the deadline and its pollable), so the third request passes 4,096.
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "",
        r#"name = "leaks-handles"
config = { mode = "handles", count = 700 }"#,
        r#"name = "holds-no-handles"
config = { mode = "none" }"#,
    ))
    .await;
    let client = gateway.client();

    assert_eq!(client.get("/slow/0").await.status, 200, "1,400 handles");
    assert_eq!(client.get("/slow/0").await.status, 200, "2,800 handles");
    let capped = client.get("/slow/0").await;
    assert_eq!(capped.status, 500, "4,200 handles: {}", capped.text());
    assert_eq!(capped.json()["error"], "plugin_failed");
    let line = logs::wait_for(
        &["leaks-handles", "route `slow`", "host handles"],
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("a log line for the cap; the log:\n{}", logs::all()));
    assert!(line.contains("more than 4096"), "{line}");

    assert_eq!(
        client.get("/slow/0").await.status,
        200,
        "the trapped instance is gone; a fresh one starts from no handles"
    );
    assert_eq!(client.get("/normal").await.status, 200);
    let samples = metrics::parse(&gateway.admin_client().get("/metrics").await.text());
    assert_eq!(
        metrics::value(
            &samples,
            "portcullis_plugin_failures_total",
            &[
                ("plugin", "leaks-handles"),
                ("route", "slow"),
                ("kind", "handle-limit"),
            ],
        ),
        Some(1.0)
    );
}
