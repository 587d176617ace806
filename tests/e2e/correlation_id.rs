//! `correlation-id` in front of a real upstream: an id generated or propagated, seen by the
//! upstream, echoed to the client and printed in the access log.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, config: &str) -> String {
    one_route(
        upstream,
        &format!("\n[[routes.api.plugins]]\nplugin = \"correlation-id\"\nconfig = {config}\n"),
    )
}

fn is_uuid_v4(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            14 => c == '4',
            19 => matches!(c, '8' | '9' | 'a' | 'b'),
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

#[tokio::test]
async fn a_request_without_an_id_gets_a_new_uuid_seen_upstream_and_echoed() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "{}")).await;
    let client = gateway.client();

    let first = client.get("/").await;
    let second = client.get("/").await;

    assert_eq!(first.status, 200);
    let seen = first.upstream_saw_header("x-correlation-id");
    assert_eq!(seen.len(), 1);
    assert!(is_uuid_v4(&seen[0]), "{seen:?}");
    assert_eq!(first.header("x-correlation-id"), Some(seen[0].as_str()));
    assert_ne!(
        second.header("x-correlation-id"),
        first.header("x-correlation-id"),
        "every request gets its own id"
    );
}

#[tokio::test]
async fn a_valid_incoming_id_is_propagated_and_an_invalid_one_replaced() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "{}")).await;
    let client = gateway.client();

    let response = client
        .get_with("/", &[("x-correlation-id", "order-flow-42")])
        .await;
    assert_eq!(
        response.upstream_saw_header("x-correlation-id"),
        ["order-flow-42"]
    );
    assert_eq!(response.header("x-correlation-id"), Some("order-flow-42"));

    let response = client
        .get_with("/", &[("x-correlation-id", "two words")])
        .await;
    let seen = response.upstream_saw_header("x-correlation-id");
    assert!(is_uuid_v4(&seen[0]), "{seen:?}");
}

#[tokio::test]
async fn the_request_id_generator_and_a_custom_header_reuse_the_gateways_id() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"{ header = "X-Trace-Id", generator = "request-id", echo-downstream = false }"#,
    ))
    .await;

    let response = gateway.client().get("/").await;

    assert_eq!(
        response.upstream_saw_header("x-trace-id"),
        response.upstream_saw_header("x-request-id")
    );
    assert_eq!(
        response.header("x-trace-id"),
        None,
        "echo-downstream is off"
    );
}

#[tokio::test]
async fn the_id_reaches_the_access_log_under_correlation_id() {
    portcullis_tests::logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "{}")).await;

    let response = gateway
        .client()
        .get_with("/", &[("x-correlation-id", "access-log-correlation-1")])
        .await;

    assert_eq!(response.status, 200);
    let line = portcullis_tests::logs::wait_for(
        &["access", r#"correlation-id="access-log-correlation-1""#],
        std::time::Duration::from_secs(5),
    );
    assert!(
        line.is_some(),
        "the log:\n{}",
        portcullis_tests::logs::all()
    );
}

#[tokio::test]
async fn an_invalid_header_name_is_refused_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;

    let error = TestGateway::try_start(&manifest(&upstream, r#"{ header = "x trace" }"#))
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `correlation-id` on route `api` rejected its config"),
        "{error}"
    );
    assert!(error.contains("`header` `x trace`"), "{error}");
}
