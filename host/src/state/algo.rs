//! The rate-limit algorithms as pure functions of (stored state, now): GCRA and the sliding
//! window. The in-process backend calls them under a shard lock; the Redis backend runs the same
//! arithmetic in Lua (`redis.rs`), so both backends decide alike. Times are microseconds.

use super::RateDecision;

/// The stored state of a sliding window: the current window's start and the counts of the
/// previous and current windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) start: u64,
    pub(super) prev: u64,
    pub(super) curr: u64,
}

/// GCRA: `tat` is the theoretical arrival time of the next request. Returns the decision and,
/// when a cost was counted, the new `tat` to store (it may expire at that time).
pub(super) fn gcra(
    tat: Option<u64>,
    now: u64,
    limit: u32,
    period: u64,
    cost: u32,
) -> (RateDecision, Option<u64>) {
    let interval = (period / u64::from(limit)).max(1);
    let burst = interval * u64::from(limit);
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(interval * u64::from(cost));
    let allow_at = new_tat.saturating_sub(burst);
    if now < allow_at {
        let decision = RateDecision {
            allowed: false,
            limit,
            remaining: tokens(burst.saturating_sub(tat - now), interval),
            reset_ms: ceil_ms(tat - now),
            retry_after_ms: ceil_ms(allow_at - now),
        };
        return (decision, None);
    }
    let decision = RateDecision {
        allowed: true,
        limit,
        remaining: tokens(burst.saturating_sub(new_tat - now), interval),
        reset_ms: ceil_ms(new_tat - now),
        retry_after_ms: 0,
    };
    (decision, (cost > 0).then_some(new_tat))
}

/// The sliding window: the current fixed window's count plus the previous one's, weighted by
/// how much of it still overlaps the last `period`. Returns the decision and, when a cost was
/// counted, the state to store (for two periods).
pub(super) fn sliding_window(
    state: Option<Window>,
    now: u64,
    limit: u32,
    period: u64,
    cost: u32,
) -> (RateDecision, Option<Window>) {
    let start = now - now % period;
    let (prev, curr) = match state {
        Some(w) if w.start == start => (w.prev, w.curr),
        Some(w) if w.start.saturating_add(period) == start => (w.curr, 0),
        _ => (0, 0),
    };
    let left = period - (now - start);
    // The same operations, in the same order, as the Lua script: both give the same doubles.
    let weighted = prev as f64 * left as f64 / period as f64;
    let estimate = weighted + curr as f64;
    let (limit_f, cost_f) = (f64::from(limit), f64::from(cost));
    if estimate + cost_f <= limit_f {
        let curr = curr + u64::from(cost);
        let remaining = (limit_f - (weighted + curr as f64)).floor().max(0.0);
        let decision = RateDecision {
            allowed: true,
            limit,
            remaining: remaining as u32,
            reset_ms: ceil_ms(left),
            retry_after_ms: 0,
        };
        let stored = (cost > 0).then_some(Window { start, prev, curr });
        return (decision, stored);
    }
    let need = limit_f - cost_f;
    let (prev_f, curr_f, left_f, period_f) = (prev as f64, curr as f64, left as f64, period as f64);
    let wait = if prev > 0 && curr_f <= need {
        // Within this window, once enough of the previous one has slid out.
        (left_f - (need - curr_f) * period_f / prev_f)
            .ceil()
            .max(0.0)
    } else if curr_f <= need {
        left_f
    } else {
        // In the next window, once enough of this one has slid out.
        left_f + (period_f - need * period_f / curr_f).ceil().max(0.0)
    };
    let decision = RateDecision {
        allowed: false,
        limit,
        remaining: (limit_f - estimate).floor().max(0.0) as u32,
        reset_ms: ceil_ms(left),
        retry_after_ms: ceil_ms(wait as u64),
    };
    (decision, None)
}

fn tokens(time: u64, interval: u64) -> u32 {
    u32::try_from(time / interval).unwrap_or(u32::MAX)
}

/// Microseconds to whole milliseconds, rounded up (a client told "0" would retry too early).
pub(super) fn ceil_ms(micros: u64) -> u64 {
    micros.div_ceil(1000)
}
