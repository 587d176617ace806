//! The admin dashboard in a real browser: headless Chromium (Debian's `chromium`) driven by
//! Playwright's `playwright-core` (installed project-locally into `tests/browser/node_modules`
//! with `npm ci`) against a real gateway with real traffic. Fails, never skips, when Chromium,
//! Node.js or npm is missing.
//!
//! The script (`dashboard.mjs`) checks what the page shows; this test starts the gateway, sends
//! traffic, and does what the script asks for on its stdout: stop an upstream, send a trapping
//! request, break the manifest. It writes `target/dashboard.png` (the artifact), and with
//! `PORTCULLIS_DOCS_SCREENSHOT=1` also `docs/images/dashboard.png` (the docs' screenshot): a test
//! run leaves the source tree as it found it.

#[allow(dead_code)] // the e2e tests use more of it
#[path = "../e2e/flaky.rs"]
mod flaky;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use portcullis_tests::{EchoUpstream, TestGateway};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use flaky::Flaky;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_owned()
}

fn manifest(orders: &EchoUpstream, good: &Flaky, doomed: &Flaky) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.orders]
targets = ["{orders}"]

[upstreams.inventory]
targets = ["{good}", "{doomed}"]
health.active = {{ path = "/healthz", interval = "100ms", timeout = "300ms", unhealthy-threshold = 1 }}
health.passive = {{ consecutive-failures = 3 }}

[[plugins]]
plugin = "correlation-id"

[routes.orders]
upstream = "orders"
match.path = "/orders/{{id}}"
match.methods = ["GET", "PUT"]

[[routes.orders.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-served-by = "portcullis" }} }} }}

[[routes.orders.plugins]]
plugin = "request-size-limit"
config = {{ limit = "64KiB" }}

[routes.inventory]
upstream = "inventory"
match.path-prefix = "/inventory"

[routes.traps]
upstream = "orders"
match.path-prefix = "/trap"

[[routes.traps.plugins]]
name = "trapper"
wasm = "@MISBEHAVE@"
config = {{ mode = "trap" }}
"#,
        orders = orders.authority(),
        good = good.authority(),
        doomed = doomed.authority(),
    )
}

/// `npm ci` in `tests/browser` when `playwright-core` is not installed yet.
async fn install_playwright(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .await
        .expect("npm runs (apt-get install nodejs npm)");
    assert!(status.success(), "npm ci in tests/browser failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_routes_chains_health_traps_and_a_refused_reload() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed at {chromium} (apt-get install chromium)"
    );
    let browser_dir = repository().join("tests/browser");
    install_playwright(&browser_dir).await;

    let orders = EchoUpstream::start("orders").await;
    let good = Flaky::start("good").await;
    let doomed = Flaky::start("doomed").await;
    let doomed_address = doomed.authority();
    let gateway = TestGateway::start(&manifest(&orders, &good, &doomed)).await;
    let admin = gateway.running().admin_address().expect("an admin API");
    let mut doomed = Some(doomed);

    // Real traffic for the whole run: each route, some refused.
    let client = gateway.client();
    let traffic = tokio::spawn(async move {
        loop {
            for path in ["/orders/42", "/inventory/widgets", "/orders/7", "/nowhere"] {
                let _ = client.get(path).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let expected = serde_json::json!({
        "routes": [
            { "id": "orders", "chain": ["correlation-id", "headers", "request-size-limit"] },
            { "id": "inventory", "chain": ["correlation-id"] },
            { "id": "traps", "chain": ["correlation-id", "trapper"] },
        ],
        "down_target": doomed_address,
        "trap_plugin": "traps/trapper",
        "refusal_contains": "no-such-upstream",
    });
    let expected_path = gateway.dir().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).expect("write expected.json");
    let artifact = repository().join("target/dashboard.png");
    // The docs' screenshot only when asked: a test run leaves the tree as it found it.
    let docs = std::env::var_os("PORTCULLIS_DOCS_SCREENSHOT")
        .is_some_and(|v| v == "1")
        .then(|| repository().join("docs/images/dashboard.png"));

    let mut node = Command::new("node")
        .arg(browser_dir.join("dashboard.mjs"))
        .arg(format!("http://{admin}/"))
        .arg(&expected_path)
        .arg(&artifact)
        .args(docs.as_deref())
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (apt-get install nodejs)");
    let mut stdin = node.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(node.stdout.take().expect("stdout")).lines();
    let mut log = Vec::new();
    let run = async {
        while let Some(line) = stdout.next_line().await.expect("node's output") {
            let Some(action) = line.strip_prefix("ACTION ") else {
                log.push(line);
                continue;
            };
            match action {
                "stop-upstream" => drop(doomed.take()),
                "trap" => {
                    let response = gateway.client().get("/trap").await;
                    assert_eq!(response.status, 500, "{}", response.text());
                }
                "break-manifest" => {
                    let path = gateway.dir().join("portcullis.toml");
                    let text = std::fs::read_to_string(&path).expect("the manifest");
                    let broken = text.replace(
                        "[routes.inventory]\nupstream = \"inventory\"",
                        "[routes.inventory]\nupstream = \"no-such-upstream\"",
                    );
                    assert_ne!(text, broken, "the manifest changed");
                    std::fs::write(&path, broken).expect("write the manifest");
                }
                other => panic!("unknown action {other}"),
            }
            stdin.write_all(b"done\n").await.expect("answer node");
        }
        node.wait().await.expect("node exits")
    };
    let status = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser test finishes within two minutes");
    traffic.abort();
    assert!(
        status.success(),
        "the dashboard test failed:\n{}",
        log.join("\n")
    );
    assert!(artifact.exists(), "the screenshot was written");
}
