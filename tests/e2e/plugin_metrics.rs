//! Plugins' own metrics (the WIT `metrics` interface): what the `misbehave` plugin records in
//! `metrics` mode reaches `/metrics` with exact counts, labelled by plugin and route; invalid
//! names come back to the plugin as errors; the cardinality bound drops and counts; a reload
//! keeps the values. And a component built against the 0.1.0 WIT, without `metrics`, still
//! loads and runs.

use portcullis_tests::metrics::{self, Sample};
use portcullis_tests::{Client, EchoUpstream, TestGateway};

/// `misbehave` in `metrics` mode on two routes: `a` as `counted`, `b` as `counted` and `other`.
fn manifest(upstream: &EchoUpstream) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[routes.a]
upstream = "echo"
match.path-prefix = "/a"

[[routes.a.plugins]]
name = "counted"
wasm = "@MISBEHAVE@"
config = {{ mode = "metrics" }}

[routes.b]
upstream = "echo"
match.path-prefix = "/b"

[[routes.b.plugins]]
name = "counted"
wasm = "@MISBEHAVE@"
config = {{ mode = "metrics" }}

[[routes.b.plugins]]
name = "other"
wasm = "@MISBEHAVE@"
config = {{ mode = "metrics" }}
"#,
        upstream.authority()
    )
}

async fn scrape(gateway: &TestGateway) -> Vec<Sample> {
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));
    let response = admin.get("/metrics").await;
    assert_eq!(response.status, 200);
    metrics::parse(&response.text())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics::value(samples, name, labels)
}

#[tokio::test]
async fn plugin_counters_and_histograms_reach_metrics_labelled_by_plugin_and_route() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let client = gateway.client();
    for _ in 0..3 {
        assert_eq!(client.get("/a/xy").await.status, 200);
    }
    assert_eq!(client.get("/b").await.status, 200);
    // A reload keeps what was counted.
    gateway
        .running()
        .reload()
        .await
        .expect("the reload succeeds");
    let posted = client
        .send(http::Method::POST, "/a", &[], bytes::Bytes::new())
        .await;
    assert_eq!(posted.status, 200);

    let samples = scrape(&gateway).await;
    let seen = "portcullis_plugin_requests_seen_total";
    let on = |plugin, route, method| [("plugin", plugin), ("route", route), ("method", method)];
    assert_eq!(value(&samples, seen, &on("counted", "a", "GET")), Some(3.0));
    assert_eq!(
        value(&samples, seen, &on("counted", "a", "POST")),
        Some(1.0)
    );
    assert_eq!(value(&samples, seen, &on("counted", "b", "GET")), Some(1.0));
    assert_eq!(value(&samples, seen, &on("other", "b", "GET")), Some(1.0));
    assert_eq!(value(&samples, seen, &on("other", "a", "GET")), None);

    // `path_bytes` observed the path's length in on-response: 5 bytes (`/a/xy`) three times, 2 once.
    let count = "portcullis_plugin_path_bytes_count";
    let sum = "portcullis_plugin_path_bytes_sum";
    let a = [("plugin", "counted"), ("route", "a")];
    assert_eq!(value(&samples, count, &a), Some(4.0));
    assert_eq!(value(&samples, sum, &a), Some(3.0 * 5.0 + 2.0));
    let bucket = |le| {
        let labels = [("plugin", "counted"), ("route", "a"), ("le", le)];
        value(&samples, "portcullis_plugin_path_bytes_bucket", &labels)
    };
    assert_eq!(bucket("2.5"), Some(1.0));
    assert_eq!(bucket("5.0"), Some(4.0));
    assert_eq!(bucket("+Inf"), Some(4.0));
    assert_eq!(
        value(
            &samples,
            "portcullis_plugin_metrics_dropped_total",
            &[("plugin", "counted")]
        ),
        None
    );
}

#[tokio::test]
async fn an_invalid_metric_name_is_an_error_returned_to_the_plugin() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let client = gateway.client();
    for (name, error) in [
        ("Bad-Name", "`Bad-Name` is not a valid metric name"),
        ("failures", "`failures` is reserved"),
    ] {
        let response = client.get_with("/a", &[("x-metric-name", name)]).await;
        // The request goes on: the plugin chose to report the error, not to fail.
        assert_eq!(response.status, 200);
        let got = response.header("x-metric-error").unwrap_or_default();
        assert!(got.starts_with(error), "{name}: {got}");
    }
    let response = client.get_with("/a", &[("x-metric-name", "fine")]).await;
    assert_eq!(response.header("x-metric-error"), None);
    let samples = scrape(&gateway).await;
    let fine = [("plugin", "counted"), ("route", "a")];
    assert_eq!(
        value(&samples, "portcullis_plugin_fine_total", &fine),
        Some(1.0)
    );
}

#[tokio::test]
async fn label_sets_past_the_bound_are_dropped_and_counted() {
    const BOUND: usize = portcullis::observe::metrics::plugin::MAX_SERIES;
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let client = gateway.client();
    for i in 0..BOUND + 5 {
        let label = format!("v{i}");
        let response = client.get_with("/a", &[("x-metric-label", &label)]).await;
        assert_eq!(response.status, 200);
    }
    // Route `b` has a bound of its own.
    assert_eq!(
        client
            .get_with("/b", &[("x-metric-label", "v0")])
            .await
            .status,
        200
    );
    let samples = scrape(&gateway).await;
    let series: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.name == "portcullis_plugin_by_label_total"
                && s.labels.get("plugin").map(String::as_str) == Some("counted")
                && s.labels.get("route").map(String::as_str) == Some("a")
        })
        .collect();
    assert_eq!(series.len(), BOUND);
    assert!(series.iter().all(|s| s.value == 1.0));
    let first = [("plugin", "counted"), ("route", "a"), ("value", "v0")];
    let past = [("plugin", "counted"), ("route", "a"), ("value", "v64")];
    assert_eq!(
        value(&samples, "portcullis_plugin_by_label_total", &first),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "portcullis_plugin_by_label_total", &past),
        None
    );
    let dropped = "portcullis_plugin_metrics_dropped_total";
    let a = [("plugin", "counted"), ("route", "a")];
    assert_eq!(value(&samples, dropped, &a), Some(5.0));
    let b = [("plugin", "counted"), ("route", "b"), ("value", "v0")];
    assert_eq!(
        value(&samples, "portcullis_plugin_by_label_total", &b),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_component_built_against_wit_0_1_0_still_loads_and_runs() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[routes.old]
upstream = "echo"
match.path-prefix = "/"

[[routes.old.plugins]]
name = "old"
wasm = "@ABI_0_1_0@"

[[routes.old.plugins]]
name = "new"
plugin = "headers"
isolation = "reuse"
config = {{ response = {{ add = {{ x-new = "1" }} }} }}
"#,
        upstream.authority()
    );
    let gateway = TestGateway::start(&manifest).await;
    let response = gateway.client().get("/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.upstream_saw_header("x-abi"), ["0.1.0"]);
    assert_eq!(response.header("x-abi"), Some("0.1.0"));

    // It was promised one instance for both calls of a request, and keeps it; a component of
    // the current contract lends its instance per call.
    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));
    let plugins = admin.get("/plugins").await.json();
    let lending = |name: &str| {
        plugins["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .map(|p| p["lending"].clone())
            .unwrap_or_else(|| panic!("no plugin `{name}` in {plugins}"))
    };
    assert_eq!(lending("old"), "request", "{plugins}");
    assert_eq!(lending("new"), "call", "{plugins}");
}
