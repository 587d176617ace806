//! `acl` after an authentication plugin: allow and deny by the `consumer` and `consumer.groups`
//! context keys that key-auth writes.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, acl: &str) -> String {
    one_route(
        upstream,
        &format!(
            r#"
[[routes.api.plugins]]
plugin = "key-auth"
config = {{ consumers = {{ alice = ["alice-key"], bob = ["bob-key"], mallory = ["mallory-key"] }}, groups = {{ admins = ["alice", "mallory"] }} }}

[[routes.api.plugins]]
plugin = "acl"
config = {acl}
"#
        ),
    )
}

async fn status_for(gateway: &TestGateway, key: &str) -> u16 {
    gateway
        .client()
        .get_with("/admin", &[("apikey", key)])
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn an_allowed_group_passes_and_everyone_else_gets_403() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"{ allow-groups = ["admins"], deny-consumers = ["mallory"] }"#,
    ))
    .await;

    assert_eq!(status_for(&gateway, "alice-key").await, 200);
    let response = gateway
        .client()
        .get_with("/admin", &[("apikey", "bob-key")])
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"], "forbidden");
    assert_eq!(
        response.json()["message"],
        "consumer `bob` is not allowed here"
    );
    assert_eq!(
        status_for(&gateway, "mallory-key").await,
        403,
        "deny wins over the group"
    );
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn a_deny_list_alone_lets_the_others_through() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"{ deny-groups = ["admins"] }"#)).await;

    assert_eq!(status_for(&gateway, "bob-key").await, 200);
    assert_eq!(status_for(&gateway, "alice-key").await, 403);
}

#[tokio::test]
async fn without_an_authentication_plugin_before_it_acl_refuses() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "acl"
config = { allow-consumers = ["alice"] }
"#,
    ))
    .await;

    let response = gateway.client().get("/admin").await;

    assert_eq!(response.status, 403);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn an_empty_acl_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;
    let error = TestGateway::try_start(&one_route(
        &upstream,
        "\n[[routes.api.plugins]]\nplugin = \"acl\"\nconfig = {}\n",
    ))
    .await
    .err()
    .expect("the manifest is refused");

    assert!(
        error.contains("plugin `acl` on route `api` rejected its config"),
        "{error}"
    );
    assert!(error.contains("no rule"), "{error}");
}
