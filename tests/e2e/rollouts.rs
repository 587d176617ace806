//! Safe plugin roll-outs through real sockets and real components (docs/rollouts.md): a canary
//! that traps is rolled back by its guard after the calls it needed to decide, and stays rolled
//! back across a reload; a slow canary is rolled back on its p99 (and an equal one is not on a
//! machine whose cores are all busy: `tests/busy/`); a sticky canary keeps a caller
//! on one version and the access log names it; a plugin's breaker opens on a plugin trapping on
//! every call and a reload that replaces the plugin closes it; a shadow that answers 403 where
//! the live plugin passes is counted as a divergence while every client gets the live answer;
//! and the host's accounting of a plugin matches one that burns a known amount of CPU.
//!
//! The tests share one plugin runtime, as a process does, and with it the roll-out state kept
//! by route, entry name and versions: each test names its entries apart.

use std::time::Duration;

use portcullis_tests::manifest::one_route_with_admin;
use portcullis_tests::metrics;
use portcullis_tests::{EchoUpstream, TestGateway};
use serde_json::Value;

async fn post(gateway: &TestGateway, path: &str) -> (u16, Value) {
    let response = gateway
        .admin_client()
        .send(http::Method::POST, path, &[], bytes::Bytes::new())
        .await;
    (response.status.as_u16(), response.json())
}

async fn scrape(gateway: &TestGateway) -> Vec<metrics::Sample> {
    metrics::parse(&gateway.admin_client().get("/metrics").await.text())
}

const TRAPPING_CANARY: &str = r#"
[[routes.api.plugins]]
name = "audit"
wasm = "@MISBEHAVE@"
config = { mode = "none" }
canary = { config = { mode = "trap" }, weight = 50, guard = { min-calls = 10 } }
"#;

#[tokio::test]
async fn a_canary_that_traps_is_rolled_back_after_the_calls_its_guard_needed_and_stays_rolled_back()
{
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, TRAPPING_CANARY)).await;
    let client = gateway.client();
    let mut failed = 0;
    for _ in 0..200 {
        let status = client.get("/").await.status.as_u16();
        assert!(status == 200 || status == 500, "{status}");
        failed += usize::from(status == 500);
    }
    assert_eq!(
        failed, 10,
        "exactly the guard's min-calls failed; every other request was served"
    );

    let audit = gateway.plugin_entry("audit").await;
    let canary = &audit["canary"];
    assert_eq!(canary["state"], "rolled-back", "{canary}");
    assert_eq!(canary["rollbacks"], 1);
    assert_eq!(canary["candidate"]["failures_by_kind"]["trap"], 10);
    let reason = canary["last_trip"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("10 of its 10 calls failed"), "{reason}");
    assert_eq!(audit["failures"], 0, "the stable version never failed");
    let samples = scrape(&gateway).await;
    let labels = [("plugin", "audit"), ("route", "api")];
    assert_eq!(
        metrics::value(
            &samples,
            "portcullis_plugin_canary_rollbacks_total",
            &labels
        ),
        Some(1.0)
    );
    assert_eq!(
        metrics::value(&samples, "portcullis_plugin_canary_state", &labels),
        Some(1.0)
    );

    // A reload of the same manifest keeps the rollback: the candidate takes nothing.
    gateway
        .running()
        .reload()
        .await
        .expect("the reload succeeds");
    for _ in 0..50 {
        assert_eq!(client.get("/").await.status, 200);
    }
    assert_eq!(
        gateway.plugin_entry("audit").await["canary"]["state"],
        "rolled-back"
    );

    // An operator's reset sends it traffic again (and its guard rolls it back again).
    let (status, body) = post(&gateway, "/plugins/api/audit/canary/reset").await;
    assert_eq!(
        (status, &body["status"]),
        (200, &Value::from("active")),
        "{body}"
    );
    let mut failed = 0;
    for _ in 0..200 {
        failed += usize::from(client.get("/").await.status == 500);
    }
    assert_eq!(failed, 10);
    assert_eq!(
        gateway.plugin_entry("audit").await["canary"]["rollbacks"],
        2
    );
    let (status, _) = post(&gateway, "/plugins/api/nobody/canary/promote").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_promoted_canary_serves_every_request_and_an_aborted_one_none() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
name = "tag"
plugin = "headers"
config = { response.set = { x-version = "stable" } }
canary = { config = { response.set = { x-version = "candidate" } }, weight = 10 }
"#;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, plugins)).await;
    let client = gateway.client();
    let (status, _) = post(&gateway, "/plugins/api/tag/canary/promote").await;
    assert_eq!(status, 200);
    for _ in 0..30 {
        assert_eq!(client.get("/").await.header("x-version"), Some("candidate"));
    }
    gateway
        .running()
        .reload()
        .await
        .expect("the reload succeeds");
    assert_eq!(
        client.get("/").await.header("x-version"),
        Some("candidate"),
        "kept across a reload"
    );
    let (status, _) = post(&gateway, "/plugins/api/tag/canary/abort").await;
    assert_eq!(status, 200);
    for _ in 0..30 {
        assert_eq!(client.get("/").await.header("x-version"), Some("stable"));
    }
}

#[tokio::test]
async fn a_canary_three_times_slower_at_p99_is_rolled_back_without_failing_a_request() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
name = "slow"
wasm = "@MISBEHAVE@"
config = { mode = "burn", micros = 2000 }
canary = { config = { mode = "burn", micros = 6000 }, weight = 50, guard = { min-calls = 20, max-p99-ratio = 1.5 } }
"#;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, plugins)).await;
    let client = gateway.client();
    let mut sent = 0;
    while gateway.plugin_entry("slow").await["canary"]["state"] == "active" {
        for _ in 0..10 {
            assert_eq!(client.get("/").await.status, 200);
        }
        sent += 10;
        assert!(
            sent <= 300,
            "not rolled back after {sent} requests: {}",
            gateway.plugin_entry("slow").await
        );
    }
    let canary = gateway.plugin_entry("slow").await["canary"].clone();
    assert_eq!(canary["state"], "rolled-back");
    let reason = canary["last_trip"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("max-p99-ratio"), "{reason}");
}

#[tokio::test]
async fn a_sticky_canary_keeps_each_caller_on_one_version_and_the_access_log_names_it() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[access-log]
destination = "access.log"
format = "json"

[[routes.api.plugins]]
name = "sticky-tag"
plugin = "headers"
config = { response.set = { x-version = "stable" } }
canary = { config = { response.set = { x-version = "candidate" } }, weight = 50, sticky = "header:x-user" }
"#;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, plugins)).await;
    let client = gateway.client();
    let mut versions = std::collections::HashSet::new();
    for user in 0..16 {
        let user = format!("user-{user}");
        let first = client.get_with("/", &[("x-user", &user)]).await;
        let version = first.header("x-version").expect("a version").to_owned();
        for _ in 0..4 {
            let again = client.get_with("/", &[("x-user", &user)]).await;
            assert_eq!(
                again.header("x-version"),
                Some(version.as_str()),
                "{user} moved"
            );
        }
        versions.insert(version);
    }
    assert_eq!(versions.len(), 2, "callers are spread over both versions");

    // The access line names the version that served each request.
    let path = gateway.dir().join("access.log");
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.len() >= 80 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 80);
    let roles: std::collections::HashSet<_> = lines
        .iter()
        .map(|line| {
            let line: Value = serde_json::from_str(line).expect("a JSON line");
            let served = line["plugin_versions"]["sticky-tag"]
                .as_str()
                .expect("the version")
                .to_owned();
            served.split('@').next().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(roles, ["stable".to_owned(), "candidate".to_owned()].into());
}

#[tokio::test]
async fn a_breaker_opens_on_a_plugin_trapping_every_call_and_a_reload_replacing_it_closes_it() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = |mode: &str| {
        format!(
            r#"
[[routes.api.plugins]]
name = "guard"
wasm = "@MISBEHAVE@"
config = {{ mode = "{mode}" }}
breaker = {{ trap-rate = "50%", window = "10s", min-calls = 5, open-for = "60s" }}

[routes.open]
upstream = "echo"
match.path-prefix = "/open"

[[routes.open.plugins]]
name = "skippable"
wasm = "@MISBEHAVE@"
failure = "fail-open"
config = {{ mode = "{mode}" }}
breaker = {{ min-calls = 5, open-for = "60s" }}
"#
        )
    };
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, &plugins("trap"))).await;
    let client = gateway.client();
    for _ in 0..5 {
        assert_eq!(client.get("/").await.status, 500);
        assert_eq!(
            client.get("/open").await.status,
            200,
            "fail-open skips the trap"
        );
    }
    // Open: no call is made; fail-closed answers 503 at once, naming the plugin.
    let refused = client.get("/").await;
    assert_eq!(refused.status, 503);
    let body = refused.json();
    assert_eq!(body["error"], "plugin_unavailable", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`guard`"),
        "{body}"
    );
    assert_eq!(client.get("/open").await.status, 200, "fail-open skips it");
    let guard = gateway.plugin_entry("guard").await;
    assert_eq!(guard["breaker"]["state"], "open", "{guard}");
    assert_eq!(guard["breaker"]["opened"], 1);
    assert_eq!(guard["breaker"]["refused"], 1);
    assert_eq!(guard["calls"], 5, "no call after it opened");
    let samples = scrape(&gateway).await;
    let state = metrics::value(
        &samples,
        "portcullis_plugin_breaker_state",
        &[("plugin", "guard")],
    );
    assert_eq!(state, Some(1.0), "open");

    // The plugin replaced by a reload: a new version, a new breaker, closed.
    let text = one_route_with_admin(&upstream, &plugins("none"))
        .replace("@MISBEHAVE@", portcullis_tests::guests::MISBEHAVE);
    std::fs::write(gateway.dir().join("portcullis.toml"), text).expect("the manifest is written");
    gateway
        .running()
        .reload()
        .await
        .expect("the reload succeeds");
    for _ in 0..10 {
        assert_eq!(client.get("/").await.status, 200);
    }
    assert_eq!(
        gateway.plugin_entry("guard").await["breaker"]["state"],
        "closed"
    );
}

#[tokio::test]
async fn a_shadow_answering_403_where_the_live_plugin_passes_is_a_divergence_and_clients_get_the_live_answer()
 {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
name = "authz"
wasm = "@MISBEHAVE@"
config = { mode = "none" }
shadow = { config = { mode = "deny" }, sample = "100%", cpu = "20ms" }
"#;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, plugins)).await;
    let client = gateway.client();
    for _ in 0..20 {
        assert_eq!(
            client.get("/").await.status,
            200,
            "the live plugin's answer"
        );
    }
    let mut shadow = Value::Null;
    for _ in 0..100 {
        shadow = gateway.plugin_entry("authz").await["shadow"].clone();
        if shadow["runs"] == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(shadow["runs"], 20, "{shadow}");
    assert_eq!(shadow["divergences"]["action"], 20);
    assert_eq!(shadow["agreed"], 0);
    assert_eq!(shadow["dropped"], 0);
    let sample = &shadow["samples"][0];
    assert_eq!(
        (&sample["kind"], &sample["live"], &sample["shadow"]),
        (&"action".into(), &"continue".into(), &"respond 403".into())
    );
    assert_eq!(shadow["candidate"]["calls"], 20);
    assert_eq!(shadow["candidate"]["limits"]["cpu_ms"], 20.0);
    let samples = scrape(&gateway).await;
    let labels = [("plugin", "authz"), ("route", "api"), ("kind", "action")];
    assert_eq!(
        metrics::value(
            &samples,
            "portcullis_plugin_shadow_divergences_total",
            &labels
        ),
        Some(20.0)
    );
}

#[tokio::test]
async fn the_accounting_of_a_plugin_matches_one_that_burns_a_known_amount_of_cpu() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
name = "burner"
wasm = "@MISBEHAVE@"
config = { mode = "burn", micros = 3000 }

[routes.trap]
upstream = "echo"
match.path-prefix = "/trap"

[[routes.trap.plugins]]
name = "trapper"
wasm = "@MISBEHAVE@"
config = { mode = "trap" }

[routes.panic]
upstream = "echo"
match.path-prefix = "/panic"

[[routes.panic.plugins]]
name = "panicker"
wasm = "@MISBEHAVE@"
config = { mode = "panic" }
"#;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, plugins)).await;
    let client = gateway.client();
    for _ in 0..30 {
        assert_eq!(client.get("/").await.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(client.get("/trap").await.status, 500);
        assert_eq!(client.get("/panic").await.status, 500);
    }
    let burner = gateway.plugin_entry("burner").await;
    assert_eq!(burner["calls"], 30);
    let cpu = burner["cpu_us"]["p50"].as_f64().expect("a p50");
    let wall = burner["wall_us"]["p50"].as_f64().expect("a p50");
    // 3 ms spun per call, read within the histogram's 12%, and within what the epoch bound
    // allows on a loaded 2-core machine (a poll counts for at most 1.5 ticks: a late ticker
    // reads low, a preemption high).
    assert!((1_500.0..6_000.0).contains(&cpu), "CPU p50 {cpu} us");
    assert!(wall >= cpu * 0.9, "wall {wall} us, CPU {cpu} us");
    assert!(burner["live_instances"].as_u64() >= Some(1));
    assert!(burner["memory_high_water_bytes"].as_u64() > Some(0));
    let trapper = gateway.plugin_entry("trapper").await;
    assert_eq!(trapper["failures_by_kind"]["trap"], 3);
    let panicker = gateway.plugin_entry("panicker").await;
    assert_eq!(
        (
            &panicker["failures_by_kind"]["panic"],
            &panicker["failures_by_kind"]["trap"]
        ),
        (&3.into(), &0.into())
    );

    let samples = scrape(&gateway).await;
    let version = burner["version"].as_str().expect("a version");
    let labels = [
        ("plugin", "burner"),
        ("route", "api"),
        ("version", version),
        ("role", "stable"),
    ];
    assert_eq!(
        metrics::value(&samples, "portcullis_plugin_calls_total", &labels),
        Some(30.0)
    );
    assert_eq!(
        metrics::value(&samples, "portcullis_plugin_cpu_seconds_count", &labels),
        Some(30.0)
    );
    let sum =
        metrics::value(&samples, "portcullis_plugin_cpu_seconds_sum", &labels).expect("a sum");
    assert!((0.045..0.18).contains(&sum), "30 calls of 3 ms: {sum} s");
    let trap = [("plugin", "trapper"), ("route", "trap"), ("kind", "trap")];
    assert_eq!(
        metrics::value(&samples, "portcullis_plugin_traps_total", &trap),
        Some(3.0)
    );
}
