//! Shared state for a fleet, through real gateways and real Redis processes: `rediss://` with a
//! private CA and client certificates, a master found through Sentinel that fails over, and a
//! Cluster whose slots move while gateways count. Limits stay exact: each decision is one Lua
//! script on one key, wherever that key lives.

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_tests::manifest::one_route;
use portcullis_tests::redis::cluster::RedisCluster;
use portcullis_tests::redis::sentinel::{MASTER, SentinelSet};
use portcullis_tests::redis::tls::TlsRedis;
use portcullis_tests::{Client, EchoUpstream, TestGateway, logs};
use tokio::task::JoinSet;

fn limited(upstream: &EchoUpstream, config: &str, state: &str) -> String {
    let mut text = one_route(
        upstream,
        &format!(
            r#"
[[routes.api.plugins]]
plugin = "rate-limit"
config = {{ {config} }}
"#
        ),
    );
    text.push_str(state);
    text
}

/// A limit of `n` per hour per `x-tenant`, strict: a state failure shows as a 503, never as an
/// admission.
fn per_tenant(n: u32) -> String {
    format!(r#"hour = {n}, by = ["header"], header = "x-tenant", fault-tolerant = false"#)
}

fn toml_path(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

fn list(addresses: &[String]) -> String {
    let quoted: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Sends `count` requests for `tenant` at once, spread over `clients`; returns the statuses.
async fn burst(clients: &[Client], tenant: &str, count: usize) -> Vec<u16> {
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let client = clients[i % clients.len()].clone();
        let tenant = tenant.to_owned();
        tasks.spawn(async move {
            client
                .get_with("/limited", &[("x-tenant", tenant.as_str())])
                .await
                .status
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.expect("the request task"));
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The `[state]` table of a gateway on `redis` over TLS, trusting the CA in `ca` (a file in
/// the server's directory) and presenting the test client certificate.
fn rediss_state(redis: &TlsRedis, ca: &str) -> String {
    format!(
        "\n[state]\nbackend = \"redis\"\nurl = \"{}\"\ntimeout = \"1s\"\n\
         tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}\n",
        redis.url(),
        toml_path(&redis.file(ca)),
        toml_path(&redis.file("client.pem")),
        toml_path(&redis.file("client.key")),
    )
}

#[tokio::test]
async fn two_gateways_over_rediss_with_client_certificates_admit_exactly_n() {
    let redis = TlsRedis::start();
    let upstream = EchoUpstream::start("echo").await;
    let state = rediss_state(&redis, "ca.pem");
    let manifest = limited(&upstream, &per_tenant(10), &state);
    let (a, b) = (
        TestGateway::start(&manifest).await,
        TestGateway::start(&manifest).await,
    );

    let statuses = burst(&[a.client(), b.client()], "t", 30).await;

    assert_eq!(count(&statuses, 200), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 20, "{statuses:?}");
    assert_eq!(upstream.requests(), 10);
    let keys = redis.server.cli(&["DBSIZE"]);
    assert_eq!(keys.trim(), "1", "the one counter is in the TLS server");
}

#[tokio::test]
async fn a_wrong_ca_answers_unavailable_and_the_log_says_tls() {
    logs::capture();
    let redis = TlsRedis::start();
    let upstream = EchoUpstream::start("echo").await;
    let state = rediss_state(&redis, "other-ca.pem");
    let gateway = TestGateway::start(&limited(&upstream, &per_tenant(10), &state)).await;

    let refused = gateway
        .client()
        .get_with("/limited", &[("x-tenant", "t")])
        .await;

    assert_eq!(
        refused.status, 503,
        "strict: no admission without the store"
    );
    assert_eq!(refused.json()["error"], "rate_limit_unavailable");
    let label = format!(
        "state backend `redis 127.0.0.1:{} tls` is unavailable",
        redis.url().rsplit(':').next().unwrap_or_default()
    );
    let line = logs::wait_for(&[&label, "TLS handshake failed"], Duration::from_secs(5));
    assert!(line.is_some(), "the log says TLS:\n{}", logs::all());
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_gateway_on_sentinel_follows_a_failover_and_keeps_counting() {
    logs::capture();
    let mut set = tokio::task::spawn_blocking(SentinelSet::start)
        .await
        .expect("the sentinel set");
    let upstream = EchoUpstream::start("echo").await;
    let state = format!(
        "\n[state]\nbackend = \"redis-sentinel\"\nsentinels = {}\nmaster = \"{MASTER}\"\ntimeout = \"1s\"\n",
        list(&set.sentinel_addresses())
    );
    let strict = TestGateway::start(&limited(&upstream, &per_tenant(5), &state)).await;
    let tolerant = TestGateway::start(&limited(
        &upstream,
        r#"hour = 1000, by = ["header"], header = "x-tenant""#,
        &state,
    ))
    .await;
    let get = |gateway: &TestGateway, tenant: &str| {
        let client = gateway.client();
        let tenant = tenant.to_owned();
        async move {
            client
                .get_with("/limited", &[("x-tenant", tenant.as_str())])
                .await
                .status
                .as_u16()
        }
    };
    for _ in 0..3 {
        assert_eq!(get(&strict, "a").await, 200);
    }
    let old = set.master_port();
    // The counters reached the replica before its master dies.
    portcullis_tests::redis::cli(old, &["WAIT", "1", "2000"]);

    let killed = set.kill_master();
    assert_eq!(killed, old);
    // During the switch: strict refuses with 503 (or counts, once the new master is known),
    // fault-tolerant admits; neither hangs.
    let started = Instant::now();
    let mut during = Vec::new();
    loop {
        let status = get(&strict, "probe").await;
        assert_eq!(get(&tolerant, "probe").await, 200, "fault-tolerant admits");
        during.push(status);
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{during:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway reaches the new master: {during:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let new = set.wait_for_failover(old, Duration::from_secs(10));
    assert_ne!(new, old);

    // The count of `a` survived on the new master: 2 of 5 left; a new tenant gets all 5.
    let a: Vec<u16> = [
        get(&strict, "a").await,
        get(&strict, "a").await,
        get(&strict, "a").await,
    ]
    .to_vec();
    assert_eq!(a, [200, 200, 429], "the limit is enforced again");
    let mut b = Vec::new();
    for _ in 0..7 {
        b.push(get(&strict, "b").await);
    }
    assert_eq!(count(&b, 200), 5, "{b:?}");
    assert_eq!(count(&b, 429), 2, "{b:?}");
    let label = "state backend `redis-sentinel master=mymaster sentinels=";
    assert!(
        logs::wait_for(&[label, "is unavailable"], Duration::from_secs(5)).is_some(),
        "the outage is logged with the store's label:\n{}",
        logs::all()
    );
    assert!(
        logs::wait_for(&[label, "is available again"], Duration::from_secs(5)).is_some(),
        "and the recovery:\n{}",
        logs::all()
    );
}

#[tokio::test]
async fn on_a_cluster_each_consumer_admits_exactly_n_across_two_gateways_while_slots_move() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .expect("the cluster");
    let upstream = EchoUpstream::start("echo").await;
    let state = format!(
        "\n[state]\nbackend = \"redis-cluster\"\nnodes = {}\ntimeout = \"1s\"\n",
        list(&cluster.addresses())
    );
    let manifest = limited(&upstream, &per_tenant(4), &state);
    let (a, b) = (
        TestGateway::start(&manifest).await,
        TestGateway::start(&manifest).await,
    );
    let clients = [a.client(), b.client()];

    for tenant in 0..24 {
        let statuses = burst(&clients, &format!("tenant-{tenant}"), 10).await;
        assert_eq!(count(&statuses, 200), 4, "tenant-{tenant}: {statuses:?}");
        assert_eq!(count(&statuses, 429), 6, "tenant-{tenant}: {statuses:?}");
    }
    let spread: Vec<usize> = (0..3).map(|i| cluster.keys_on(i)).collect();
    assert!(
        spread.iter().all(|keys| *keys > 0),
        "the counters live on every node: {spread:?}"
    );
    assert_eq!(spread.iter().sum::<usize>(), 24);

    // Every slot of node 0 moves to node 1 with its keys while new tenants are counted: the
    // gateways follow ASK during the move and MOVED after it.
    let cluster = std::sync::Arc::new(cluster);
    let mover = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || cluster.move_all_slots(0, 1))
    };
    // Bounded in time, not in bursts: redis-cli moves thousands of slots one by one, and on a
    // busy machine that takes longer than any fixed count of quick bursts.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let mut tenant = 100;
    let mut during = 0;
    while !mover.is_finished() || during < 8 {
        let statuses = burst(&clients, &format!("tenant-{tenant}"), 6).await;
        assert_eq!(count(&statuses, 200), 4, "tenant-{tenant}: {statuses:?}");
        assert_eq!(count(&statuses, 429), 2, "tenant-{tenant}: {statuses:?}");
        tenant += 1;
        during += 1;
        assert!(
            std::time::Instant::now() < give_up,
            "the move ends within 3 minutes ({during} bursts sent during it)"
        );
        // Paced, so that a long move does not also make thousands of keys.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    mover.await.expect("the move");
    assert_eq!(cluster.slots_of(0), 0, "node 0 gave all its slots away");
    assert_eq!(cluster.keys_on(0), 0);

    for tenant in 0..24 {
        let statuses = burst(&clients, &format!("tenant-{tenant}"), 2).await;
        assert_eq!(
            statuses,
            [429, 429],
            "tenant-{tenant}: its count moved with its key"
        );
    }
}

#[tokio::test]
async fn an_unreadable_ca_file_is_a_load_error_pointing_at_it() {
    let upstream = EchoUpstream::start("echo").await;
    let state = "\n[state]\nbackend = \"redis-cluster\"\nnodes = [\"127.0.0.1:7000\"]\ntls = { ca = \"certs/missing-ca.pem\" }\n";

    let error = TestGateway::try_start(&limited(&upstream, &per_tenant(1), state))
        .await
        .err()
        .expect("the gateway refuses the manifest");

    assert!(
        error.contains("`[state]`: TLS CA file `")
            && error.contains("certs/missing-ca.pem` cannot be read"),
        "{error}"
    );
    assert!(
        error.contains("tls = { ca = \"certs/missing-ca.pem\" }"),
        "{error}"
    );
}

#[tokio::test]
async fn status_names_the_store_without_its_password() {
    let redis = TlsRedis::start();
    let upstream = EchoUpstream::start("echo").await;
    let url = redis.url().replace("rediss://", "rediss://:hunter2@");
    let state = format!(
        "\n[state]\nbackend = \"redis\"\nurl = \"{url}\"\ntls = {{ ca = \"{}\" }}\n",
        toml_path(&redis.file("ca.pem")),
    );
    let manifest = format!(
        "{}\n[admin]\naddress = \"127.0.0.1:0\"\n",
        limited(&upstream, &per_tenant(1), &state)
    );
    let gateway = TestGateway::start(&manifest).await;

    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));
    let status = admin.get("/status").await.json();

    let port = redis
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        status["state"]["backend"],
        format!("redis 127.0.0.1:{port} tls")
    );
    assert!(!status.to_string().contains("hunter2"));
}
