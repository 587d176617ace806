//! The rate-limit algorithms as pure functions of (stored state, now): GCRA and the sliding
//! window. The in-process backend calls them under a shard lock; the Redis backend runs the same
//! arithmetic in Lua (`redis.rs`), so both backends decide alike. Times are microseconds of Unix
//! time (the Redis server's clock, or this process's), so windows align on UTC boundaries.

use super::RateDecision;

/// The stored state of a sliding window: the current window's start, the counts of the
/// previous and current windows, and when the last request counted in each arrived (so that a
/// window whose requests are all older than one period stops counting at once, instead of
/// fading out over the next window as the plain approximation assumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) start: u64,
    pub(super) prev: u64,
    pub(super) curr: u64,
    /// When the last request counted in the previous window arrived (unused when `prev` is 0).
    pub(super) prev_last: u64,
    /// When the last request counted in the current window arrived (unused when `curr` is 0).
    pub(super) curr_last: u64,
}

impl Window {
    /// The state as seen at `now`: rolled forward to the window containing `now`.
    fn at(state: Option<Window>, now: u64, period: u64) -> Window {
        let start = now - now % period;
        let empty = Window {
            start,
            prev: 0,
            curr: 0,
            prev_last: 0,
            curr_last: 0,
        };
        match state {
            Some(w) if w.start == start => w,
            Some(w) if w.start.saturating_add(period) == start => Window {
                prev: w.curr,
                prev_last: w.curr_last,
                ..empty
            },
            _ => empty,
        }
    }

    /// The previous window's count, weighted by how much of it still overlaps the last
    /// `period`; 0 once its last request is a whole period old.
    fn weighted_prev(&self, now: u64, period: u64) -> f64 {
        if self.prev == 0 || now >= self.prev_last.saturating_add(period) {
            return 0.0;
        }
        let left = self.start + period - now;
        // The same operations, in the same order, as the Lua script: both give the same doubles.
        self.prev as f64 * left as f64 / period as f64
    }

    /// When the whole limit is available again: a period after the last request counted.
    fn whole_at(&self, now: u64, period: u64) -> u64 {
        let last = if self.curr > 0 {
            self.curr_last
        } else if self.weighted_prev(now, period) > 0.0 {
            self.prev_last
        } else {
            return now;
        };
        last.saturating_add(period).max(now)
    }

    /// The first time at which a request of `cost` fits, for a state that refuses it at `now`:
    /// never more than one period away, because every counted request stops counting one
    /// period after it arrived. Found by bisection on [`fits`] itself, not by solving the
    /// weighting for the time: the closed form, rounded to doubles, could name a microsecond
    /// at which the decision still refuses (by one ulp), and a client told to come back then
    /// would be refused again with nothing to wait for.
    fn admits_at(&self, now: u64, limit: u32, period: u64, cost: u32) -> u64 {
        let fits_at = |t: u64| {
            let window = Window::at(Some(*self), t, period);
            fits(window.weighted_prev(t, period), window.curr, limit, cost)
        };
        // A time that refuses and a later one that admits. If this window's own count leaves
        // room, the request fits in it once the previous window's requests are a period old
        // (where they weigh exactly 0), or sooner as they slide out; otherwise, in the next
        // window once this one's requests are a period old (then nothing counts).
        let (mut refused, mut admitted) = if self.curr + u64::from(cost) <= u64::from(limit) {
            (now, self.prev_last.saturating_add(period))
        } else {
            (
                self.start + period - 1,
                self.curr_last.saturating_add(period),
            )
        };
        // Within one window the weight only falls as time passes, so `fits_at` is false up to
        // one instant and true from it on: at most 45 steps for the longest period.
        while admitted > refused + 1 {
            let mid = refused + (admitted - refused) / 2;
            if fits_at(mid) {
                admitted = mid;
            } else {
                refused = mid;
            }
        }
        admitted.max(now)
    }
}

/// Whether a request of `cost` fits beside the weighted previous window and the current count:
/// the one test the decision and the search for its retry time both make, in the same order of
/// operations as the Lua script, so that all of them agree to the last bit.
fn fits(weighted: f64, curr: u64, limit: u32, cost: u32) -> bool {
    weighted + curr as f64 + f64::from(cost) <= f64::from(limit)
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
/// how much of it still overlaps the last `period` (and not at all once its last request is a
/// period old). Windows are aligned on the clock (`now` is Unix time): each minute, hour or day
/// in UTC. Returns the decision and, when a cost was counted, the state to store (for two
/// periods). `reset_ms` is when the whole limit is available again; `retry_after_ms`, when
/// refused, is exactly when the same cost would be admitted (both at most one period).
pub(super) fn sliding_window(
    state: Option<Window>,
    now: u64,
    limit: u32,
    period: u64,
    cost: u32,
) -> (RateDecision, Option<Window>) {
    let mut window = Window::at(state, now, period);
    let weighted = window.weighted_prev(now, period);
    let estimate = weighted + window.curr as f64;
    let limit_f = f64::from(limit);
    if fits(weighted, window.curr, limit, cost) {
        if cost > 0 {
            window.curr += u64::from(cost);
            window.curr_last = now;
        }
        let remaining = (limit_f - (weighted + window.curr as f64)).floor().max(0.0);
        let decision = RateDecision {
            allowed: true,
            limit,
            remaining: remaining as u32,
            reset_ms: ceil_ms(window.whole_at(now, period) - now),
            retry_after_ms: 0,
        };
        return (decision, (cost > 0).then_some(window));
    }
    let decision = RateDecision {
        allowed: false,
        limit,
        remaining: (limit_f - estimate).floor().max(0.0) as u32,
        reset_ms: ceil_ms(window.whole_at(now, period) - now),
        retry_after_ms: ceil_ms(window.admits_at(now, limit, period, cost) - now),
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
