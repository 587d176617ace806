//! `key-auth` in front of a real upstream, the quickstart's 401-then-200 story.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream) -> String {
    one_route(
        upstream,
        r#"
[[routes.api.plugins]]
plugin = "key-auth"
config = { consumers = { alice = ["alice-key"], bob = ["bob-key-1", "bob-key-2"] } }

[[routes.api.plugins]]
plugin = "headers"
config = { request = { set = { x-consumer-name = "${consumer}" } } }
"#,
    )
}

#[tokio::test]
async fn a_request_without_a_key_gets_401_with_www_authenticate_and_never_reaches_the_upstream() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway.client().get("/orders").await;

    assert_eq!(response.status, 401);
    let challenge = response
        .header("www-authenticate")
        .expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with("Key"), "challenge: {challenge}");
    assert_eq!(response.json()["error"], "unauthorized");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_wrong_key_gets_401() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get_with("/orders", &[("apikey", "nope")])
        .await;

    assert_eq!(response.status, 401);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_valid_key_passes_and_the_upstream_sees_the_consumer_but_not_the_key() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get_with("/orders", &[("apikey", "bob-key-2")])
        .await;

    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.upstream_saw_header("x-consumer-name"), ["bob"]);
    assert!(
        response.upstream_saw_header("apikey").is_empty(),
        "the key must not reach the upstream"
    );
}

#[tokio::test]
async fn a_key_in_the_query_string_works_and_is_removed_from_the_query() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get("/orders?apikey=alice-key&page=2")
        .await;

    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["query"], "page=2");
    assert_eq!(response.upstream_saw_header("x-consumer-name"), ["alice"]);
}

#[tokio::test]
async fn the_consumer_written_to_the_context_reaches_the_access_log() {
    portcullis_tests::logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get_with(
            "/orders",
            &[
                ("apikey", "alice-key"),
                ("x-request-id", "access-log-consumer-1"),
            ],
        )
        .await;

    assert_eq!(response.status, 200);
    let line = portcullis_tests::logs::wait_for(
        &["access", "access-log-consumer-1"],
        std::time::Duration::from_secs(5),
    )
    .unwrap_or_else(|| {
        panic!(
            "an access line; the log:\n{}",
            portcullis_tests::logs::all()
        )
    });
    assert!(line.contains(r#"consumer="alice""#), "{line}");
}

#[tokio::test]
async fn every_copy_of_a_key_is_removed_not_only_the_one_that_was_checked() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get_with(
            "/orders?apikey=bob-key-1&page=2",
            &[("apikey", "alice-key")],
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.upstream_saw_header("x-consumer-name"),
        ["alice"],
        "the header wins"
    );
    assert_eq!(
        response.json()["query"],
        "page=2",
        "the query's key is gone too"
    );
}

#[tokio::test]
async fn a_consumers_groups_are_written_to_the_context_as_consumer_groups() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "key-auth"
config = { consumers = { alice = ["alice-key"], bob = ["bob-key"] }, groups = { admins = ["alice"], ops = ["alice", "bob"] } }

[[routes.api.plugins]]
plugin = "headers"
config = { request = { set = { x-groups = "${consumer.groups}" } } }
"#,
    ))
    .await;

    for (key, groups) in [("alice-key", "admins,ops"), ("bob-key", "ops")] {
        let response = gateway
            .client()
            .get_with("/orders", &[("apikey", key)])
            .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.upstream_saw_header("x-groups"), [groups]);
    }
}
