//! The in-process state store through its public API (`Namespace`), on fuzzed sequences of
//! operations checked against a plain model: counters add up (or refuse to overflow), values
//! read back as written until deleted, and a rate limit never admits more than its limit within
//! a window. Windows align on Unix time; the period here is the longest allowed (366 days), so
//! an input never straddles a window boundary in practice.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis::state::{Algorithm, MAX_PERIOD_MS, StateError, StateStore};

#[derive(Debug, Arbitrary)]
struct Input {
    limit: u8,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Increment {
        key: u8,
        delta: i64,
    },
    RateLimit {
        key: u8,
        sliding: bool,
        cost: u8,
    },
    Set {
        key: u8,
        value: Vec<u8>,
    },
    Get {
        key: u8,
    },
    Delete {
        key: u8,
    },
    /// A second namespace (another plugin or route) using the same key.
    OtherNamespace {
        key: u8,
        delta: i64,
    },
}

fn key(n: u8) -> String {
    format!("k{}", n % 16)
}

fuzz_target!(|input: Input| {
    let limit = 1 + u32::from(input.limit % 100);
    portcullis_fuzz::tokio().block_on(async {
        let store = StateStore::in_process();
        let ns = store.namespace("fuzz", "route");
        let other = store.namespace("fuzz", "other-route");
        let mut counters: HashMap<String, i64> = HashMap::new();
        let mut other_counters: HashMap<String, i64> = HashMap::new();
        let mut values: HashMap<String, Vec<u8>> = HashMap::new();
        let mut spent: HashMap<(String, bool), u32> = HashMap::new();
        for op in input.ops.iter().take(512) {
            match op {
                Op::Increment { key: k, delta } => {
                    let k = key(*k);
                    let model = counters.entry(k.clone()).or_default();
                    let got = ns.increment(&k, *delta, 0).await;
                    match model.checked_add(*delta) {
                        Some(next) => {
                            assert_eq!(got, Ok(next), "increment {k} by {delta}");
                            *model = next;
                        }
                        None => assert!(matches!(got, Err(StateError::Invalid(_))), "{got:?}"),
                    }
                }
                Op::OtherNamespace { key: k, delta } => {
                    let k = key(*k);
                    let model = other_counters.entry(k.clone()).or_default();
                    let got = other.increment(&k, *delta, 0).await;
                    if let Some(next) = model.checked_add(*delta) {
                        assert_eq!(got, Ok(next), "increment {k} by {delta} elsewhere");
                        *model = next;
                    }
                }
                Op::RateLimit {
                    key: k,
                    sliding,
                    cost,
                } => {
                    let k = key(*k);
                    let cost = u32::from(*cost) % (limit + 1);
                    let algorithm = if *sliding {
                        Algorithm::SlidingWindow
                    } else {
                        Algorithm::TokenBucket
                    };
                    let decision = ns
                        .rate_limit(&k, algorithm, limit, MAX_PERIOD_MS, cost)
                        .await
                        .unwrap_or_else(|e| panic!("rate limit {k}: {e}"));
                    let used = spent.entry((k.clone(), *sliding)).or_default();
                    if decision.allowed {
                        *used += cost;
                    }
                    assert!(
                        *used <= limit,
                        "{used} admitted on {k} with a limit of {limit}"
                    );
                    assert_eq!(decision.remaining, limit - *used, "remaining on {k}");
                }
                Op::Set { key: k, value } => {
                    let k = key(*k);
                    ns.set(&k, value.clone(), None).await.expect("set");
                    values.insert(k, value.clone());
                }
                Op::Get { key: k } => {
                    let k = key(*k);
                    let got = ns.get(&k).await.expect("get");
                    assert_eq!(got.as_ref(), values.get(&k), "get {k}");
                }
                Op::Delete { key: k } => {
                    let k = key(*k);
                    ns.delete(&k).await.expect("delete");
                    values.remove(&k);
                }
            }
        }
    });
});
