//! Chains: order, request and response edits, context passed along, path rewriting.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

#[tokio::test]
async fn plugins_run_on_request_in_manifest_order_and_on_response_in_reverse() {
    let upstream = EchoUpstream::start("echo").await;
    let tag = |name: &str| {
        format!(
            r#"
[[routes.api.plugins]]
plugin = "headers"
name = "{name}"
config = {{ request = {{ add = {{ x-chain = "{name}" }} }}, response = {{ add = {{ x-chain = "{name}" }} }} }}
"#
        )
    };
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[[plugins]]
plugin = "headers"
name = "global"
config = {{ request = {{ add = {{ x-chain = "global" }} }}, response = {{ add = {{ x-chain = "global" }} }} }}

[routes.api]
upstream = "echo"
match.path-prefix = "/"
{}{}{}"#,
        upstream.authority(),
        tag("first"),
        tag("second"),
        tag("third")
    );
    let gateway = TestGateway::start(&manifest).await;

    let response = gateway.client().get("/").await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.upstream_saw_header("x-chain"),
        ["global", "first", "second", "third"]
    );
    let on_response: Vec<_> = response
        .headers
        .get_all("x-chain")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(on_response, ["third", "second", "first", "global"]);
}

#[tokio::test]
async fn headers_are_set_and_removed_on_both_sides() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "headers"
config = { request = { set = { x-env = "prod" }, remove = ["x-internal"] }, response = { set = { x-served-by = "portcullis" }, remove = ["x-upstream"] } }
"#,
    );
    let gateway = TestGateway::start(&manifest).await;

    let response = gateway
        .client()
        .get_with("/", &[("x-internal", "secret"), ("x-env", "dev")])
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.upstream_saw_header("x-env"), ["prod"]);
    assert!(response.upstream_saw_header("x-internal").is_empty());
    assert_eq!(response.header("x-served-by"), Some("portcullis"));
    assert_eq!(response.header("x-upstream"), None);
}

#[tokio::test]
async fn path_rewrite_uses_the_route_template_parameters() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{0}"]

[routes.user]
upstream = "echo"
match.path = "/users/{{id}}/profile"

[[routes.user.plugins]]
plugin = "path-rewrite"
config = {{ template = "/v2/profiles/{{id}}" }}

[routes.legacy]
upstream = "echo"
match.path-prefix = "/legacy"

[[routes.legacy.plugins]]
plugin = "path-rewrite"
config = {{ strip-prefix = "/legacy" }}
"#,
        upstream.authority()
    );
    let gateway = TestGateway::start(&manifest).await;
    let client = gateway.client();

    let response = client.get("/users/42/profile?full=1").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["path"], "/v2/profiles/42");
    assert_eq!(response.json()["query"], "full=1");

    let response = client.get("/legacy/orders/7").await;
    assert_eq!(response.json()["path"], "/orders/7");
}

#[tokio::test]
async fn the_upstream_sees_forwarding_headers_and_hop_by_hop_fields_are_dropped() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(&upstream, "");
    let gateway = TestGateway::start(&manifest).await;

    let response = gateway
        .client()
        .get_with(
            "/",
            &[
                ("connection", "x-hop"),
                ("x-hop", "1"),
                ("x-forwarded-for", "203.0.113.9"),
                ("host", "api.example.com"),
            ],
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.upstream_saw_header("x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"]
    );
    assert_eq!(response.upstream_saw_header("x-forwarded-proto"), ["http"]);
    assert_eq!(
        response.upstream_saw_header("x-forwarded-host"),
        ["api.example.com"]
    );
    assert_eq!(response.upstream_saw_header("host"), ["api.example.com"]);
    assert_eq!(response.upstream_saw_header("via"), ["1.1 portcullis"]);
    assert!(response.upstream_saw_header("x-hop").is_empty());
    assert_eq!(response.upstream_saw_header("x-request-id").len(), 1);
    assert!(
        response
            .header("via")
            .is_some_and(|v| v.ends_with("1.1 portcullis"))
    );
}
