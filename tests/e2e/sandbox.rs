//! A misbehaving plugin fails its own request, per its failure policy, and nothing else: traps,
//! panics, endless loops and memory bombs are contained, explained in the log, and the process
//! and every other request carry on.

use std::time::{Duration, Instant};

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway, logs};

fn manifest(upstream: &EchoUpstream, plugin: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[routes.fast]
upstream = "echo"
match.path-prefix = "/fast"

[routes.bad]
upstream = "echo"
match.path-prefix = "/bad"

[[routes.bad.plugins]]
wasm = "@MISBEHAVE@"
name = "misbehave"
{plugin}
"#,
        upstream.authority()
    )
}

#[tokio::test]
async fn a_trapping_plugin_under_fail_closed_fails_the_request_with_a_json_500() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"config = { mode = "trap" }"#)).await;

    let response = gateway.client().get("/bad").await;

    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"], "plugin_failed");
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("misbehave")
    );
    assert_eq!(
        upstream.requests(),
        0,
        "a fail-closed failure must not reach the upstream"
    );
    assert_eq!(gateway.client().get("/fast").await.status, 200);
}

#[tokio::test]
async fn a_plugin_blocked_in_a_wasi_wait_is_cut_at_its_wall_clock_bound() {
    // A 60 s sleep spends no CPU tick; the wall-clock bound (ten times the CPU limit plus a
    // second: 1.2 s here) stops it.
    logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    let plugin = "cpu = \"20ms\"\nconfig = { mode = \"sleep\", micros = 60000000 }";
    let gateway = TestGateway::start(&manifest(&upstream, plugin)).await;

    let started = Instant::now();
    let response = gateway.client().get("/bad").await;
    let elapsed = started.elapsed();

    assert_eq!(response.status, 500);
    assert!(
        elapsed >= Duration::from_millis(1100) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let id = response.json()["request_id"].as_str().unwrap().to_owned();
    let line = logs::wait_for(&[&id, "failed in on-request"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("a log line for the request; the log:\n{}", logs::all()));
    assert!(line.contains("wall-clock"), "{line}");
    assert_eq!(upstream.requests(), 0);
    assert_eq!(gateway.client().get("/fast").await.status, 200);
}

#[tokio::test]
async fn a_trapping_plugin_under_fail_open_is_skipped_and_the_request_goes_through() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "failure = \"fail-open\"\nconfig = { mode = \"trap\" }",
    ))
    .await;

    let response = gateway.client().get("/bad").await;

    assert_eq!(response.status, 200);
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn a_panic_message_from_the_plugin_reaches_the_log() {
    logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"config = { mode = "panic" }"#)).await;

    let response = gateway.client().get("/bad").await;

    assert_eq!(response.status, 500);
    let id = response.json()["request_id"].as_str().unwrap().to_owned();
    let line = logs::wait_for(&[&id, "failed in on-request"], Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "a log line for the failed request; the log:\n{}",
                logs::all()
            )
        });
    assert!(
        line.contains("misbehave asked to panic"),
        "the panic message is in the log: {line}"
    );
    assert!(line.contains("bad"), "the route is named: {line}");
}

#[tokio::test]
async fn an_endless_loop_is_cut_at_its_cpu_deadline_while_other_requests_are_served() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "cpu = \"1500ms\"\nconfig = { mode = \"loop\" }",
    ))
    .await;
    let client = gateway.client();

    let looping = tokio::spawn({
        let client = client.clone();
        async move {
            let started = Instant::now();
            let response = client.get("/bad").await;
            (response, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..20 {
        assert_eq!(client.get("/fast").await.status, 200);
    }
    assert!(
        !looping.is_finished(),
        "twenty requests on another route were served while the loop still ran"
    );

    let (response, elapsed) = looping.await.unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"], "plugin_failed");
    assert!(
        elapsed >= Duration::from_millis(1400),
        "the loop ran to its deadline, not less: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_its_limit_and_the_next_request_gets_a_fresh_instance() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "memory = \"32MiB\"\nconfig = { mode = \"memory\", after = 2 }",
    ))
    .await;
    let client = gateway.client();

    assert_eq!(
        client.get("/bad").await.status,
        200,
        "first request: behaves"
    );
    let bombed = client.get("/bad").await;
    assert_eq!(bombed.status, 500, "second request: the bomb");
    assert_eq!(bombed.json()["error"], "plugin_failed");
    assert_eq!(
        client.get("/bad").await.status,
        200,
        "a fresh instance serves the next request"
    );
    assert_eq!(client.get("/fast").await.status, 200);
}

#[tokio::test]
async fn a_plugin_error_is_a_request_failure_not_a_trap() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"config = { mode = "error" }"#)).await;

    let response = gateway.client().get("/bad").await;

    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"], "plugin_failed");
}

#[tokio::test]
async fn a_config_the_plugin_rejects_is_a_load_error_naming_plugin_route_and_position() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(
        &upstream,
        r#"config = { mode = "reject-config" }"#,
    ))
    .await
    .err()
    .expect("the manifest is refused");

    assert!(
        error.contains("plugin `misbehave` on route `bad` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("mode reject-config always rejects its config"),
        "{error}"
    );
    assert!(
        error.contains("portcullis.toml:"),
        "the manifest position is shown: {error}"
    );
}

#[tokio::test]
async fn a_prebuilt_plugin_config_with_an_unknown_key_is_a_load_error() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "key-auth"
config = { consumerz = { alice = ["k"] } }
"#,
    );

    let error = TestGateway::try_start(&manifest)
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `key-auth` on route `api` rejected its config"),
        "{error}"
    );
    assert!(error.contains("consumerz"), "{error}");
}

#[tokio::test]
async fn a_plugin_config_error_inside_the_config_names_the_path_to_the_key() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "key-auth"
config = { consumers = { alice = "k1" } }
"#,
    );

    let error = TestGateway::try_start(&manifest)
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `key-auth` on route `api` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("`consumers.alice`: invalid type: string \"k1\", expected a sequence"),
        "{error}"
    );
}

#[tokio::test]
async fn a_plugin_skipped_under_fail_open_is_not_called_on_the_response_either() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "failure = \"fail-open\"\nconfig = { mode = \"error\" }",
    ))
    .await;

    let response = gateway.client().get("/bad").await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("x-misbehave"),
        None,
        "on-response did not run for the skipped plugin"
    );
}

#[tokio::test]
async fn a_plugin_may_not_change_the_framing_headers() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "headers"
config = { request = { set = { content-length = "5" } } }
"#,
    ))
    .await;

    let response = gateway.client().get("/").await;

    assert_eq!(
        response.status, 500,
        "the edit is refused and the plugin fails closed"
    );
    assert_eq!(upstream.requests(), 0);
}
