//! The rate-limit algorithms (`host/src/state/algo.rs`) on fuzzed sequences of requests at
//! fuzzed times, with the clock in the fuzzer's hands. Invariants, for every limit, period and
//! cost the state API accepts:
//! - token bucket (GCRA): between any two admitted requests at t1 <= t2, the admitted cost is at
//!   most `limit` plus what refills in `t2 - t1`;
//! - sliding window: within one fixed window, the admitted cost is at most `limit`;
//! - both: `remaining` never exceeds `limit`, `reset` never exceeds the period, and a refused
//!   request of the same cost is admitted once its `retry-after` has passed.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis::state::fuzzing::{WindowState, gcra, sliding_window};
use portcullis::state::{MAX_LIMIT, MAX_PERIOD_MS, RateDecision};

#[derive(Debug, Arbitrary)]
struct Input {
    sliding: bool,
    limit: u32,
    period_ms: u64,
    start_ms: u32,
    requests: Vec<(Step, u32)>,
}

/// How far the clock moves before a request.
#[derive(Debug, Arbitrary)]
enum Step {
    Micros(u16),
    Millis(u32),
    Periods(u8),
}

fn advance(now: u64, step: &Step, period: u64) -> u64 {
    match step {
        Step::Micros(us) => now + u64::from(*us),
        Step::Millis(ms) => now + u64::from(*ms) * 1000,
        Step::Periods(n) => now + u64::from(*n % 4) * period,
    }
}

/// What the state API accepts (`check_rate` in `host/src/state.rs`).
fn valid(limit: u32, period_ms: u64, cost: u32) -> bool {
    (1..=MAX_LIMIT).contains(&limit)
        && (1..=MAX_PERIOD_MS).contains(&period_ms)
        && u64::from(limit) <= period_ms * 1000
        && cost <= limit
}

fn check_common(d: &RateDecision, limit: u32, period: u64) {
    assert!(
        d.remaining <= limit,
        "remaining {} > limit {limit}",
        d.remaining
    );
    assert!(
        d.reset_ms <= period.div_ceil(1000),
        "reset {} ms is longer than the period of {period} us",
        d.reset_ms
    );
    if d.allowed {
        assert_eq!(
            d.retry_after_ms, 0,
            "an admitted request has no retry-after"
        );
    }
}

fuzz_target!(|input: Input| {
    let limit = 1 + input.limit % MAX_LIMIT;
    let period_ms = 1 + input.period_ms % MAX_PERIOD_MS;
    if !valid(limit, period_ms, 0) {
        return;
    }
    let period = period_ms * 1000;
    let mut now = u64::from(input.start_ms) * 1000;
    let mut tat: Option<u64> = None;
    let mut window: Option<WindowState> = None;
    // (time, cost) of every admitted request.
    let mut admitted: Vec<(u64, u64)> = Vec::new();
    for (step, cost) in input.requests.iter().take(256) {
        now = advance(now, step, period);
        let cost = cost % (limit + 1);
        let (decision, retry) = if input.sliding {
            let (decision, stored) = sliding_window(window, now, limit, period, cost);
            let retry = (!decision.allowed).then(|| {
                let later = now + decision.retry_after_ms * 1000;
                sliding_window(window, later, limit, period, cost).0
            });
            if stored.is_some() {
                window = stored;
            }
            (decision, retry)
        } else {
            let (decision, stored) = gcra(tat, now, limit, period, cost);
            let retry = (!decision.allowed).then(|| {
                let later = now + decision.retry_after_ms * 1000;
                gcra(tat, later, limit, period, cost).0
            });
            if stored.is_some() {
                tat = stored;
            }
            (decision, retry)
        };
        check_common(&decision, limit, period);
        if let Some(retry) = retry {
            assert!(
                retry.allowed,
                "refused with retry-after {} ms, but refused again then: {retry:?}",
                decision.retry_after_ms
            );
        }
        if decision.allowed && cost > 0 {
            admitted.push((now, u64::from(cost)));
        }
    }
    if input.sliding {
        check_fixed_windows(&admitted, limit, period);
    } else {
        check_bucket(&admitted, limit, period);
    }
});

/// GCRA admits at most `limit` (the burst) plus one per `interval` elapsed.
fn check_bucket(admitted: &[(u64, u64)], limit: u32, period: u64) {
    let interval = (period / u64::from(limit)).max(1);
    for (i, &(t_i, _)) in admitted.iter().enumerate() {
        let mut cost = 0;
        for &(t_j, c) in admitted[..=i].iter().rev() {
            cost += c;
            assert!(
                cost * interval <= (t_i - t_j) + interval * u64::from(limit),
                "{cost} admitted in {} us with a limit of {limit} per {period} us",
                t_i - t_j
            );
        }
    }
}

/// The sliding window never admits more than `limit` within one fixed window.
fn check_fixed_windows(admitted: &[(u64, u64)], limit: u32, period: u64) {
    let mut current = (u64::MAX, 0);
    for &(t, c) in admitted {
        let start = t - t % period;
        if start != current.0 {
            current = (start, 0);
        }
        current.1 += c;
        assert!(
            current.1 <= u64::from(limit),
            "{} admitted in the window starting at {start} us, limit {limit}",
            current.1
        );
    }
}
