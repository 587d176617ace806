//! A plugin's circuit breaker: when too many of its calls fail, stop making them for a while.
//! A plugin that traps on every call costs an instantiation and a trap per request and fails
//! them all; an open breaker costs nothing and lets the failure policy answer at once
//! (`fail-open` skips the plugin, `fail-closed` answers 503 naming it).
//!
//! Closed, it counts calls in a sliding window and opens when at least `min-calls` were made
//! and the share that failed reaches `trap-rate`. Open, it refuses calls for `open-for`, then
//! goes half-open: one probe call at a time, [`PROBES`] successes in a row close it, one
//! failure opens it again. Its state is kept with the plugin's version, so a reload that
//! replaces the plugin starts a new breaker, closed.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::window::Window;
use crate::config::BreakerSpec;

/// Successful probes in a row that close a half-open breaker.
pub const PROBES: u32 = 3;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// Whether a call may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call, and report how it went.
    Call,
    /// Half-open: this call is the probe.
    Probe,
    /// Open: do not call.
    Refuse,
}

/// A breaker's state, for the admin API and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerView {
    /// `closed`, `open` or `half-open`.
    pub state: &'static str,
    /// How many times it opened.
    pub opened: u64,
    /// Calls refused while open.
    pub refused: u64,
    /// When it last opened, and why.
    pub last_opened: Option<(SystemTime, String)>,
    /// Calls and failures in the window now (closed).
    pub window_calls: u64,
    /// Failed calls in the window now.
    pub window_failures: u64,
}

struct Inner {
    window: Window,
    /// Open until then.
    until: Instant,
    probing: bool,
    probes_passed: u32,
    last_opened: Option<(SystemTime, String)>,
}

/// One plugin version's breaker.
pub struct Breaker {
    spec: BreakerSpec,
    who: String,
    state: AtomicU8,
    inner: Mutex<Inner>,
    opened: AtomicU64,
    refused: AtomicU64,
}

impl Breaker {
    /// A closed breaker; `who` names the plugin and route in its log lines.
    pub fn new(spec: BreakerSpec, who: String) -> Self {
        Self {
            spec,
            who,
            state: AtomicU8::new(CLOSED),
            inner: Mutex::new(Inner {
                window: Window::new(spec.window, false),
                until: Instant::now(),
                probing: false,
                probes_passed: 0,
                last_opened: None,
            }),
            opened: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// What it was built with.
    pub fn spec(&self) -> &BreakerSpec {
        &self.spec
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the next call may be made (closed: without taking a lock).
    pub fn admit(&self) -> Admission {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return Admission::Call;
        }
        let mut inner = self.lock();
        let admission = match self.state.load(Ordering::Acquire) {
            CLOSED => Admission::Call,
            OPEN if Instant::now() >= inner.until => {
                self.state.store(HALF_OPEN, Ordering::Release);
                inner.probing = true;
                inner.probes_passed = 0;
                tracing::info!(target: "plugin", plugin = %self.who, "the breaker of {} is half-open: probing", self.who);
                Admission::Probe
            }
            HALF_OPEN if !inner.probing => {
                inner.probing = true;
                Admission::Probe
            }
            _ => Admission::Refuse,
        };
        if admission == Admission::Refuse {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        admission
    }

    /// Reports how an admitted call went.
    pub fn record(&self, admission: Admission, failed: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        match admission {
            Admission::Refuse => {}
            Admission::Call => {
                if self.state.load(Ordering::Acquire) != CLOSED {
                    return;
                }
                inner.window.call(now, Duration::ZERO, failed);
                let totals = inner.window.totals(now);
                if totals.calls >= self.spec.min_calls
                    && totals.failure_rate() >= self.spec.trap_rate
                {
                    let reason = format!(
                        "{} of {} calls failed in the last {:?} (trap-rate {:.1}%)",
                        totals.failures,
                        totals.calls,
                        self.spec.window,
                        self.spec.trap_rate * 100.0
                    );
                    self.open(&mut inner, now, reason);
                }
            }
            Admission::Probe => {
                inner.probing = false;
                if failed {
                    self.open(&mut inner, now, "a probe call failed".into());
                } else {
                    inner.probes_passed += 1;
                    if inner.probes_passed >= PROBES {
                        inner.window.clear();
                        self.state.store(CLOSED, Ordering::Release);
                        tracing::info!(target: "plugin", plugin = %self.who, "the breaker of {} closed: {PROBES} probe calls succeeded", self.who);
                    }
                }
            }
        }
    }

    fn open(&self, inner: &mut Inner, now: Instant, reason: String) {
        inner.until = now + self.spec.open_for;
        inner.window.clear();
        inner.probing = false;
        tracing::warn!(
            target: "plugin", plugin = %self.who, open_for = ?self.spec.open_for,
            "the breaker of {} opened for {:?}: {reason}", self.who, self.spec.open_for
        );
        inner.last_opened = Some((SystemTime::now(), reason));
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.state.store(OPEN, Ordering::Release);
    }

    /// Gives up a probe whose call never finished, so the next call may probe.
    fn abandon(&self, admission: Admission) {
        if admission == Admission::Probe {
            self.lock().probing = false;
        }
    }

    /// Closes it now (an operator's reset).
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.window.clear();
        inner.probing = false;
        self.state.store(CLOSED, Ordering::Release);
    }

    /// Its state now.
    pub fn view(&self) -> BreakerView {
        let inner = self.lock();
        let totals = inner.window.totals(Instant::now());
        BreakerView {
            state: match self.state.load(Ordering::Acquire) {
                CLOSED => "closed",
                OPEN => "open",
                _ => "half-open",
            },
            opened: self.opened.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            last_opened: inner.last_opened.clone(),
            window_calls: totals.calls,
            window_failures: totals.failures,
        }
    }
}

/// An admitted call in flight: reports its outcome, or, dropped before it finished (its request
/// was abandoned), gives its probe back.
pub struct Pending<'a> {
    breaker: &'a Breaker,
    admission: Admission,
    done: bool,
}

impl<'a> Pending<'a> {
    /// A call `admission` let through.
    pub fn new(breaker: &'a Breaker, admission: Admission) -> Self {
        Self {
            breaker,
            admission,
            done: false,
        }
    }

    /// Reports how the call went.
    pub fn record(&mut self, failed: bool) {
        self.done = true;
        self.breaker.record(self.admission, failed);
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.abandon(self.admission);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> Breaker {
        Breaker::new(
            BreakerSpec {
                trap_rate: 0.5,
                window: Duration::from_secs(10),
                min_calls: 4,
                open_for,
            },
            "test".into(),
        )
    }

    #[test]
    fn it_opens_once_enough_calls_failed_and_refuses_while_open() {
        let b = breaker(Duration::from_secs(60));
        for failed in [true, false, true] {
            assert_eq!(b.admit(), Admission::Call);
            b.record(Admission::Call, failed);
        }
        assert_eq!(b.view().state, "closed", "3 calls are fewer than min-calls");
        b.record(Admission::Call, true);
        assert_eq!(b.view().state, "open");
        assert_eq!(b.admit(), Admission::Refuse);
        let view = b.view();
        assert_eq!((view.opened, view.refused), (1, 1));
        assert!(view.last_opened.unwrap().1.contains("3 of 4 calls failed"));
    }

    #[test]
    fn half_open_probes_one_at_a_time_and_close_it_after_enough_successes() {
        let b = breaker(Duration::from_millis(1));
        for _ in 0..4 {
            b.record(Admission::Call, true);
        }
        std::thread::sleep(Duration::from_millis(5));
        for _ in 0..PROBES {
            assert_eq!(b.admit(), Admission::Probe);
            assert_eq!(b.admit(), Admission::Refuse, "one probe at a time");
            b.record(Admission::Probe, false);
        }
        assert_eq!(b.view().state, "closed");
        assert_eq!(b.admit(), Admission::Call);
    }

    #[test]
    fn a_probe_abandoned_before_it_finished_lets_the_next_call_probe() {
        let b = breaker(Duration::from_millis(1));
        for _ in 0..4 {
            b.record(Admission::Call, true);
        }
        std::thread::sleep(Duration::from_millis(5));
        let admission = b.admit();
        assert_eq!(admission, Admission::Probe);
        drop(Pending::new(&b, admission));
        assert_eq!(
            b.admit(),
            Admission::Probe,
            "the abandoned probe gave its turn back"
        );
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let b = breaker(Duration::from_millis(1));
        for _ in 0..4 {
            b.record(Admission::Call, true);
        }
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(b.admit(), Admission::Probe);
        b.record(Admission::Probe, true);
        assert_eq!(b.view().state, "open");
        assert_eq!(b.view().opened, 2);
    }
}
