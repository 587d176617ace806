//! Reload triggers survive whatever arrives: a manifest that once panicked the error renderer is
//! refused and reported while later manifests still load, and a file written continuously
//! beside the manifest neither starves the watcher nor triggers reloads of its own.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use portcullis_tests::{Client, EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, tag: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{upstream}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"

[[routes.api.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-generation = "{tag}" }} }} }}
"#,
        upstream = upstream.authority()
    )
}

/// Replaces a file the way deployment tools do: a temporary file renamed over it.
fn replace(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// Asks for `/` until the response carries `x-generation: tag`, for at most `within`.
async fn served_generation(gateway: &TestGateway, tag: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let response = gateway.client().get("/").await;
        assert_eq!(response.status, 200, "no request fails while reloading");
        if response.header("x-generation") == Some(tag) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn watched_gateway() -> (EchoUpstream, TestGateway) {
    let upstream = EchoUpstream::start("echo").await;
    let mut gateway = TestGateway::start(&manifest(&upstream, "one")).await;
    gateway
        .running_mut()
        .watch_files()
        .expect("the files are watched");
    (upstream, gateway)
}

#[tokio::test]
async fn a_crlf_manifest_with_an_unterminated_string_is_refused_and_the_watcher_lives_on() {
    let (upstream, gateway) = watched_gateway().await;
    let path = gateway.dir().join("portcullis.toml");
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));

    // Eight bytes that once panicked the diagnostic renderer inside the watcher's task.
    replace(&path, b"a = \"x\r\n");
    let mut refused = None;
    for _ in 0..100 {
        let status = admin.get("/status").await.json();
        if status["reloads"]["failed"] == 1 {
            refused = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = refused.expect("the refused reload is recorded in /status");
    let errors = status["reloads"]["last"]["errors"].to_string();
    assert!(errors.contains("invalid TOML"), "{errors}");
    assert!(errors.contains("portcullis.toml:1:"), "{errors}");
    assert_eq!(
        gateway.client().get("/").await.header("x-generation"),
        Some("one"),
        "the previous configuration keeps serving"
    );

    replace(&path, manifest(&upstream, "two").as_bytes());
    assert!(
        served_generation(&gateway, "two", Duration::from_secs(10)).await,
        "a valid manifest after the broken one is still picked up by the watcher"
    );
}

#[tokio::test]
async fn the_admin_api_reports_a_broken_manifest_and_reloads_the_next_one() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, "one")).await;
    let path = gateway.dir().join("portcullis.toml");
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));

    std::fs::write(&path, b"a = \"x\r\n").expect("write");
    let refused = admin
        .send(http::Method::POST, "/reload", &[], bytes::Bytes::new())
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.json()["errors"]
            .to_string()
            .contains("invalid TOML"),
        "{}",
        refused.text()
    );

    std::fs::write(&path, manifest(&upstream, "two")).expect("write");
    let accepted = admin
        .send(http::Method::POST, "/reload", &[], bytes::Bytes::new())
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
}

#[tokio::test]
async fn a_log_written_beside_the_manifest_neither_starves_nor_triggers_reloads() {
    let (upstream, gateway) = watched_gateway().await;
    let dir = gateway.dir().to_owned();
    let writing = Arc::new(AtomicBool::new(true));
    // A line every 25 ms into a file beside the manifest, for the whole test.
    let logger = {
        let writing = writing.clone();
        let log = dir.join("app.log");
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(log).expect("create the log");
            while writing.load(Ordering::Relaxed) {
                let _ = writeln!(file, "a line of an application's log");
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = admin.get("/status").await.json();
    assert_eq!(
        status["reloads"]["succeeded"], 0,
        "writes to other files trigger nothing"
    );

    replace(
        &dir.join("portcullis.toml"),
        manifest(&upstream, "two").as_bytes(),
    );
    let picked_up = served_generation(&gateway, "two", Duration::from_secs(10)).await;
    writing.store(false, Ordering::Relaxed);
    logger.join().expect("the log writer");
    assert!(
        picked_up,
        "the new manifest serves while the log keeps being written"
    );
    let status = admin.get("/status").await.json();
    assert_eq!(status["reloads"]["succeeded"], 1);
    assert_eq!(status["reloads"]["last"]["trigger"], "file-change");
}
