//! `basic-auth` in front of a real upstream, with bcrypt and Argon2 hashes made by Python's
//! `bcrypt` and `argon2-cffi` (plugins/basic-auth/tests/generate.py).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};
use serde_json::Value;

fn fixture(user: &str, field: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/basic-auth/tests/hashes.json"
    );
    let fixtures: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("hashes.json")).expect("JSON");
    fixtures[user][field]
        .as_str()
        .expect("a fixture")
        .to_owned()
}

/// alice: bcrypt cost 4; bob: Argon2id; dave: bcrypt cost 10 (hence the CPU budget).
fn manifest(upstream: &EchoUpstream) -> String {
    one_route(
        upstream,
        &format!(
            r#"
[[routes.api.plugins]]
plugin = "basic-auth"
cpu = "2s"

[routes.api.plugins.config]
consumers = {{ alice = "{alice}", bob = "{bob}", dave = "{dave}" }}
groups = {{ admins = ["alice"], ops = ["alice", "bob"] }}

[[routes.api.plugins]]
plugin = "headers"
config = {{ request = {{ set = {{ x-groups = "${{consumer.groups}}" }} }} }}
"#,
            alice = fixture("alice", "hash"),
            bob = fixture("bob", "hash"),
            dave = fixture("dave", "hash"),
        ),
    )
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn no_credentials_get_401_with_a_basic_challenge() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway.client().get("/admin").await;

    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Basic realm="portcullis", charset="UTF-8""#)
    );
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn bcrypt_and_argon2_users_pass_with_consumer_and_groups_and_the_password_stays_here() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    for (user, groups) in [("alice", "admins,ops"), ("bob", "ops"), ("dave", "")] {
        let header = basic(user, &fixture(user, "password"));
        let response = gateway
            .client()
            .get_with(
                "/admin",
                &[("authorization", &header), ("x-consumer", "root")],
            )
            .await;
        assert_eq!(response.status, 200, "{user}: {:?}", response.body);
        assert_eq!(response.upstream_saw_header("x-consumer"), [user]);
        assert_eq!(response.upstream_saw_header("x-groups"), [groups], "{user}");
        assert!(response.upstream_saw_header("authorization").is_empty());
    }
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_malformed_headers_get_401() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    for header in [
        basic("alice", "wrong"),
        basic("mallory", "alice-password"),
        "Basic !!!not-base64".to_owned(),
        "Basic YWxpY2U=".to_owned(),
        "Basic".to_owned(),
    ] {
        let response = gateway
            .client()
            .get_with("/admin", &[("authorization", &header)])
            .await;
        assert_eq!(response.status, 401, "{header}: {:?}", response.body);
        assert_eq!(response.json()["error"], "unauthorized");
    }
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_plain_text_password_in_the_config_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "basic-auth"
config = { consumers = { alice = "hunter2" } }
"#,
    );

    let error = TestGateway::try_start(&manifest)
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `basic-auth` on route `api` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("consumer `alice`: the password hash is neither"),
        "{error}"
    );
}
