//! A fleet configured from etcd: every gateway watches one key, a manifest pushed there
//! reaches all of them, a broken one is refused by each while the old one serves, and etcd
//! going away stops no gateway: they keep serving, catch up when it returns, and one restarted
//! meanwhile serves the manifest it cached. Real `etcd`, real sockets (docs/fleet.md).

use std::path::Path;
use std::time::Duration;

use portcullis::config::{EtcdSource, EtcdTls};
use portcullis::gateway::Running;
use portcullis::observe::access_log::Overrides;
use portcullis::reload::etcd;
use portcullis_tests::etcd::EtcdServer;
use portcullis_tests::gateway::runtime;
use portcullis_tests::tls::TestCa;
use portcullis_tests::{Client, EchoUpstream};
use tokio::time::Instant;

/// A manifest with a listener and an admin API on ephemeral ports, and one route per path in
/// `paths` to `upstream`.
fn manifest(upstream: &EchoUpstream, paths: &[&str]) -> String {
    let mut text = format!(
        r#"[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.backend]
targets = ["{}"]
"#,
        upstream.authority()
    );
    for path in paths {
        let id = path.trim_matches('/');
        text.push_str(&format!(
            "\n[routes.{id}]\nupstream = \"backend\"\nmatch.path-prefix = \"{path}\"\n"
        ));
    }
    text
}

fn source(etcd: &EtcdServer) -> EtcdSource {
    EtcdSource::parse(&etcd.url("fleet")).expect("a valid etcd URL")
}

/// `portcullis config push`: checks `text` as `check` does, writes it only if valid; the new
/// revision.
async fn push(etcd: &EtcdServer, text: &str) -> Result<i64, String> {
    push_as(&source(etcd), text).await
}

/// [`push`] with `source`'s credentials.
async fn push_as(source: &EtcdSource, text: &str) -> Result<i64, String> {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("manifest.toml");
    std::fs::write(&file, text).expect("written");
    etcd::push(&runtime(), source, &file)
        .await
        .map_err(|e| e.to_string())
}

async fn start(etcd: &EtcdServer, cache: &Path) -> Result<Running, String> {
    start_as(source(etcd), cache).await
}

/// [`start`] with `source`'s credentials.
async fn start_as(source: EtcdSource, cache: &Path) -> Result<Running, String> {
    Running::start_etcd(
        runtime(),
        source,
        Some(cache.to_owned()),
        Overrides::default(),
    )
    .await
    .map_err(|e| e.to_string())
}

fn public(gateway: &Running) -> Client {
    Client::http1(gateway.address("public").expect("a public listener"))
}

fn admin(gateway: &Running) -> Client {
    Client::http1(gateway.admin_address().expect("an admin API"))
}

async fn status(gateway: &Running) -> serde_json::Value {
    admin(gateway).get("/status").await.json()
}

/// Polls `check` every 20 ms until it holds, failing with `what` after `within`.
async fn eventually<F: Future<Output = bool>>(within: Duration, what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_manifest_pushed_to_etcd_reaches_three_gateways_within_two_seconds() {
    let etcd = EtcdServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let caches = tempfile::tempdir().expect("a directory");
    push(&etcd, &manifest(&upstream, &["/v1"]))
        .await
        .expect("a valid manifest is pushed");
    let mut gateways = Vec::new();
    for n in 0..3 {
        let cache = caches.path().join(n.to_string());
        gateways.push(start(&etcd, &cache).await.expect("the gateway starts"));
    }
    for gateway in &gateways {
        assert_eq!(public(gateway).get("/v1").await.status, 200);
        assert_eq!(public(gateway).get("/v2").await.status, 404);
    }

    let pushed = Instant::now();
    let revision = push(&etcd, &manifest(&upstream, &["/v1", "/v2"]))
        .await
        .expect("a valid manifest is pushed");

    for gateway in &gateways {
        let within = Duration::from_secs(2).saturating_sub(pushed.elapsed());
        eventually(within, "the new route serves on every gateway", || async {
            public(gateway).get("/v2").await.status == 200
        })
        .await;
    }
    for gateway in &gateways {
        let status = status(gateway).await;
        assert_eq!(status["source"]["kind"], "etcd");
        assert_eq!(status["source"]["key"], "/fleet/manifest");
        assert_eq!(status["source"]["revision"], revision, "{status}");
        assert_eq!(status["source"]["from_cache"], false);
        assert_eq!(status["reloads"]["last"]["trigger"], "etcd");
    }
}

#[tokio::test]
async fn a_broken_manifest_written_to_etcd_is_refused_and_the_old_one_keeps_serving() {
    let etcd = EtcdServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let cache = tempfile::tempdir().expect("a directory");
    let good = push(&etcd, &manifest(&upstream, &["/v1"]))
        .await
        .expect("a valid manifest is pushed");
    let gateway = start(&etcd, cache.path())
        .await
        .expect("the gateway starts");
    // A route to an upstream that does not exist; the error points at its name's quote.
    let broken = manifest(&upstream, &["/v1"])
        + "\n[routes.lost]\nupstream = \"nowhere\"\nmatch.path-prefix = \"/lost\"\n";
    let broken_line = broken
        .lines()
        .position(|l| l.contains("nowhere"))
        .expect("the line")
        + 1;

    // `config push` checks first, and writes nothing.
    let refused = push(&etcd, &broken).await.expect_err("an invalid manifest");
    assert!(refused.contains("which is not defined"), "{refused}");
    assert!(refused.contains("nothing was written to etcd"), "{refused}");

    // Written past it, straight to etcd: each gateway refuses it on its own.
    etcd::put(&source(&etcd), &broken).await.expect("written");
    eventually(Duration::from_secs(2), "the reload is refused", || async {
        status(&gateway).await["reloads"]["failed"] == 1
    })
    .await;

    let status = status(&gateway).await;
    let error = status["reloads"]["last"]["errors"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains(&format!("--> etcd:/fleet/manifest:{broken_line}:12")),
        "{error}"
    );
    assert_eq!(status["source"]["revision"], good);
    assert_eq!(public(&gateway).get("/v1").await.status, 200);
}

#[tokio::test]
async fn a_relative_path_in_a_manifest_for_etcd_is_refused_naming_the_key() {
    let etcd = EtcdServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let cache = tempfile::tempdir().expect("a directory");
    push(&etcd, &manifest(&upstream, &["/v1"]))
        .await
        .expect("a valid manifest is pushed");
    let gateway = start(&etcd, cache.path())
        .await
        .expect("the gateway starts");
    let relative = manifest(&upstream, &["/v1"]) + "\n[access-log]\ndestination = \"access.log\"\n";

    let refused = push(&etcd, &relative).await.expect_err("a relative path");
    assert!(refused.contains("relative path"), "{refused}");

    etcd::put(&source(&etcd), &relative).await.expect("written");
    eventually(Duration::from_secs(2), "the reload is refused", || async {
        status(&gateway).await["reloads"]["failed"] == 1
    })
    .await;
    let error = status(&gateway).await["reloads"]["last"]["errors"][0].to_string();
    assert!(error.contains("`access.log` is a relative path"), "{error}");
    assert!(error.contains("etcd:/fleet/manifest:"), "{error}");
}

#[tokio::test]
async fn gateways_keep_serving_while_etcd_is_down_and_catch_up_when_it_returns() {
    let mut etcd = EtcdServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let cache = tempfile::tempdir().expect("a directory");
    push(&etcd, &manifest(&upstream, &["/v1"]))
        .await
        .expect("a valid manifest is pushed");
    let gateway = start(&etcd, cache.path())
        .await
        .expect("the gateway starts");

    etcd.kill();
    eventually(
        Duration::from_secs(5),
        "the gateway sees etcd gone",
        || async { status(&gateway).await["source"]["connected"] == false },
    )
    .await;
    for _ in 0..5 {
        assert_eq!(public(&gateway).get("/v1").await.status, 200);
    }

    etcd.restart();
    // Pushed as soon as etcd is back, before the gateway has reconnected (it backs off).
    let revision = push(&etcd, &manifest(&upstream, &["/v1", "/v2"]))
        .await
        .expect("a valid manifest is pushed");
    eventually(
        Duration::from_secs(10),
        "the change made meanwhile arrives",
        || async { public(&gateway).get("/v2").await.status == 200 },
    )
    .await;
    let status = status(&gateway).await;
    assert_eq!(status["source"]["revision"], revision);
    assert_eq!(status["source"]["connected"], true);
}

#[tokio::test]
async fn a_gateway_restarted_while_etcd_is_down_serves_its_cached_manifest() {
    let mut etcd = EtcdServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let cache = tempfile::tempdir().expect("a directory");
    push(&etcd, &manifest(&upstream, &["/v1"]))
        .await
        .expect("a valid manifest is pushed");
    let first = start(&etcd, cache.path())
        .await
        .expect("the gateway starts");
    let revision = push(&etcd, &manifest(&upstream, &["/v1", "/v2"]))
        .await
        .expect("a valid manifest is pushed");
    eventually(Duration::from_secs(2), "the change arrives", || async {
        public(&first).get("/v2").await.status == 200
    })
    .await;
    first.abort();
    etcd.kill();

    let empty = tempfile::tempdir().expect("a directory");
    let error = start(&etcd, empty.path())
        .await
        .err()
        .expect("no etcd and no cache: no start");
    assert!(
        error.contains("cannot read the manifest from etcd at 127.0.0.1:"),
        "{error}"
    );
    assert!(error.contains("no cached manifest"), "{error}");

    let restarted = start(&etcd, cache.path())
        .await
        .expect("the gateway starts from its cache");
    assert_eq!(public(&restarted).get("/v2").await.status, 200);
    let served = status(&restarted).await;
    assert_eq!(served["source"]["from_cache"], true);
    assert_eq!(served["source"]["revision"], revision);

    etcd.restart();
    eventually(
        Duration::from_secs(10),
        "etcd confirms the cached revision",
        || async {
            let source = &status(&restarted).await["source"];
            source["connected"] == true && source["from_cache"] == false
        },
    )
    .await;
}

#[tokio::test]
async fn with_etcd_authentication_a_gateway_reads_as_a_read_only_user() {
    let etcd = EtcdServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let caches = tempfile::tempdir().expect("a directory");
    // The layout of docs/fleet.md: gateways may read the prefix, the deploying user may write.
    let mut client = etcd::connect(&source(&etcd)).await.expect("connected");
    client
        .user_add("root", "root-secret", None)
        .await
        .expect("root");
    client
        .user_grant_role("root", "root")
        .await
        .expect("granted");
    client.role_add("portcullis-gateway").await.expect("a role");
    let read = etcd_client::Permission::read("/fleet/").with_prefix();
    client
        .role_grant_permission("portcullis-gateway", read)
        .await
        .expect("granted");
    client
        .user_add("gateway", "gateway-secret", None)
        .await
        .expect("a user");
    client
        .user_grant_role("gateway", "portcullis-gateway")
        .await
        .expect("granted");
    client.auth_enable().await.expect("auth on");
    let mut deployer = source(&etcd);
    deployer.user = Some(("root".into(), "root-secret".into()));
    let mut gateway_user = source(&etcd);
    gateway_user.user = Some(("gateway".into(), "gateway-secret".into()));

    push_as(&deployer, &manifest(&upstream, &["/v1"]))
        .await
        .expect("the deployer writes");
    let gateway = start_as(gateway_user.clone(), &caches.path().join("a"))
        .await
        .expect("the gateway reads as its user");
    assert_eq!(public(&gateway).get("/v1").await.status, 200);
    let refused = push_as(&gateway_user, &manifest(&upstream, &["/v1", "/v2"])).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        "{refused:?}"
    );
    push_as(&deployer, &manifest(&upstream, &["/v1", "/v2"]))
        .await
        .expect("the deployer writes");
    eventually(Duration::from_secs(2), "the change arrives", || async {
        public(&gateway).get("/v2").await.status == 200
    })
    .await;

    let mut wrong = source(&etcd);
    wrong.user = Some(("gateway".into(), "wrong".into()));
    let error = start_as(wrong, &caches.path().join("b"))
        .await
        .err()
        .expect("a wrong password: no start without a cache");
    assert!(error.contains("authentication failed"), "{error}");
}

#[tokio::test]
async fn over_tls_a_gateway_presents_its_client_certificate_and_checks_etcds() {
    let ca = TestCa::new("etcd test CA");
    let etcd = EtcdServer::start_tls(&ca);
    let upstream = EchoUpstream::start("backend").await;
    let caches = tempfile::tempdir().expect("a directory");
    let files = tempfile::tempdir().expect("a directory");
    ca.client("gateway", "gateway")
        .write(files.path(), "client");
    let mut tls = source(&etcd);
    tls.tls = Some(EtcdTls {
        ca: Some(etcd.dir().join("ca.pem")),
        cert: Some(files.path().join("client.pem")),
        key: Some(files.path().join("client.key")),
    });

    push_as(&tls, &manifest(&upstream, &["/v1"]))
        .await
        .expect("pushed over TLS");
    let gateway = start_as(tls.clone(), &caches.path().join("a"))
        .await
        .expect("the gateway reads over TLS");
    assert_eq!(public(&gateway).get("/v1").await.status, 200);

    // Without a client certificate, etcd refuses the connection.
    let mut anonymous = tls.clone();
    anonymous.tls = Some(EtcdTls {
        ca: Some(etcd.dir().join("ca.pem")),
        ..EtcdTls::default()
    });
    assert!(start_as(anonymous, &caches.path().join("b")).await.is_err());
}
