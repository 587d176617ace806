//! The state store as specifications: GCRA and the sliding window admit exactly their limit,
//! counters and values expire, namespaces stay apart within their quotas, and logs never show
//! a Redis password.

use super::algo::{self, Window};
use super::*;

const SECOND: u64 = 1_000_000;

fn local(max_keys: usize) -> Arc<StateStore> {
    bounded(max_keys, 64 << 20, None)
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
    // The previous window saw 10, the last at its very end; a quarter into this one, 75% of it
    // still counts: 7.5.
    let state = Some(Window {
        start: 0,
        prev: 0,
        curr: 10,
        prev_last: 0,
        curr_last: period - 1,
    });
    let now = period + period / 4;
    let (d, next) = algo::sliding_window(state, now, 10, period, 1);
    assert!(d.allowed, "7.5 + 1 <= 10");
    assert_eq!(d.remaining, 1, "10 - 8.5, rounded down");
    let next = next.unwrap();
    assert_eq!((next.start, next.prev, next.curr), (period, 10, 1));
    assert_eq!((next.prev_last, next.curr_last), (period - 1, now));
    let (d, n) = algo::sliding_window(Some(next), now, 10, period, 1);
    assert!(d.allowed);
    let (d, _) = algo::sliding_window(n, now, 10, period, 1);
    assert!(!d.allowed, "7.5 + 2 + 1 > 10");
    assert_eq!(
        d.reset_ms, 60_000,
        "whole again a period after the last request"
    );
    // 7.5 + 2 must drop to 9: the previous window's weight to 0.7, in 3 more seconds.
    assert_eq!(d.retry_after_ms, 3_000);
}

#[test]
fn sliding_window_forgets_a_previous_window_whose_requests_are_a_period_old() {
    let period = 3600 * SECOND;
    // Five requests at the start of an hour: the sixth is refused, and told to come back when
    // the first of them is an hour old, not 72 minutes later as the plain approximation says.
    let mut state = None;
    for _ in 0..5 {
        let (d, next) = algo::sliding_window(state, 10 * SECOND, 5, period, 1);
        assert!(d.allowed);
        state = next;
    }
    let (refused, _) = algo::sliding_window(state, 10 * SECOND, 5, period, 1);
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after_ms, 3_600_000);
    assert_eq!(refused.reset_ms, 3_600_000);
    let (d, _) = algo::sliding_window(state, 3610 * SECOND, 5, period, 1);
    assert!(d.allowed, "admitted at the reset");
    assert_eq!(d.remaining, 4, "the previous hour no longer counts at all");
    let (d, _) = algo::sliding_window(state, 3610 * SECOND - 1, 5, period, 1);
    assert!(!d.allowed, "not a microsecond earlier");
}

/// A small deterministic generator, so that a failing case can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Plays random traffic against both algorithms; after every refusal, checks that the request
/// is admitted exactly `retry_after_ms` later (and not a millisecond sooner), that the wait is
/// at most one period, and that the reset is no earlier than the retry.
#[test]
fn retry_after_is_exactly_when_the_next_request_is_admitted_and_never_more_than_the_period() {
    let mut rng = Lcg(7);
    for case in 0..300 {
        let period = (1 + rng.below(120)) * SECOND / (1 + rng.below(4));
        let limit = 1 + rng.below(12) as u32;
        let now = rng.below(10 * period);
        let max_step = period / u64::from(limit) + 1;
        play(&mut rng, case, (limit, period), now, max_step, 3);
    }
}

/// The same with limits up to a million and periods up to a year, where the sliding window's
/// weighting rounds in doubles: the retry time is found on the decision's own arithmetic, so a
/// client told to come back is admitted then, to the last bit (a fuzzed case was refused again
/// at its retry time, by one ulp).
#[test]
fn retry_after_holds_for_large_limits_and_long_periods() {
    let mut rng = Lcg(11);
    for case in 0..300 {
        let period = (1 + rng.below(MAX_PERIOD_MS)) * 1000;
        let limit = 1 + rng.below(u64::from(MAX_LIMIT)) as u32;
        let now = 1_800_000_000 * SECOND + rng.below(period);
        play(&mut rng, case, (limit, period), now, period / 3, limit);
    }
}

/// The case the fuzzer found: a window whose own count refuses, with a period of 135 days, the
/// closed form named a time at which the previous window still weighed one ulp too much.
#[test]
fn a_refused_request_is_admitted_at_its_retry_time_even_where_doubles_round() {
    let (limit, period, cost) = (423_550, 11_660_486_146_000, 149_821);
    let window = Some(Window {
        start: 58_302_430_730_000,
        prev: 0,
        curr: 292_919,
        prev_last: 0,
        curr_last: 64_781_865_649_967,
    });
    let now = 64_781_866_154_473;
    let (d, _) = algo::sliding_window(window, now, limit, period, cost);
    assert!(!d.allowed);
    let retry = now + d.retry_after_ms * 1000;
    let (again, _) = algo::sliding_window(window, retry, limit, period, cost);
    assert!(
        again.allowed,
        "refused at its retry time: {d:?}, then {again:?}"
    );
    let (sooner, _) = algo::sliding_window(window, retry - 1000, limit, period, cost);
    assert!(!sooner.allowed, "a millisecond sooner is still refused");
}

/// 60 requests of random costs (up to `max_cost` and the limit), up to `max_step` microseconds
/// apart, against both algorithms, checking every refusal's retry-after and reset.
fn play(
    rng: &mut Lcg,
    case: usize,
    (limit, period): (u32, u64),
    mut now: u64,
    max_step: u64,
    max_cost: u32,
) {
    let (mut tat, mut window) = (None, None);
    for step in 0..60 {
        now += rng.below(max_step);
        let cost = 1 + rng.below(u64::from(limit.min(max_cost))) as u32;
        let (g, next_tat) = algo::gcra(tat, now, limit, period, cost);
        let (w, next_window) = algo::sliding_window(window, now, limit, period, cost);
        let retry_gcra = |at| algo::gcra(tat, at, limit, period, cost).0.allowed;
        let retry_window = |at| {
            algo::sliding_window(window, at, limit, period, cost)
                .0
                .allowed
        };
        for (name, d, admitted) in [
            ("gcra", g, &retry_gcra as &dyn Fn(u64) -> bool),
            ("window", w, &retry_window),
        ] {
            let at = format!("{name} case {case} step {step}: {d:?} (period {period})");
            assert!(d.reset_ms * 1000 <= period + 999, "{at}");
            if d.allowed {
                continue;
            }
            assert!(d.retry_after_ms > 0, "{at}");
            assert!(d.retry_after_ms * 1000 <= period + 999, "{at}");
            assert!(d.retry_after_ms <= d.reset_ms, "{at}");
            assert!(admitted(now + d.retry_after_ms * 1000), "{at}");
            assert!(!admitted(now + (d.retry_after_ms - 1) * 1000), "{at}");
        }
        tat = next_tat.or(tat);
        window = next_window.or(window);
    }
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

fn bounded(
    max_keys: usize,
    max_bytes: usize,
    namespace_max_keys: Option<usize>,
) -> Arc<StateStore> {
    StateStore::new(&StateConfig {
        max_keys,
        max_bytes,
        namespace_max_keys,
        ..StateConfig::default()
    })
    .unwrap()
}

fn usage(store: &StateStore, route: &str) -> NamespaceUsage {
    store
        .usage()
        .into_iter()
        .find(|u| u.route == route)
        .unwrap()
}

#[test]
fn a_full_namespace_drops_expired_entries_first_then_its_least_recently_used() {
    let store = bounded(100, 64 << 20, Some(3));
    let ns = store.namespace("p", "r");
    block(async {
        ns.set("expiring", vec![], Some(10)).await.unwrap();
        ns.set("old", vec![], None).await.unwrap();
        ns.set("used", vec![], None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(ns.get("used").await, Ok(Some(vec![])), "used again");

        ns.set("new-1", vec![], None).await.unwrap();
        assert_eq!(
            usage(&store, "r").expired,
            1,
            "the expired entry went first"
        );
        ns.set("new-2", vec![], None).await.unwrap();

        assert_eq!(
            ns.get("old").await,
            Ok(None),
            "the least recently used went next"
        );
        assert_eq!(
            ns.get("used").await,
            Ok(Some(vec![])),
            "a client that came back stays"
        );
        let u = usage(&store, "r");
        assert_eq!((u.keys, u.evicted, u.refused), (3, 1, 0));
        assert!(store.available(), "evicting is not a failure");
    });
}

#[test]
fn a_flooded_namespace_evicts_its_own_keys_and_never_another_namespaces_counters() {
    let store = bounded(1000, 64 << 20, None);
    let (quiet, flooded) = (
        store.namespace("rate-limit", "quiet"),
        store.namespace("rate-limit", "flooded"),
    );
    block(async {
        for i in 0..5 {
            let d = quiet
                .rate_limit("alice", Algorithm::SlidingWindow, 5, 60_000, 1)
                .await
                .unwrap();
            assert!(d.allowed, "request {i}");
        }
        for i in 0..5000 {
            let d = flooded
                .rate_limit(
                    &format!("random-{i}"),
                    Algorithm::SlidingWindow,
                    5,
                    60_000,
                    1,
                )
                .await;
            assert!(
                d.is_ok_and(|d| d.allowed),
                "every new client is still counted"
            );
        }

        let sixth = quiet
            .rate_limit("alice", Algorithm::SlidingWindow, 5, 60_000, 1)
            .await
            .unwrap();
        assert!(!sixth.allowed, "alice's counter survived the flood");
        let (q, f) = (usage(&store, "quiet"), usage(&store, "flooded"));
        assert_eq!((q.keys, q.evicted), (1, 0));
        assert!(f.keys <= 999 && f.evicted >= 4000, "{f:?}");
        assert_eq!(
            f.refused, 0,
            "the flooded namespace evicts rather than refuses"
        );
    });
}

#[test]
fn a_namespace_taking_the_whole_store_shrinks_to_its_share_when_another_arrives() {
    let store = bounded(100, 64 << 20, None);
    let (first, second) = (
        store.namespace("p", "first"),
        store.namespace("p", "second"),
    );
    block(async {
        for i in 0..100 {
            first.increment(&format!("k{i}"), 1, 0).await.unwrap();
        }
        assert_eq!(
            usage(&store, "first").keys,
            100,
            "alone, it may use the whole store"
        );
        for i in 0..50 {
            second.increment(&format!("k{i}"), 1, 0).await.unwrap();
        }
        let (a, b) = (usage(&store, "first"), usage(&store, "second"));
        assert_eq!((a.keys, b.keys), (50, 50), "equal shares");
        assert_eq!((a.evicted, b.evicted, b.refused), (50, 0, 0));
    });
}

#[test]
fn the_store_is_bounded_in_bytes_and_shares_them_between_namespaces() {
    let store = bounded(1000, 256 << 10, None);
    let ns = store.namespace("p", "r");
    block(async {
        for i in 0..10 {
            ns.set(&format!("v{i}"), vec![0; MAX_VALUE], None)
                .await
                .unwrap();
        }
        let u = usage(&store, "r");
        assert!(u.bytes <= 256 << 10, "{u:?}");
        assert_eq!(u.keys, 3, "three values of 64 KiB fit in 256 KiB: {u:?}");
        assert_eq!(
            ns.get("v9").await.unwrap().map(|v| v.len()),
            Some(MAX_VALUE)
        );

        let other = store.namespace("p", "other");
        other.set("small", b"x".to_vec(), None).await.unwrap();
        ns.set("v10", vec![0; MAX_VALUE], None).await.unwrap();
        let u = usage(&store, "r");
        assert!(
            u.bytes <= 128 << 10,
            "now within its half of the store: {u:?}"
        );
        assert_eq!(other.get("small").await, Ok(Some(b"x".to_vec())));
    });
}

#[test]
fn existing_keys_keep_working_when_explicit_quotas_overcommit_the_store() {
    // Two namespaces each allowed 3 keys in a store of 4: the second's fourth key is refused
    // (nobody is over quota to evict from), its existing keys and the first's keep counting.
    let store = bounded(4, 64 << 20, Some(3));
    let (a, b) = (store.namespace("p", "a"), store.namespace("p", "b"));
    block(async {
        for key in ["x", "y"] {
            a.increment(key, 1, 0).await.unwrap();
            b.increment(key, 1, 0).await.unwrap();
        }
        let refused = b.increment("z", 1, 0).await;
        assert!(
            matches!(refused, Err(StateError::Unavailable(_))),
            "{refused:?}"
        );
        assert_eq!(
            b.increment("x", 1, 0).await,
            Ok(2),
            "existing keys keep working"
        );
        assert_eq!(a.increment("y", 1, 0).await, Ok(2));
        assert_eq!(usage(&store, "b").refused, 1);
        assert_eq!(store.stats().unavailable.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn a_reload_keeping_the_store_keeps_each_namespaces_counters() {
    let store = bounded(100, 64 << 20, None);
    block(async {
        let before = store.namespace("p", "r");
        before.increment("n", 1, 0).await.unwrap();
        let after = store.namespace("p", "r");
        assert_eq!(after.increment("n", 1, 0).await, Ok(2));
        drop((before, after));
        assert!(
            store.usage().is_empty(),
            "a namespace no plugin uses is freed"
        );
        let again = store.namespace("p", "r");
        assert_eq!(again.increment("n", 1, 0).await, Ok(1));
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
