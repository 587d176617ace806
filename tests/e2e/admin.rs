//! The admin API keeps browser pages out: without a token, a `Host` that does not name it is
//! refused (DNS rebinding), a state-changing request from another origin is refused (CSRF),
//! and its connections are closed when they send nothing.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use portcullis_tests::{EchoUpstream, TestGateway};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

async fn start(admin_extra: &str) -> (EchoUpstream, TestGateway) {
    let upstream = EchoUpstream::start("backend").await;
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
{admin_extra}

[upstreams.backend]
targets = ["{}"]

[routes.all]
upstream = "backend"
match.path-prefix = "/"
"#,
        upstream.authority()
    );
    let gateway = TestGateway::start(&manifest).await;
    (upstream, gateway)
}

async fn reload(gateway: &TestGateway, headers: &[(&str, &str)]) -> portcullis_tests::TestResponse {
    gateway
        .admin_client()
        .send(Method::POST, "/reload", headers, Bytes::new())
        .await
}

async fn reloads_succeeded(gateway: &TestGateway) -> u64 {
    let status = gateway.admin_client().get("/status").await.json();
    status["reloads"]["succeeded"]
        .as_u64()
        .expect("a reload count")
}

#[tokio::test]
async fn a_foreign_host_cannot_reload_a_loopback_admin_without_a_token() {
    let (_upstream, gateway) = start("").await;

    let refused = reload(&gateway, &[("host", "rebound.example:9901")]).await;

    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"], "forbidden");
    let detail = refused.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("rebound.example"), "{detail}");
    assert_eq!(reloads_succeeded(&gateway).await, 0);
    // Its own names pass: the address it is bound to (the client's default), and localhost.
    assert_eq!(reload(&gateway, &[]).await.status, 200);
    let port = gateway
        .running()
        .admin_address()
        .expect("an admin API")
        .port();
    let localhost = format!("localhost:{port}");
    assert_eq!(
        reload(&gateway, &[("host", localhost.as_str())])
            .await
            .status,
        200
    );
    assert_eq!(reloads_succeeded(&gateway).await, 2);
}

#[tokio::test]
async fn names_listed_in_admin_hosts_are_accepted() {
    let (_upstream, gateway) = start(r#"hosts = ["admin.internal"]"#).await;

    let status = gateway
        .admin_client()
        .get_with("/status", &[("host", "Admin.Internal:9901")])
        .await;

    assert_eq!(status.status, 200);
    let other = gateway
        .admin_client()
        .get_with("/status", &[("host", "other.internal")])
        .await;
    assert_eq!(other.status, 403);
}

#[tokio::test]
async fn a_cross_origin_reload_is_refused_and_a_same_origin_one_is_not() {
    let (_upstream, gateway) = start("").await;
    let own = format!(
        "http://{}",
        gateway.running().admin_address().expect("an admin API")
    );

    let from_page = reload(&gateway, &[("origin", "http://evil.example")]).await;
    let fetched = reload(&gateway, &[("sec-fetch-site", "cross-site")]).await;
    let null = reload(&gateway, &[("origin", "null")]).await;

    for refused in [&from_page, &fetched, &null] {
        assert_eq!(refused.status, 403, "{}", refused.text());
        assert_eq!(refused.json()["error"], "forbidden");
    }
    assert!(from_page.text().contains("http://evil.example"));
    assert_eq!(reloads_succeeded(&gateway).await, 0);
    let same_origin = reload(
        &gateway,
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(same_origin.status, 200, "{}", same_origin.text());
    // Reading is not a change: a GET with a foreign Origin is answered (a page cannot read it).
    let read = gateway
        .admin_client()
        .get_with("/status", &[("origin", "http://evil.example")])
        .await;
    assert_eq!(read.status, 200);
}

#[tokio::test]
async fn a_token_does_not_let_a_cross_origin_page_reload() {
    let token = "a-long-enough-admin-token";
    let (_upstream, gateway) = start(&format!(r#"token = "{token}""#)).await;
    let bearer = format!("Bearer {token}");

    let refused = reload(
        &gateway,
        &[
            ("authorization", bearer.as_str()),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    let allowed = reload(&gateway, &[("authorization", bearer.as_str())]).await;

    assert_eq!(refused.status, 403);
    assert_eq!(allowed.status, 200);
}

#[tokio::test]
async fn an_admin_connection_that_sends_nothing_is_closed_after_ten_seconds() {
    let (_upstream, gateway) = start("").await;
    let address = gateway.running().admin_address().expect("an admin API");

    let mut silent = TcpStream::connect(address).await.expect("connect");
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut buffer))
        .await
        .expect("the admin API closed the silent connection");

    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn the_dashboard_is_served_without_the_token_and_what_it_reads_needs_it() {
    let token = "a-long-enough-admin-token";
    let (_upstream, gateway) = start(&format!(r#"token = "{token}""#)).await;
    let bearer = format!("Bearer {token}");

    let page = gateway.admin_client().get("/").await;
    let script = gateway.admin_client().get("/dashboard/app.js").await;
    let data = gateway.admin_client().get("/status").await;
    let missing = gateway.admin_client().get("/dashboard/nothing.js").await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(page.text().contains("/dashboard/app.js"));
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(data.status, 401);
    assert_eq!(missing.status, 404);
    let authorized = gateway
        .admin_client()
        .get_with("/status", &[("authorization", bearer.as_str())])
        .await;
    assert_eq!(authorized.status, 200);
}

#[tokio::test]
async fn without_a_token_the_dashboard_keeps_the_host_rule() {
    let (_upstream, gateway) = start("").await;

    let rebound = gateway
        .admin_client()
        .get_with("/", &[("host", "rebound.example:9901")])
        .await;

    assert_eq!(rebound.status, 403);
    assert_eq!(gateway.admin_client().get("/").await.status, 200);
}

#[tokio::test]
async fn the_dashboards_endpoints_give_stats_match_rules_targets_and_the_manifest() {
    let (_upstream, gateway) = start("").await;
    for _ in 0..3 {
        assert_eq!(gateway.client().get("/hello").await.status, 200);
    }

    let stats = gateway.admin_client().get("/stats").await.json();
    let routes = gateway.admin_client().get("/routes").await.json();
    let upstreams = gateway.admin_client().get("/upstreams").await.json();
    let manifest = gateway.admin_client().get("/manifest").await.json();
    let status = gateway.admin_client().get("/status").await.json();

    let all = stats["routes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["route"] == "all"))
        .expect("route `all` in /stats");
    assert_eq!(all["status_classes"]["2xx"], 3);
    assert_eq!(all["latency"]["count"], 3);
    let bounds = stats["latency_bounds_s"].as_array().expect("bounds").len();
    let buckets = all["latency"]["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), bounds + 1);
    assert_eq!(buckets[bounds], 3, "+Inf counts every request");
    assert_eq!(
        routes["routes"][0]["match"],
        serde_json::json!({"host": null, "path": "/", "path_kind": "prefix", "methods": [], "headers": []})
    );
    let target = &upstreams["upstreams"][0]["targets"][0];
    assert_eq!(target["healthy"], true);
    assert_eq!(target["active"], serde_json::Value::Null);
    assert_eq!(target["in_flight"], 0);
    assert_eq!(upstreams["upstreams"][0]["breaker"], "closed");
    let text = manifest["text"].as_str().unwrap_or_default();
    assert!(text.contains("[routes.all]"), "{text}");
    assert!(status["uptime_s"].is_u64());
    assert_eq!(status["gateway"], env!("CARGO_PKG_VERSION"));
}

/// 200 routes of two plugins each: one refresh (the four endpoints the page polls) answers
/// every route, and its cost is printed (`--nocapture`) for docs/admin.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_refresh_with_200_routes_covers_every_route() {
    let upstream = EchoUpstream::start("backend").await;
    let mut manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.backend]
targets = ["{}"]
"#,
        upstream.authority()
    );
    for i in 0..200 {
        manifest.push_str(&format!(
            r#"
[routes.r{i}]
upstream = "backend"
match.path-prefix = "/r{i}"

[[routes.r{i}.plugins]]
plugin = "correlation-id"

[[routes.r{i}.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-route = "r{i}" }} }} }}
"#
        ));
    }
    let gateway = TestGateway::start(&manifest).await;
    for i in 0..200 {
        assert_eq!(gateway.client().get(&format!("/r{i}/x")).await.status, 200);
    }
    let admin = gateway.admin_client();
    let refresh = ["/status", "/upstreams", "/plugins", "/stats"];

    let rounds = 20;
    let mut each = Vec::new();
    for path in refresh {
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            let response = admin.get(path).await;
            assert_eq!(response.status, 200, "{path}");
            bytes += response.text().len();
        }
        each.push((
            path,
            started.elapsed() / rounds,
            bytes / rounds as usize / 1024,
        ));
    }

    let stats = admin.get("/stats").await.json();
    let counted = stats["routes"].as_array().map_or(0, |r| {
        r.iter().filter(|r| r["status_classes"]["2xx"] == 1).count()
    });
    assert_eq!(counted, 200);
    let plugins = admin.get("/plugins").await.json();
    assert_eq!(plugins["plugins"].as_array().map(Vec::len), Some(400));
    for (path, wall, kib) in each {
        println!("200 routes: GET {path} takes {wall:?} wall, {kib} KiB");
    }
}
