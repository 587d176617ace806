//! Access lines as the manifest's `[access-log]` table configures them (destination beside the
//! manifest, format, context keys), a reload that moves them without losing one, and byte
//! counts that are exact for streamed bodies, written when the body ends or breaks off.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, access_log: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

{access_log}

[upstreams.echo]
targets = ["{}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"

[routes.stalls]
upstream = "echo"
match.path-prefix = "/drip/5000"
idle-timeout = "200ms"

[[routes.api.plugins]]
wasm = "{}"
name = "context"
config = {{ mode = "context" }}
"#,
        upstream.authority(),
        portcullis_tests::guests::MISBEHAVE,
    )
}

async fn wait_for_lines(path: &Path, n: usize) -> Vec<String> {
    for _ in 0..250 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} access lines in {}", path.display());
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[tokio::test]
async fn the_access_log_table_names_a_file_beside_the_manifest_and_the_context_it_shows() {
    let upstream = EchoUpstream::start("echo").await;
    let table = r#"[access-log]
destination = "access.log"
format = "json"
context = ["consumer"]"#;
    let gateway = TestGateway::start(&manifest(&upstream, table)).await;
    let response = gateway
        .client()
        .get_with("/x", &[("x-request-id", "t-1")])
        .await;
    assert_eq!(response.status, 200);
    let lines = wait_for_lines(&gateway.dir().join("access.log"), 1).await;
    let line = json(&lines[0]);
    assert_eq!(line["request_id"], "t-1");
    assert_eq!(line["route"], "api");
    // `internal` was set too, but the table shows only `consumer`.
    assert_eq!(line["context"], serde_json::json!({"consumer": "alice"}));
}

#[tokio::test]
async fn a_reload_moves_access_lines_to_the_new_destination_without_losing_any() {
    let upstream = EchoUpstream::start("echo").await;
    let first = "[access-log]\ndestination = \"first.log\"";
    let gateway = TestGateway::start(&manifest(&upstream, first)).await;
    let client = gateway.client();
    client.get_with("/a", &[("x-request-id", "before")]).await;

    let second = "[access-log]\ndestination = \"second.log\"\nformat = \"common\"";
    std::fs::write(
        gateway.dir().join("portcullis.toml"),
        manifest(&upstream, second),
    )
    .expect("rewrite the manifest");
    gateway
        .running()
        .reload()
        .await
        .expect("the reload succeeds");
    client.get_with("/b", &[("x-request-id", "after")]).await;

    let before = wait_for_lines(&gateway.dir().join("first.log"), 1).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(json(&before[0])["request_id"], "before");
    let after = wait_for_lines(&gateway.dir().join("second.log"), 1).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        after[0].contains("\"GET /b HTTP/1.1\" 200 "),
        "{}",
        after[0]
    );
    assert!(after[0].contains("request_id=after"), "{}", after[0]);
}

#[tokio::test]
async fn a_reload_that_cannot_open_the_new_destination_is_refused() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "")).await;
    let table = "[access-log]\ndestination = \"no/such/dir/access.log\"";
    std::fs::write(
        gateway.dir().join("portcullis.toml"),
        manifest(&upstream, table),
    )
    .expect("rewrite the manifest");
    let errors = gateway.running().reload().await.expect_err("refused");
    assert!(
        errors[0].contains("cannot open the access log") && errors[0].contains("no/such/dir"),
        "{errors:?}"
    );
    assert_eq!(gateway.client().get("/").await.status, 200);
}

#[tokio::test]
async fn streamed_bodies_are_counted_exactly_in_both_directions() {
    let upstream = EchoUpstream::start("echo").await;
    let table = "[access-log]\ndestination = \"access.log\"";
    let gateway = TestGateway::start(&manifest(&upstream, table)).await;
    // `/drip/50` answers chunked (no content-length): `first;`, then the description.
    let sent = Bytes::from(vec![b'x'; 100_000]);
    let response = gateway
        .client()
        .send(Method::POST, "/drip/50", &[], sent.clone())
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), None);
    let received = response.body.len() as u64;
    assert!(response.body.starts_with(b"first;"));

    let lines = wait_for_lines(&gateway.dir().join("access.log"), 1).await;
    let line = json(&lines[0]);
    assert_eq!(line["bytes"], received, "{line}");
    assert_eq!(line["bytes_received"], sent.len() as u64, "{line}");
    assert_eq!(line["aborted"], false, "{line}");
}

#[tokio::test]
async fn a_body_cut_short_is_logged_as_aborted_with_the_bytes_that_went() {
    let upstream = EchoUpstream::start("echo").await;
    let table = "[access-log]\ndestination = \"access.log\"";
    let gateway = TestGateway::start(&manifest(&upstream, table)).await;
    // The route's idle-timeout (200ms) ends the body after `first;`.
    let (status, body) = gateway.client().get_streamed("/drip/5000").await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "the body breaks off: {body:?}");

    let lines = wait_for_lines(&gateway.dir().join("access.log"), 1).await;
    let line = json(&lines[0]);
    assert_eq!(line["route"], "stalls");
    assert_eq!(line["bytes"], "first;".len() as u64, "{line}");
    assert_eq!(line["aborted"], true, "{line}");
}
