//! Isolation modes: `request` gives every request a fresh instance, so nothing a plugin keeps
//! in memory survives it; `reuse` keeps warm instances and recycles them after `max-requests`.
//! The count is the one `on-request` saw (sent upstream): since contract 0.1.2 a request's
//! `on-response` may be served by another instance.

use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(upstream: &EchoUpstream, isolation: &str) -> String {
    let plugin = format!(
        r#"
[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
{isolation}
config = {{ mode = "stateful" }}
"#
    );
    one_route(upstream, &plugin)
}

async fn counts(gateway: &TestGateway, n: usize) -> Vec<String> {
    let client = gateway.client();
    let mut seen = Vec::new();
    for _ in 0..n {
        let response = client.get("/").await;
        assert_eq!(response.status, 200);
        let count = response.upstream_saw_header("x-count");
        seen.push(count.first().expect("the plugin's counter").clone());
    }
    seen
}

#[tokio::test]
async fn request_isolation_gives_every_request_a_fresh_instance() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"isolation = "request""#)).await;

    assert_eq!(counts(&gateway, 4).await, ["1", "1", "1", "1"]);
}

#[tokio::test]
async fn reuse_isolation_keeps_an_instance_across_sequential_requests() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, r#"isolation = "reuse""#)).await;

    assert_eq!(counts(&gateway, 4).await, ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn reuse_isolation_recycles_an_instance_after_max_requests() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(
        &upstream,
        "isolation = \"reuse\"\nmax-requests = 3",
    ))
    .await;

    assert_eq!(
        counts(&gateway, 7).await,
        ["1", "2", "3", "1", "2", "3", "1"]
    );
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk_so_a_restart_does_not_recompile() {
    let dir = tempfile::tempdir().unwrap();
    let options = portcullis::plugin::RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        no_cache: false,
        ..Default::default()
    };
    let runtime = portcullis::plugin::Runtime::new(&options).unwrap();
    let bytes = std::fs::read(portcullis_tests::guests::MISBEHAVE).unwrap();

    runtime.compile(&bytes).unwrap();

    let cached = walk(dir.path());
    assert!(
        !cached.is_empty(),
        "the compiled component was written to the cache directory"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
