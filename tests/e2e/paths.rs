//! Request paths are normalised before routing: every other spelling of a protected path
//! (dot segments, doubled slashes, encoded letters and dots, `;` parameters, encoded slashes)
//! is either routed as the protected path, so its plugins run, or refused with 400; none
//! reaches the upstream unauthenticated. Sent as raw request lines, so no client normalises
//! them first.

use portcullis_tests::raw;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, listener: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"
{listener}

[upstreams.echo]
targets = ["{}"]

[routes.public]
upstream = "echo"
match.path-prefix = "/"

[routes.admin]
upstream = "echo"
match.path-prefix = "/admin"

[[routes.admin.plugins]]
plugin = "key-auth"
config = {{ consumers = {{ alice = ["alice-key"] }} }}
"#,
        upstream.authority()
    )
}

async fn get(gateway: &TestGateway, target: &str, headers: &str) -> String {
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: api.test\r\n{headers}Connection: close\r\n\r\n");
    raw::exchange(gateway.address(), request.as_bytes()).await
}

/// The path the echo upstream says it received.
fn upstream_path(answer: &str) -> String {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    json["path"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn spellings_of_a_protected_path_never_reach_the_upstream_without_a_key() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "")).await;
    let spellings = [
        "/public/../admin/secret",
        "/public/./../admin/secret",
        "//admin/secret",
        "/%61dmin/secret",
        "/%61%64%6D%69%6E/secret",
        "/public/%2e%2e/admin/secret",
        "/public/%2E%2E/admin/secret",
        "/public/.%2e/admin/secret",
        "/admin;x=1/secret",
        "/public/..;/admin/secret",
        "/public%2f..%2fadmin/secret",
        "/public/..%2Fadmin/secret",
        "/public\\..\\admin/secret",
        "/public/%2e%2e%5cadmin/secret",
    ];
    for spelling in spellings {
        let answer = get(&gateway, spelling, "").await;
        let status = raw::status(&answer);
        assert!(
            status == 401 || status == 400,
            "{spelling} answered {status}: {answer}"
        );
    }
    assert_eq!(upstream.requests(), 0, "a spelling reached the upstream");
}

#[tokio::test]
async fn a_path_with_dot_segments_is_routed_and_forwarded_as_its_normal_form() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "")).await;

    let answer = get(
        &gateway,
        "/public/../admin/secret?x=%2e%2e",
        "apikey: alice-key\r\n",
    )
    .await;

    assert_eq!(raw::status(&answer), 200, "{answer}");
    assert_eq!(upstream_path(&answer), "/admin/secret");
    assert!(
        answer.contains(r#""query":"x=%2e%2e""#),
        "the query is kept as sent: {answer}"
    );
    let answer = get(&gateway, "//docs//%7Euser/./a%2fb", "").await;
    assert_eq!(
        raw::status(&answer),
        400,
        "an encoded slash is refused: {answer}"
    );
    let answer = get(&gateway, "//docs//%7Euser/./a%3fb", "").await;
    assert_eq!(upstream_path(&answer), "/docs/~user/a%3Fb");
}

#[tokio::test]
async fn a_listener_may_keep_encoded_slashes_and_semicolons_and_doubled_slashes() {
    let upstream = EchoUpstream::start("echo").await;
    let options =
        r#"path = { merge-slashes = false, escaped-slashes = "keep", semicolons = "keep" }"#;
    let gateway = TestGateway::start(&manifest(&upstream, options)).await;

    let answer = get(&gateway, "/files//a%2fb;v=1", "").await;

    assert_eq!(raw::status(&answer), 200, "{answer}");
    assert_eq!(upstream_path(&answer), "/files//a%2Fb;v=1");
    // Dot segments are removed whatever the options.
    let answer = get(&gateway, "/public/../admin/secret", "").await;
    assert_eq!(raw::status(&answer), 401, "{answer}");
}

#[tokio::test]
async fn a_listener_may_decode_encoded_slashes_before_routing() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        r#"path = { escaped-slashes = "decode" }"#,
    ))
    .await;

    let answer = get(&gateway, "/public%2f..%2fadmin/secret", "").await;
    assert_eq!(raw::status(&answer), 401, "{answer}");
    let answer = get(
        &gateway,
        "/public%2f..%2fadmin/secret",
        "apikey: alice-key\r\n",
    )
    .await;
    assert_eq!(upstream_path(&answer), "/admin/secret");
}

#[tokio::test]
async fn an_invalid_path_option_fails_the_manifest_with_the_choices() {
    let upstream = EchoUpstream::start("echo").await;
    let error = TestGateway::try_start(&manifest(
        &upstream,
        r#"path = { escaped-slashes = "decod" }"#,
    ))
    .await
    .err()
    .expect("the manifest is refused");
    assert!(
        error.contains("invalid `path.escaped-slashes` value `decod`"),
        "{error}"
    );
    assert!(error.contains("did you mean `decode`?"), "{error}");
}
