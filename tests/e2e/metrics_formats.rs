//! `/metrics` speaks both text formats, each as its own parser reads it: Prometheus' OpenMetrics
//! `Accept` header gets OpenMetrics 1.0 under its content type, and anything else gets the 0.0.4
//! text format. Both are read by Prometheus' own Python client library, whose parsers are
//! strict where it matters: a counter typed under the wrong name is read as empty.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use portcullis_tests::{Client, EchoUpstream, TestGateway};

/// The `Accept` header Prometheus 2.x and 3.x send when scraping.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Parses stdin with the chosen parser and prints `name type samples` per family.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text_004
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
parse = openmetrics if sys.argv[1] == "openmetrics" else text_004
for family in parse(sys.stdin.read()):
    print(family.name, family.type, len(family.samples))
"#;

/// A Python with `prometheus-client` installed, in a virtual environment under `target/`
/// made on first use. Fails (never skips) when python3 or PyPI is missing.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv-prometheus");
    let python = venv.join("bin/python");
    let ready = venv.join("ready");
    if !ready.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs (apt-get install python3-venv)");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "prometheus-client==0.21.1",
            ])
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install prometheus-client failed");
        std::fs::write(&ready, b"").expect("mark the environment ready");
    }
    python
}

/// Each family the parser read: (name, type, number of samples).
fn parsed(format: &str, text: &str) -> Vec<(String, String, usize)> {
    let mut child = Command::new(python())
        .args(["-c", PARSE, format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the parser");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("feed the parser");
    }
    let output = child.wait_with_output().expect("the parser ends");
    assert!(
        output.status.success(),
        "the {format} parser refused the exposition:\n{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            Some((
                words.next()?.to_owned(),
                words.next()?.to_owned(),
                words.next()?.parse().ok()?,
            ))
        })
        .collect()
}

async fn gateway_with_traffic() -> (EchoUpstream, TestGateway, Client) {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"

[[routes.api.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-seen = "yes" }} }} }}
"#,
        upstream.authority()
    ))
    .await;
    assert_eq!(gateway.client().get("/").await.status, 200);
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));
    (upstream, gateway, admin)
}

fn family<'a>(
    families: &'a [(String, String, usize)],
    name: &str,
) -> Option<&'a (String, String, usize)> {
    families.iter().find(|(n, _, _)| n == name)
}

#[tokio::test]
async fn a_plain_scrape_gets_0_0_4_text_whose_counters_have_their_samples() {
    let (_upstream, _gateway, admin) = gateway_with_traffic().await;

    let response = admin.get("/metrics").await;

    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    assert!(!text.contains("# EOF"), "{text}");
    let families = parsed("text", &text);
    let requests = family(&families, "portcullis_requests").expect("the requests family");
    assert_eq!(requests.1, "counter", "{families:?}");
    assert!(requests.2 >= 1, "the counter has its samples: {families:?}");
    let untyped: Vec<_> = families.iter().filter(|f| f.1 == "unknown").collect();
    assert!(untyped.is_empty(), "every family is typed: {untyped:?}");
}

#[tokio::test]
async fn prometheus_gets_openmetrics_that_the_strict_parser_accepts() {
    let (_upstream, _gateway, admin) = gateway_with_traffic().await;

    let response = admin
        .get_with("/metrics", &[("accept", PROMETHEUS_ACCEPT)])
        .await;

    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let families = parsed("openmetrics", &response.text());
    let requests = family(&families, "portcullis_requests").expect("the requests family");
    assert_eq!(requests.1, "counter", "{families:?}");
    assert!(requests.2 >= 1, "{families:?}");
}
