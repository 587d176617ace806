//! A fleet configured from etcd: every gateway watches one key, a manifest pushed there
//! reaches all of them, a broken one is refused by each while the old one serves, and etcd
//! going away stops no gateway: they keep serving, catch up when it returns, and one restarted
//! meanwhile serves the manifest it cached. Plugins come from an OCI registry: a new version
//! pinned by digest rolls across the fleet under load with no failed request, and a registry
//! that is down refuses only what needs it. A rate limit in Redis holds across the fleet. Real
//! `etcd`, `docker-registry` and `redis-server`, real sockets (docs/fleet.md).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use portcullis::config::{EtcdSource, EtcdTls, OciReference};
use portcullis::gateway::Running;
use portcullis::observe::access_log::Overrides;
use portcullis::reload::etcd;
use portcullis_tests::etcd::EtcdServer;
use portcullis_tests::gateway::{admin_client, runtime, runtime_with_registries};
use portcullis_tests::redis::RedisServer;
use portcullis_tests::registry::{RegistryServer, headers_component};
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

async fn status(gateway: &Running) -> serde_json::Value {
    admin_client(gateway).get("/status").await.json()
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

/// A gateway of the fleet: the manifest from etcd, plugins pulled from `registry` (plain HTTP)
/// into a plugin store of its own under `dir`, the last good manifest cached there too.
async fn start_pulling(
    etcd: &EtcdServer,
    registry: &RegistryServer,
    dir: &Path,
) -> Result<Running, String> {
    let settings = registry.plain_settings(&dir.join("plugins"));
    Running::start_etcd(
        runtime_with_registries(settings),
        source(etcd),
        Some(dir.join("manifests")),
        Overrides::default(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// [`manifest`] with route `/api` running the component at `reference`, which stamps
/// `x-stamp: <stamp>` on responses.
fn pulling_manifest(upstream: &EchoUpstream, reference: &str, stamp: &str) -> String {
    manifest(upstream, &["/api"])
        + &format!(
            r#"
[[routes.api.plugins]]
name = "stamp"
wasm = "{reference}"
config = {{ response = {{ set = {{ "x-stamp" = "{stamp}" }} }} }}
"#
        )
}

/// Pushes `component` to `repository:tag` as `portcullis plugin push` does; its pinned
/// reference, `oci://...@sha256:...`.
async fn publish(
    registry: &RegistryServer,
    repository: &str,
    tag: &str,
    component: &[u8],
) -> String {
    let dir = tempfile::tempdir().expect("a directory");
    let settings = registry.plain_settings(&dir.path().join("plugins"));
    let reference = OciReference::parse(&format!("{}:{tag}", registry.reference(repository)))
        .expect("a valid reference");
    let pusher = runtime_with_registries(settings);
    let digest = pusher
        .registries()
        .push(&reference, component)
        .await
        .unwrap_or_else(|e| panic!("pushed to {reference}: {e}"));
    format!("{}@{digest}", registry.reference(repository))
}

/// `portcullis config push` by a deployer that reaches `registry` (it loads every plugin, as
/// `check` does).
async fn push_pulling(
    etcd: &EtcdServer,
    registry: &RegistryServer,
    text: &str,
) -> Result<i64, String> {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("manifest.toml");
    std::fs::write(&file, text).expect("written");
    let settings = registry.plain_settings(&dir.path().join("plugins"));
    etcd::push(&runtime_with_registries(settings), &source(etcd), &file)
        .await
        .map_err(|e| e.to_string())
}

/// The digest of route `api`'s `stamp` entry as the gateway's admin API shows it.
async fn served_digest(gateway: &Running) -> serde_json::Value {
    admin_client(gateway).get("/routes").await.json()["routes"][0]["chain"][0]["digest"].clone()
}

#[tokio::test]
async fn a_plugin_version_pushed_to_the_registry_rolls_across_three_gateways_with_no_failed_request()
 {
    let etcd = EtcdServer::start();
    let registry = RegistryServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let dirs = tempfile::tempdir().expect("a directory");
    let first = publish(
        &registry,
        "team/stamp",
        "1.0.0",
        &headers_component("1.0.0"),
    )
    .await;
    push_pulling(
        &etcd,
        &registry,
        &pulling_manifest(&upstream, &first, "1.0.0"),
    )
    .await
    .expect("a valid manifest is pushed");
    let mut gateways = Vec::new();
    for n in 0..3 {
        let dir = dirs.path().join(n.to_string());
        gateways.push(Arc::new(
            start_pulling(&etcd, &registry, &dir)
                .await
                .expect("the gateway starts"),
        ));
    }

    // Load on every gateway while the new version rolls: each answer is counted by its stamp.
    let stop = Arc::new(AtomicBool::new(false));
    let mut loads = Vec::new();
    for gateway in &gateways {
        let (client, stop) = (public(gateway), stop.clone());
        loads.push(tokio::spawn(async move {
            let (mut old, mut new, mut failed) = (0u32, 0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let answer = client.get("/api").await;
                match (answer.status.as_u16(), answer.header("x-stamp")) {
                    (200, Some("1.0.0")) => old += 1,
                    (200, Some("2.0.0")) => new += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (old, new, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let second = publish(
        &registry,
        "team/stamp",
        "2.0.0",
        &headers_component("2.0.0"),
    )
    .await;
    let (_, digest) = second.split_once('@').expect("a pinned reference");
    push_pulling(
        &etcd,
        &registry,
        &pulling_manifest(&upstream, &second, "2.0.0"),
    )
    .await
    .expect("a valid manifest is pushed");
    for gateway in &gateways {
        eventually(
            Duration::from_secs(30),
            "every gateway serves the new digest",
            || async { served_digest(gateway).await == digest },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for load in loads {
        let (old, new, failed) = load.await.expect("the load ran");
        assert!(
            failed.is_empty(),
            "failed answers during the roll: {failed:?}"
        );
        assert!(
            old > 0 && new > 0,
            "answers from both versions: {old} old, {new} new"
        );
    }
    for gateway in &gateways {
        let status = status(gateway).await;
        assert_eq!(status["reloads"]["failed"], 0, "{status}");
    }
}

#[tokio::test]
async fn a_rate_limit_of_n_per_consumer_admits_exactly_n_across_three_gateways() {
    let etcd = EtcdServer::start();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let caches = tempfile::tempdir().expect("a directory");
    let limit = 12;
    let text = manifest(&upstream, &["/api"])
        + &format!(
            r#"
[state]
backend = "redis"
url = "{}"
prefix = "fleet-limit"

[[routes.api.plugins]]
plugin = "key-auth"
config = {{ consumers = {{ alice = ["alice-key"], bob = ["bob-key"] }} }}

[[routes.api.plugins]]
plugin = "rate-limit"
config = {{ minute = {limit}, by = ["consumer"] }}
"#,
            redis.url()
        );
    push(&etcd, &text)
        .await
        .expect("a valid manifest is pushed");
    let mut gateways = Vec::new();
    for n in 0..3 {
        let cache = caches.path().join(n.to_string());
        gateways.push(start(&etcd, &cache).await.expect("the gateway starts"));
    }

    // Three times the limit for each consumer, spread over the three gateways in turn.
    for key in ["alice-key", "bob-key"] {
        let mut admitted = 0;
        for n in 0..3 * limit {
            let gateway = &gateways[n % 3];
            let answer = public(gateway).get_with("/api", &[("apikey", key)]).await;
            match answer.status.as_u16() {
                200 => admitted += 1,
                429 => {}
                other => panic!("{key}: unexpected status {other}"),
            }
        }
        assert_eq!(admitted, limit, "{key}: admitted across the fleet");
    }
}

#[tokio::test]
async fn with_the_registry_down_a_new_digest_is_refused_everywhere_and_a_restarted_gateway_serves_from_its_caches()
 {
    let mut etcd = EtcdServer::start();
    let mut registry = RegistryServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let dirs = tempfile::tempdir().expect("a directory");
    let first = publish(
        &registry,
        "team/stamp",
        "1.0.0",
        &headers_component("1.0.0"),
    )
    .await;
    let good = push_pulling(
        &etcd,
        &registry,
        &pulling_manifest(&upstream, &first, "1.0.0"),
    )
    .await
    .expect("a valid manifest is pushed");
    let mut gateways = Vec::new();
    for n in 0..3 {
        let dir = dirs.path().join(n.to_string());
        gateways.push(
            start_pulling(&etcd, &registry, &dir)
                .await
                .expect("the gateway starts"),
        );
    }
    // Published, never pulled; then the registry goes away.
    let second = publish(
        &registry,
        "team/stamp",
        "2.0.0",
        &headers_component("2.0.0"),
    )
    .await;
    registry.kill();

    // Written straight to etcd (`config push` would refuse it too: it loads every plugin).
    etcd::put(
        &source(&etcd),
        &pulling_manifest(&upstream, &second, "2.0.0"),
    )
    .await
    .expect("written");
    for gateway in &gateways {
        eventually(Duration::from_secs(10), "the reload is refused", || async {
            status(gateway).await["reloads"]["failed"] == 1
        })
        .await;
        let status = status(gateway).await;
        let error = status["reloads"]["last"]["errors"].to_string();
        assert!(error.contains("is not in the plugin store"), "{error}");
        assert!(
            error.contains(&format!("registry {} cannot be reached", registry.host())),
            "{error}"
        );
        let answer = public(gateway).get("/api").await;
        assert_eq!(
            (answer.status.as_u16(), answer.header("x-stamp")),
            (200, Some("1.0.0"))
        );
    }
    // Back to the version every store holds: a change the gateways take (and cache).
    let back = etcd::put(
        &source(&etcd),
        &pulling_manifest(&upstream, &first, "1.0.0"),
    )
    .await
    .expect("written");
    for gateway in &gateways {
        eventually(Duration::from_secs(10), "the manifest is taken", || async {
            status(gateway).await["source"]["revision"] == back
        })
        .await;
    }

    // etcd goes too; a gateway restarted now serves its cached manifest with its stored plugin.
    etcd.kill();
    let restarted = gateways.remove(0);
    restarted.abort();
    let restarted = start_pulling(&etcd, &registry, &dirs.path().join("0"))
        .await
        .expect("the gateway starts from its caches");
    let answer = public(&restarted).get("/api").await;
    assert_eq!(
        (answer.status.as_u16(), answer.header("x-stamp")),
        (200, Some("1.0.0"))
    );
    let served = status(&restarted).await;
    assert_eq!(served["source"]["from_cache"], true);
    assert_eq!(served["source"]["revision"], back, "{served}");
    assert!(back > good);
    assert_eq!(
        served_digest(&restarted).await,
        first.split_once('@').expect("pinned").1
    );
}
