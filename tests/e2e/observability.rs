//! Observability: `/metrics` counts real traffic by route, method and status class; every
//! request gets one access line with its ids, route, target, status and durations; the W3C
//! `traceparent` reaches the upstream with the same trace and a new parent; the admin API's
//! inventory endpoints answer as `docs/admin-openapi.yaml` says.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use portcullis::observe::access_log::{AccessLog, Destination, Format};
use portcullis_tests::metrics::{self, Sample};
use portcullis_tests::{EchoUpstream, TestGateway, logs};

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Two routes on one echo upstream (`other` with the `headers` plugin), and the admin API.
fn manifest(upstream: &EchoUpstream) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/status"

[routes.other]
upstream = "echo"
match.path-prefix = "/ok"

# A value a later plugin could change, so `headers` has an `on-response` call to measure.
[[routes.other.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-seen = "${{method}}" }} }} }}
"#,
        upstream.authority()
    )
}

async fn scrape(gateway: &TestGateway) -> Vec<Sample> {
    let response = gateway.admin_client().get("/metrics").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    metrics::parse(&response.text())
}

fn requests(samples: &[Sample], route: &str, method: &str, class: &str) -> Option<f64> {
    metrics::value(
        samples,
        "portcullis_requests_total",
        &[
            ("route", route),
            ("method", method),
            ("status_class", class),
        ],
    )
}

#[tokio::test]
async fn metrics_count_requests_by_route_method_and_status_class() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let client = gateway.client();
    for _ in 0..3 {
        assert_eq!(client.get("/ok").await.status, 200);
    }
    for _ in 0..2 {
        assert_eq!(client.get("/status/503").await.status, 503);
    }
    let posted = client
        .send(Method::POST, "/ok", &[], Bytes::from_static(b"x"))
        .await;
    assert_eq!(posted.status, 200);
    let purge = Method::from_bytes(b"PURGE").expect("a method");
    assert_eq!(
        client.send(purge, "/ok", &[], Bytes::new()).await.status,
        200
    );
    assert_eq!(client.get("/nowhere").await.status, 404);
    gateway
        .running()
        .reload()
        .await
        .expect("the reload succeeds");

    let samples = scrape(&gateway).await;
    assert_eq!(requests(&samples, "other", "GET", "2xx"), Some(3.0));
    assert_eq!(requests(&samples, "other", "POST", "2xx"), Some(1.0));
    assert_eq!(requests(&samples, "other", "OTHER", "2xx"), Some(1.0));
    assert_eq!(requests(&samples, "api", "GET", "5xx"), Some(2.0));
    assert_eq!(requests(&samples, "", "GET", "4xx"), Some(1.0));
    assert_eq!(requests(&samples, "api", "GET", "2xx"), None);
    let count = |name: &str, labels: &[(&str, &str)]| metrics::value(&samples, name, labels);
    assert_eq!(
        count(
            "portcullis_request_duration_seconds_count",
            &[("route", "other")]
        ),
        Some(5.0)
    );
    assert_eq!(
        count(
            "portcullis_upstream_duration_seconds_count",
            &[("route", "api")]
        ),
        Some(2.0)
    );
    assert_eq!(
        count(
            "portcullis_plugin_duration_seconds_count",
            &[
                ("plugin", "headers"),
                ("route", "other"),
                ("phase", "on-response")
            ]
        ),
        Some(5.0)
    );
    let target = upstream.authority().to_string();
    assert_eq!(
        count(
            "portcullis_upstream_target_healthy",
            &[("upstream", "echo"), ("target", &target)]
        ),
        Some(1.0)
    );
    assert_eq!(count("portcullis_active_requests", &[]), Some(0.0));
    assert_eq!(
        count("portcullis_reloads_total", &[("outcome", "succeeded")]),
        Some(1.0)
    );

    // The registry outlives the snapshot: counts carry on after the reload.
    client.get("/ok").await;
    let samples = scrape(&gateway).await;
    assert_eq!(requests(&samples, "other", "GET", "2xx"), Some(4.0));
}

#[tokio::test]
async fn plugin_failures_are_counted_by_plugin_route_and_kind() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = format!(
        "{}\n[[routes.other.plugins]]\nname = \"bad\"\nwasm = \"@MISBEHAVE@\"\n\
         failure = \"fail-open\"\nconfig = {{ mode = \"trap\" }}\n",
        manifest(&upstream)
    );
    let gateway = TestGateway::start(&manifest).await;
    assert_eq!(gateway.client().get("/ok").await.status, 200);

    let samples = scrape(&gateway).await;
    let labels = [("plugin", "bad"), ("route", "other")];
    assert_eq!(
        metrics::value(
            &samples,
            "portcullis_plugin_failures_total",
            &[labels[0], labels[1], ("kind", "trap")]
        ),
        Some(1.0),
        "{samples:?}"
    );
    assert_eq!(
        metrics::value(&samples, "portcullis_plugin_fail_open_skips_total", &labels),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_traceparent_reaches_the_upstream_with_the_same_trace_and_a_new_parent() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get_with("/ok", &[("traceparent", INCOMING)])
        .await;
    let sent = response.upstream_saw_header("traceparent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let fields: Vec<_> = sent[0].split('-').collect();
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1], TRACE_ID);
    assert_eq!(fields[2].len(), 16);
    assert_ne!(fields[2], "00f067aa0ba902b7", "this hop is a new span");
    assert_eq!(fields[3], "01", "the sampled flag is kept");

    let fresh = gateway.client().get("/ok").await;
    let sent = fresh.upstream_saw_header("traceparent");
    let fields: Vec<_> = sent[0].split('-').collect();
    assert_eq!(fields.len(), 4, "{sent:?}");
    assert_eq!(fields[1].len(), 32);
    assert_ne!(fields[1], TRACE_ID, "a new trace starts");
}

#[tokio::test]
async fn each_request_gets_one_access_line_on_the_log() {
    logs::capture();
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let id = "observability-access-line-1";
    gateway
        .client()
        .get_with("/ok", &[("x-request-id", id), ("traceparent", INCOMING)])
        .await;

    let target = format!("target=\"{}\"", upstream.authority());
    let needles = [
        &format!("request_id=\"{id}\"")[..],
        "access",
        &format!("trace_id={TRACE_ID}"),
        "route=\"other\"",
        "upstream=\"echo\"",
        &target,
        "status=200",
        "client=127.0.0.1",
        "duration_us=",
        "upstream_us=",
        "plugins_us=",
    ];
    let line = logs::wait_for(&needles, Duration::from_secs(5));
    assert!(
        line.is_some(),
        "no access line with {needles:?}:\n{}",
        logs::all()
    );
}

#[tokio::test]
async fn access_lines_go_to_a_file_as_json() {
    let upstream = EchoUpstream::start("echo").await;
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("access.log");
    let access_log =
        AccessLog::open(&Destination::File(path.clone()), Format::Json).expect("opens");
    let gateway = TestGateway::start_with_access_log(&manifest(&upstream), access_log).await;
    let client = gateway.client();
    client
        .get_with(
            "/ok",
            &[("x-request-id", "file-1"), ("traceparent", INCOMING)],
        )
        .await;
    client
        .get_with("/nowhere", &[("x-request-id", "file-2")])
        .await;

    let lines = wait_for_lines(&path, 2).await;
    let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    assert_eq!(first["request_id"], "file-1");
    assert_eq!(first["trace_id"], TRACE_ID);
    assert_eq!(first["route"], "other");
    assert_eq!(first["upstream"], "echo");
    assert_eq!(first["target"], upstream.authority().to_string());
    assert_eq!(first["status"], 200);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/ok");
    assert_eq!(first["client"], "127.0.0.1");
    assert!(first["bytes"].as_u64().is_some_and(|b| b > 0), "{first}");
    assert!(first["duration_ms"].as_f64().is_some());
    assert!(first["upstream_ms"].as_f64().is_some());
    assert!(first["plugins_ms"].as_f64().is_some());
    let second: serde_json::Value = serde_json::from_str(&lines[1]).expect("JSON");
    assert_eq!(second["request_id"], "file-2");
    assert_eq!(second["status"], 404);
    assert_eq!(second["route"], serde_json::Value::Null);
}

async fn wait_for_lines(path: &std::path::Path, n: usize) -> Vec<String> {
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

#[tokio::test]
async fn the_admin_api_lists_routes_upstreams_and_plugins() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    gateway.client().get("/ok").await;
    let admin = gateway.admin_client();

    let routes = admin.get("/routes").await;
    assert_eq!(routes.status, 200);
    let routes = routes.json();
    assert_eq!(routes["version"], 1);
    assert_eq!(routes["routes"][0]["id"], "api");
    assert_eq!(routes["routes"][0]["upstream"], "echo");
    assert_eq!(routes["routes"][0]["chain"], serde_json::json!([]));
    assert_eq!(routes["routes"][1]["id"], "other");
    assert_eq!(routes["routes"][1]["chain"][0]["name"], "headers");
    assert_eq!(routes["routes"][1]["chain"][0]["global"], false);

    let upstreams = admin.get("/upstreams").await.json();
    let echo = &upstreams["upstreams"][0];
    assert_eq!(echo["name"], "echo");
    assert_eq!(
        echo["targets"],
        serde_json::json!([{
            "address": upstream.authority().to_string(), "healthy": true,
            "active": null, "ejected": null, "ejections": 0, "in_flight": 0,
        }])
    );

    let plugins = admin.get("/plugins").await.json();
    let headers = &plugins["plugins"][0];
    assert_eq!(headers["name"], "headers");
    assert_eq!(headers["route"], "other");
    assert_eq!(headers["hash"].as_str().map(str::len), Some(64));
    assert!(
        headers["calls"].as_u64().is_some_and(|n| n >= 1),
        "{headers}"
    );
    assert_eq!(headers["failures"], 0);

    let refused = admin
        .send(Method::POST, "/metrics", &[], Bytes::new())
        .await;
    assert_eq!(refused.status, 405);
    assert_eq!(admin.get("/nothing").await.status, 404);
}

#[tokio::test]
async fn retries_breaker_rejections_and_requests_in_flight_are_measured() {
    let (a, b) = (
        EchoUpstream::start("a").await,
        EchoUpstream::start("b").await,
    );
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.pool]
targets = ["{}", "{}"]
limits = {{ max-requests = 1 }}

[routes.all]
upstream = "pool"
match.path-prefix = "/"
retry = {{ attempts = 1, on = [503], backoff = "1ms" }}
"#,
        a.authority(),
        b.authority()
    );
    let gateway = TestGateway::start(&manifest).await;
    let client = gateway.client();
    assert_eq!(client.get("/status/503").await.status, 503);
    assert_eq!(a.requests() + b.requests(), 2, "one try and one retry");

    let slow = {
        let client = client.clone();
        tokio::spawn(async move { client.get("/slow/1000").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = scrape(&gateway).await;
    assert_eq!(client.get("/x").await.status, 503, "over max-requests");
    assert_eq!(slow.await.expect("the slow request").status, 200);

    assert_eq!(
        metrics::value(&during, "portcullis_active_requests", &[]),
        Some(1.0)
    );
    let after = scrape(&gateway).await;
    assert_eq!(
        metrics::value(
            &after,
            "portcullis_upstream_retries_total",
            &[("route", "all")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metrics::value(
            &after,
            "portcullis_circuit_breaker_rejections_total",
            &[("upstream", "pool")]
        ),
        Some(1.0)
    );
    assert_eq!(requests(&after, "all", "GET", "5xx"), Some(2.0));
}

#[tokio::test]
async fn every_endpoint_in_the_openapi_file_answers_on_the_admin_api() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/admin-openapi.yaml"
    ))
    .expect("docs/admin-openapi.yaml");
    // `  /path:` then `    get:` (or `post:`), as the file is laid out.
    let lines: Vec<&str> = spec.lines().collect();
    let endpoints: Vec<(String, String)> = lines
        .windows(2)
        .filter_map(|pair| {
            let path = pair[0].strip_prefix("  /")?.strip_suffix(':')?;
            let method = pair[1].trim().strip_suffix(':')?;
            Some((method.to_uppercase(), format!("/{path}")))
        })
        .collect();
    let listed: Vec<&str> = endpoints.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        listed,
        [
            "/status",
            "/reload",
            "/metrics",
            "/routes",
            "/upstreams",
            "/plugins",
            "/plugins/{route}/{name}/canary/{action}",
            "/plugins/{route}/{name}/breaker/reset",
            "/manifest",
            "/stats",
            "/",
        ]
    );

    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let admin = gateway.admin_client();
    for (method, path) in &endpoints {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        if path.contains('{') {
            // A roll-out action on an entry the manifest does not have: the endpoint answers
            // that it has no such plugin (an unknown endpoint would say so instead).
            let path = path
                .replace("{route}", "api")
                .replace("{name}", "nobody")
                .replace("{action}", "promote");
            let response = admin.send(method.clone(), &path, &[], Bytes::new()).await;
            assert_eq!(response.status, 404, "{method} {path}");
            let detail = response.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                detail.starts_with("no plugin `nobody`"),
                "{method} {path}: {detail}"
            );
            continue;
        }
        let response = admin.send(method.clone(), path, &[], Bytes::new()).await;
        assert_eq!(response.status, 200, "{method} {path}: {}", response.text());
    }
}
