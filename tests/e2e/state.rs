//! The Redis state backend against a real `redis-server`: counters, key/values and rate limits
//! behave as the in-process backend does, keys stay apart per plugin, and a dead server gives
//! `unavailable` within the timeout.

use std::time::{Duration, Instant};

use portcullis::config::{RedisConfig, RedisTopology, StateBackend, StateConfig};
use portcullis::state::{Algorithm, StateError, StateStore};
use portcullis_tests::manifest::one_route;
use portcullis_tests::redis::RedisServer;
use portcullis_tests::{EchoUpstream, TestGateway};

fn redis_store(redis: &RedisServer, prefix: &str) -> std::sync::Arc<StateStore> {
    redis_store_within(redis, prefix, Duration::from_secs(1))
}

fn redis_store_within(
    redis: &RedisServer,
    prefix: &str,
    timeout: Duration,
) -> std::sync::Arc<StateStore> {
    StateStore::new(&StateConfig {
        backend: StateBackend::Redis(Box::new(RedisConfig {
            topology: RedisTopology::Server { url: redis.url() },
            prefix: prefix.into(),
            tls: None,
        })),
        timeout,
        ..StateConfig::default()
    })
    .expect("a Redis store")
}

#[tokio::test]
async fn redis_counters_values_and_namespaces_behave_like_the_local_store() {
    let redis = RedisServer::start();
    let store = redis_store(&redis, "t1");
    let local = StateStore::in_process();
    for store in [&store, &local] {
        let (a, b) = (store.namespace("p", "r1"), store.namespace("q", "r1"));
        assert_eq!(a.increment("n", 5, 0).await, Ok(5));
        assert_eq!(a.increment("n", -2, 0).await, Ok(3));
        assert_eq!(
            b.increment("n", 1, 0).await,
            Ok(1),
            "another plugin's counter"
        );
        assert_eq!(a.increment("w", 1, 50).await, Ok(1));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(a.increment("w", 1, 50).await, Ok(1), "the window expired");

        a.set("k", b"value".to_vec(), None).await.expect("set");
        assert_eq!(a.get("k").await, Ok(Some(b"value".to_vec())));
        assert_eq!(b.get("k").await, Ok(None));
        a.set("t", b"x".to_vec(), Some(30))
            .await
            .expect("set with a TTL");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(a.get("t").await, Ok(None), "expired");
        a.delete("k").await.expect("delete");
        assert_eq!(a.get("k").await, Ok(None));
        assert!(matches!(a.get("").await, Err(StateError::Invalid(_))));
    }
}

#[tokio::test]
async fn redis_and_local_rate_limits_decide_alike() {
    let redis = RedisServer::start();
    let store = redis_store(&redis, "t2");
    let local = StateStore::in_process();
    for algorithm in [Algorithm::TokenBucket, Algorithm::SlidingWindow] {
        let mut decisions = Vec::new();
        for store in [&store, &local] {
            let ns = store.namespace("rl", "*");
            let mut seen = Vec::new();
            for _ in 0..6 {
                let d = ns
                    .rate_limit("client", algorithm, 4, 3_600_000, 1)
                    .await
                    .expect("a decision");
                seen.push((d.allowed, d.remaining));
            }
            decisions.push(seen);
        }
        assert_eq!(decisions[0], decisions[1], "{algorithm:?}");
        let admitted = decisions[0].iter().filter(|(allowed, _)| *allowed).count();
        assert_eq!(admitted, 4, "{algorithm:?}");
    }
}

#[tokio::test]
async fn a_dead_redis_answers_unavailable_within_the_timeout() {
    let mut redis = RedisServer::start();
    let store = redis_store_within(&redis, "t3", Duration::from_millis(200));
    let ns = store.namespace("p", "r");
    assert_eq!(ns.increment("n", 1, 0).await, Ok(1));
    redis.kill();

    for _ in 0..3 {
        let started = Instant::now();
        let result = ns.increment("n", 1, 0).await;
        assert!(
            matches!(result, Err(StateError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(!store.available());
}

/// A plugin in `request` isolation gets a fresh instance (fresh memory) for every request, yet
/// its shared counter and values go on: across instances, and across gateways sharing Redis.
#[tokio::test]
async fn state_outlives_instances_and_is_shared_by_gateways_through_redis() {
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("echo").await;
    let mut manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
isolation = "request"
config = { mode = "shared" }
"#,
    );
    manifest.push_str(&format!(
        "\n[state]\nbackend = \"redis\"\nurl = \"{}\"\ntimeout = \"1s\"\n",
        redis.url()
    ));
    let (a, b) = (
        TestGateway::start(&manifest).await,
        TestGateway::start(&manifest).await,
    );

    let first = a.client().get("/one").await;
    let second = b.client().get("/two").await;
    let forget = a.client().get("/forget").await;
    let after = b.client().get("/three").await;

    let seen = |r: &portcullis_tests::TestResponse| {
        (
            r.header("x-shared-count").unwrap_or("").to_owned(),
            r.header("x-previous-path").unwrap_or("").to_owned(),
        )
    };
    assert_eq!(seen(&first), ("1".into(), "-".into()));
    assert_eq!(
        seen(&second),
        ("2".into(), "/one".into()),
        "gateway b sees a's writes"
    );
    assert_eq!(seen(&forget), ("3".into(), "/two".into()));
    assert_eq!(seen(&after), ("4".into(), "-".into()), "deleted");
}

/// 3 per 2 seconds through the store itself (the plugin's shortest window is a second): on
/// both backends and with both algorithms, a refusal's `retry-after-ms` is at most the window,
/// no later than `reset-ms`, and waiting it admits the next request.
#[tokio::test]
async fn waiting_retry_after_admits_the_next_request_on_both_backends() {
    let redis = RedisServer::start();
    let stores = [
        ("redis", redis_store(&redis, "t4")),
        ("local", StateStore::in_process()),
    ];
    for (backend, store) in &stores {
        for algorithm in [Algorithm::TokenBucket, Algorithm::SlidingWindow] {
            let ns = store.namespace("rl", &format!("{algorithm:?}"));
            let decide = || ns.rate_limit("client", algorithm, 3, 2000, 1);
            let at = format!("{backend}, {algorithm:?}");
            let mut refused = None;
            for _ in 0..10 {
                let decision = decide().await.expect("a decision");
                if !decision.allowed {
                    refused = Some(decision);
                    break;
                }
            }
            let refused = refused.unwrap_or_else(|| panic!("{at}: no request was refused"));
            assert!(refused.retry_after_ms <= 2000, "{at}: {refused:?}");
            assert!(
                refused.retry_after_ms <= refused.reset_ms,
                "{at}: {refused:?}"
            );

            tokio::time::sleep(Duration::from_millis(refused.retry_after_ms)).await;

            let again = decide().await.expect("a decision");
            assert!(again.allowed, "{at}: {refused:?} then {again:?}");
        }
    }
}
