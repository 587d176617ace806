//! Response edits a plugin decides in `on-request` (contract 0.1.3: `set-response-header` and
//! its kin) and `scratch`, with the misbehaving test plugin: the gateway makes the edits at the
//! plugin's place in the response phase, on whichever response the request gets, only when the
//! plugin's `on-response` would have run; and `scratch` gives each request its own values back
//! although its two calls may run on different instances.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

/// `mode = "early"` hands `x-early: 1` to the gateway in `on-request`, and in `on-response`
/// tries the same and writes the answer it got in `x-late-error`.
const EARLY: &str = r#"
[[routes.api.plugins]]
name = "early"
wasm = "@MISBEHAVE@"
config = { mode = "early" }
"#;

#[tokio::test]
async fn an_edit_decided_in_on_request_is_on_the_upstreams_response_before_the_plugins_own_on_response()
 {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&one_route(&upstream, EARLY)).await;

    let response = gateway.client().get("/").await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-early"), Some("1"));
    assert!(
        response.upstream_saw_header("x-early").is_empty(),
        "a response edit, not a request one"
    );
    // In `on-response` the plugin saw the edit made already, and asking for a later edit
    // there is refused with what to do instead.
    assert_eq!(response.header("x-early-seen"), Some("1"));
    let refused = response.header("x-late-error").unwrap_or_default();
    assert!(
        refused.contains("edit it with the response's own functions"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_edit_decided_in_on_request_is_on_a_later_plugins_reply_and_on_the_gateways_own_error() {
    let upstream = EchoUpstream::start("echo").await;
    let deny = format!(
        "{EARLY}\n[[routes.api.plugins]]\nwasm = \"@MISBEHAVE@\"\nconfig = {{ mode = \"deny\", status = 403 }}\n"
    );
    let gateway = TestGateway::start(&one_route(&upstream, &deny)).await;
    let response = gateway.client().get("/").await;
    assert_eq!(response.status, 403, "the second plugin answered");
    assert_eq!(response.header("x-early"), Some("1"));

    // No upstream listens on this port: the gateway answers 502 itself.
    let closed = portcullis_tests::ports::free_port();
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.gone]
targets = ["127.0.0.1:{closed}"]

[routes.api]
upstream = "gone"
match.path-prefix = "/"
{EARLY}"#
    );
    let gateway = TestGateway::start(&manifest).await;
    let response = gateway.client().get("/").await;
    assert_eq!(response.status, 502);
    assert_eq!(response.header("x-early"), Some("1"));
}

#[tokio::test]
async fn an_edit_from_an_on_request_that_then_failed_is_not_made() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
failure = "fail-open"
config = { mode = "early-error" }
"#;
    let gateway = TestGateway::start(&one_route(&upstream, plugins)).await;

    let response = gateway.client().get("/").await;

    assert_eq!(response.status, 200, "skipped under fail-open");
    assert_eq!(response.header("x-early"), None);
}

#[tokio::test]
async fn scratch_gives_every_request_its_own_values_back_across_shared_instances() {
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
isolation = "reuse"
config = { mode = "scratch" }
"#;
    let gateway = TestGateway::start(&one_route(&upstream, plugins)).await;
    let client = gateway.client();

    // Requests in flight together share a few instances, each lent per call.
    let requests = (0..40).map(|i| {
        let client = client.clone();
        async move { (i, client.get(&format!("/r{i}")).await) }
    });
    for (i, response) in futures_util::future::join_all(requests).await {
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("x-scratch-path"),
            Some(format!("/r{i}").as_str()),
            "request {i} got its own value back"
        );
    }
}
