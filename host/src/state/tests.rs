use super::algo::{self, Window};
use super::*;

const SECOND: u64 = 1_000_000;

fn local(max_keys: usize) -> Arc<StateStore> {
    StateStore::new(&StateConfig {
        max_keys,
        ..StateConfig::default()
    })
    .unwrap()
}

fn block<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn gcra_admits_exactly_the_limit_at_once_then_one_per_interval() {
    let now = 50 * SECOND;
    let mut tat = None;
    for i in 0..10 {
        let (d, next) = algo::gcra(tat, now, 10, 10 * SECOND, 1);
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 9 - i);
        tat = next;
    }
    let (d, next) = algo::gcra(tat, now, 10, 10 * SECOND, 1);
    assert!(!d.allowed);
    assert_eq!(next, None, "a refusal changes nothing");
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after_ms, 1000, "one token comes back every second");
    assert_eq!(d.reset_ms, 10_000, "the whole bucket in ten seconds");
    let (d, _) = algo::gcra(tat, now + SECOND, 10, 10 * SECOND, 1);
    assert!(d.allowed, "a second later one more fits");
}

#[test]
fn gcra_cost_zero_peeks_and_a_big_cost_waits_longer() {
    let (d, next) = algo::gcra(None, 0, 5, 5 * SECOND, 0);
    assert!(d.allowed && next.is_none() && d.remaining == 5);
    let (_, tat) = algo::gcra(None, 0, 5, 5 * SECOND, 4);
    let (d, _) = algo::gcra(tat, 0, 5, 5 * SECOND, 3);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 1);
    assert_eq!(d.retry_after_ms, 2000);
}

#[test]
fn sliding_window_counts_the_previous_window_by_its_overlap() {
    let period = 60 * SECOND;
    // The previous window saw 10; a quarter into this one, 75% of it still counts: 7.5.
    let state = Some(Window {
        start: 0,
        prev: 0,
        curr: 10,
    });
    let now = period + period / 4;
    let (d, next) = algo::sliding_window(state, now, 10, period, 1);
    assert!(d.allowed, "7.5 + 1 <= 10");
    assert_eq!(d.remaining, 1, "10 - 8.5, rounded down");
    let next = next.unwrap();
    assert_eq!((next.start, next.prev, next.curr), (period, 10, 1));
    let (d, n) = algo::sliding_window(Some(next), now, 10, period, 1);
    assert!(d.allowed);
    let (d, _) = algo::sliding_window(n, now, 10, period, 1);
    assert!(!d.allowed, "7.5 + 2 + 1 > 10");
    assert_eq!(d.reset_ms, 45_000, "the window ends in 45s");
    // 7.5 + 2 must drop to 9: the previous window's weight to 0.7, in 3 more seconds.
    assert_eq!(d.retry_after_ms, 3_000);
}

#[test]
fn sliding_window_admits_exactly_the_limit_in_a_fresh_window() {
    let period = 3600 * SECOND;
    let mut state = None;
    let mut admitted = 0;
    for _ in 0..25 {
        let (d, next) = algo::sliding_window(state, 10 * SECOND, 20, period, 1);
        if d.allowed {
            admitted += 1;
            state = next;
        }
    }
    assert_eq!(admitted, 20);
}

#[test]
fn local_counters_expire_with_their_window_and_keep_it() {
    let store = local(100);
    let ns = store.namespace("p", "r");
    block(async {
        assert_eq!(ns.increment("a", 2, 0).await, Ok(2));
        assert_eq!(ns.increment("a", -5, 0).await, Ok(-3));
        assert_eq!(ns.increment("w", 1, 30).await, Ok(1));
        assert_eq!(ns.increment("w", 1, 30).await, Ok(2));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(ns.increment("w", 1, 30).await, Ok(1), "a new window");
        let overflow = ns.increment("a", i64::MIN, 0).await;
        assert!(
            matches!(overflow, Err(StateError::Invalid(_))),
            "{overflow:?}"
        );
    });
}

#[test]
fn namespaces_and_key_spaces_stay_apart() {
    let store = local(100);
    let (a, b) = (store.namespace("p", "r1"), store.namespace("p", "r2"));
    block(async {
        a.set("k", b"one".to_vec(), None).await.unwrap();
        assert_eq!(b.get("k").await, Ok(None), "another route's plugin");
        assert_eq!(a.get("k").await, Ok(Some(b"one".to_vec())));
        assert_eq!(
            a.increment("k", 1, 0).await,
            Ok(1),
            "counters are another space"
        );
        a.delete("k").await.unwrap();
        assert_eq!(a.get("k").await, Ok(None));
    });
}

fn invalid<T>(result: Result<T, StateError>) -> bool {
    matches!(result, Err(StateError::Invalid(_)))
}

#[test]
fn values_expire_and_bad_arguments_are_invalid() {
    let store = local(100);
    let ns = store.namespace("p", "*");
    block(async {
        ns.set("t", b"x".to_vec(), Some(20)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(ns.get("t").await, Ok(None));
        assert!(invalid(ns.get("").await));
        assert!(invalid(ns.get(&"k".repeat(MAX_KEY + 1)).await));
        assert!(invalid(ns.set("v", vec![0; MAX_VALUE + 1], None).await));
        assert!(invalid(ns.set("v", vec![], Some(0)).await));
        let rl =
            |limit, period, cost| ns.rate_limit("r", Algorithm::TokenBucket, limit, period, cost);
        assert!(invalid(rl(0, 1000, 1).await));
        assert!(invalid(rl(10, 0, 1).await));
        assert!(invalid(rl(10, 1000, 11).await));
        assert!(invalid(rl(2000, 1, 1).await), "more than 1000 per ms");
        assert!(rl(10, 1000, 1).await.unwrap().allowed);
    });
}

#[test]
fn a_full_local_store_sweeps_then_refuses_new_keys_as_unavailable() {
    let store = local(2);
    let ns = store.namespace("p", "r");
    block(async {
        ns.set("a", vec![], Some(10)).await.unwrap();
        ns.set("b", vec![], None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        ns.set("c", vec![], None).await.unwrap();
        let full = ns.set("d", vec![], None).await;
        assert!(matches!(full, Err(StateError::Unavailable(_))), "{full:?}");
        assert!(!store.available(), "the failure is visible");
        assert_eq!(store.stats().unavailable.load(Ordering::Relaxed), 1);
        ns.set("b", b"again".to_vec(), None).await.unwrap();
        assert!(store.available(), "existing keys keep working");
        if let Backend::Local(local) = &store.backend {
            assert_eq!(local.len(), 2);
        }
    });
}

#[test]
fn local_rate_limits_admit_exactly_the_limit() {
    let store = local(100);
    let ns = store.namespace("p", "r");
    block(async {
        for algorithm in [Algorithm::TokenBucket, Algorithm::SlidingWindow] {
            let mut admitted = 0;
            for _ in 0..8 {
                let d = ns
                    .rate_limit("k", algorithm, 5, 3_600_000, 1)
                    .await
                    .unwrap();
                admitted += u32::from(d.allowed);
            }
            assert_eq!(admitted, 5, "{algorithm:?}");
        }
    });
}

#[test]
fn logs_name_a_redis_server_without_its_password() {
    assert_eq!(
        redis_address("redis://user:secret@cache.internal:6379/2"),
        "cache.internal:6379"
    );
    assert_eq!(
        redis_address("redis://:secret@10.0.0.7:6379"),
        "10.0.0.7:6379"
    );
    assert_eq!(redis_address("redis://127.0.0.1:6379"), "127.0.0.1:6379");
}
