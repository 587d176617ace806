//! A canary: a candidate version of a plugin entry taking a share of its requests while its
//! guard compares it with the stable version, and rolls it back the moment it is worse.
//!
//! The guard judges after every call and every answer of the candidate, over a sliding window
//! of both versions: so a candidate that traps on every call is rolled back after `min-calls`
//! calls, not at the end of a window. A rolled-back candidate takes no traffic until an
//! operator resets it; promoting makes it serve every request. The state is kept with the
//! entry and both versions, so a reload of an unchanged manifest keeps a rollback or a
//! promotion, and a changed candidate starts afresh.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::window::{Totals, Window};
use crate::config::{GuardSpec, Sticky};

/// Which version served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// The entry's own version.
    #[default]
    Stable,
    /// The canary's.
    Candidate,
}

impl Role {
    /// Its name in logs, metrics and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Candidate => "candidate",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Where a canary stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Taking its share of requests, watched by its guard.
    Active,
    /// Its guard tripped: no traffic until reset.
    RolledBack,
    /// An operator stopped it: no traffic until reset.
    Aborted,
    /// An operator promoted it: it serves every request.
    Promoted,
}

impl Phase {
    /// Its name in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Active => "active",
            Phase::RolledBack => "rolled-back",
            Phase::Aborted => "aborted",
            Phase::Promoted => "promoted",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            1 => Phase::RolledBack,
            2 => Phase::Aborted,
            3 => Phase::Promoted,
            _ => Phase::Active,
        }
    }
}

/// Why a guard tripped: the rule, and both versions' figures when it did.
#[derive(Debug, Clone)]
pub struct Trip {
    /// When.
    pub at: SystemTime,
    /// The rule that tripped, with its figures.
    pub reason: String,
    /// The candidate's window.
    pub candidate: VersionFigures,
    /// The stable version's window.
    pub stable: VersionFigures,
}

/// One version's figures over the guard's window.
#[derive(Debug, Clone, Default)]
pub struct VersionFigures {
    /// Sums over the window.
    pub totals: Totals,
    /// Its p99 call time.
    pub p99: Option<Duration>,
}

struct Inner {
    windows: [Window; 2],
    trip: Option<Trip>,
}

/// A canary's state, shared by every snapshot that serves the same entry and versions.
pub struct CanaryState {
    guard: GuardSpec,
    who: String,
    phase: AtomicU8,
    inner: Mutex<Inner>,
    rollbacks: AtomicU64,
    served: [AtomicU64; 2],
}

impl CanaryState {
    /// An active canary judged by `guard`; `who` names the entry in logs.
    pub fn new(guard: GuardSpec, who: String) -> Self {
        Self {
            guard,
            who,
            phase: AtomicU8::new(Phase::Active as u8),
            inner: Mutex::new(Inner {
                windows: [
                    Window::new(guard.window, true),
                    Window::new(guard.window, true),
                ],
                trip: None,
            }),
            rollbacks: AtomicU64::new(0),
            served: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the guard is judging: the candidate takes requests and is compared.
    pub fn is_active(&self) -> bool {
        self.phase() == Phase::Active
    }

    /// Where it stands.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// The guard it was built with.
    pub fn guard(&self) -> &GuardSpec {
        &self.guard
    }

    /// Which version serves a request whose sticky value is `sticky` (hashed), at `weight`
    /// percent for the candidate.
    pub fn choose(&self, weight: f64, sticky: Option<u64>) -> Role {
        let role = match self.phase() {
            Phase::Promoted => Role::Candidate,
            Phase::RolledBack | Phase::Aborted => Role::Stable,
            Phase::Active => {
                // A point in [0, 10000): the request's, or its caller's.
                let point = sticky.unwrap_or_else(rand::random) % 10_000;
                if (point as f64) < weight * 100.0 {
                    Role::Candidate
                } else {
                    Role::Stable
                }
            }
        };
        self.served[role.index()].fetch_add(1, Ordering::Relaxed);
        role
    }

    /// Counts a call of `role` that took `cpu` on CPU, and judges the candidate. The p99 rule
    /// compares CPU time: what the candidate's code costs, which a busy machine or a slow
    /// network inflates for neither version.
    pub fn call(&self, role: Role, cpu: Duration, failed: bool) {
        if self.phase() != Phase::Active {
            return;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.windows[role.index()].call(now, cpu, failed);
        if role == Role::Candidate {
            self.judge(&mut inner, now);
        }
    }

    /// Counts a request `role` served, answered with a 5xx or not, and judges the candidate.
    pub fn answer(&self, role: Role, error: bool) {
        if self.phase() != Phase::Active {
            return;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.windows[role.index()].answer(now, error);
        if role == Role::Candidate {
            self.judge(&mut inner, now);
        }
    }

    fn figures(inner: &Inner, role: Role, now: Instant, p99: bool) -> VersionFigures {
        let window = &inner.windows[role.index()];
        VersionFigures {
            totals: window.totals(now),
            p99: if p99 {
                window.quantile(now, 0.99)
            } else {
                None
            },
        }
    }

    /// Trips the guard if the candidate is worse than it allows.
    fn judge(&self, inner: &mut Inner, now: Instant) {
        let guard = &self.guard;
        let candidate = Self::figures(inner, Role::Candidate, now, false);
        let stable = Self::figures(inner, Role::Stable, now, false);
        let (c, s) = (&candidate.totals, &stable.totals);
        let mut reason = None;
        if c.calls >= guard.min_calls && c.failure_rate() > guard.max_trap_rate {
            reason = Some(format!(
                "{} of its {} calls failed ({:.2}%), more than max-trap-rate {:.2}%",
                c.failures,
                c.calls,
                c.failure_rate() * 100.0,
                guard.max_trap_rate * 100.0
            ));
        }
        if reason.is_none() && c.answered >= guard.min_calls && s.answered >= guard.min_calls {
            // A ratio alone would trip on one 5xx against a stable version with none: the
            // candidate must also be a point (1%) worse.
            let (cr, sr) = (c.error_rate(), s.error_rate());
            if cr > sr * guard.max_error_status_ratio && cr - sr >= 0.01 {
                reason = Some(format!(
                    "{:.2}% of its answers were 5xx against {:.2}% of the stable version's, \
                     more than max-error-status-ratio {}",
                    cr * 100.0,
                    sr * 100.0,
                    guard.max_error_status_ratio
                ));
            }
        }
        if reason.is_none() && c.calls >= guard.min_calls && s.calls >= guard.min_calls {
            let cp = inner.windows[Role::Candidate.index()].quantile(now, 0.99);
            let sp = inner.windows[Role::Stable.index()].quantile(now, 0.99);
            if let (Some(cp), Some(sp)) = (cp, sp)
                && cp.as_secs_f64() > sp.as_secs_f64() * guard.max_p99_ratio
            {
                reason = Some(format!(
                    "its p99 CPU time per call {cp:?} is more than max-p99-ratio {} times the stable \
                     version's {sp:?}",
                    guard.max_p99_ratio
                ));
            }
        }
        let Some(reason) = reason else { return };
        let trip = Trip {
            at: SystemTime::now(),
            reason,
            candidate: Self::figures(inner, Role::Candidate, now, true),
            stable: Self::figures(inner, Role::Stable, now, true),
        };
        tracing::warn!(
            target: "plugin", plugin = %self.who,
            candidate_calls = trip.candidate.totals.calls,
            candidate_failures = trip.candidate.totals.failures,
            candidate_p99_us = trip.candidate.p99.map(|d| d.as_micros() as u64),
            stable_calls = trip.stable.totals.calls,
            stable_p99_us = trip.stable.p99.map(|d| d.as_micros() as u64),
            "the canary of {} was rolled back: {}", self.who, trip.reason
        );
        inner.trip = Some(trip);
        self.rollbacks.fetch_add(1, Ordering::Relaxed);
        self.phase.store(Phase::RolledBack as u8, Ordering::Release);
    }

    /// An operator's decision: `promote`, `abort` or `reset` (back to active, figures cleared).
    pub fn set(&self, phase: Phase) {
        let mut inner = self.lock();
        if phase == Phase::Active {
            inner.trip = None;
            for window in &mut inner.windows {
                window.clear();
            }
        }
        tracing::info!(target: "plugin", plugin = %self.who, "the canary of {} is now {}", self.who, phase.as_str());
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Its state now, for the admin API.
    pub fn view(&self) -> CanaryView {
        let inner = self.lock();
        let now = Instant::now();
        CanaryView {
            phase: self.phase(),
            rollbacks: self.rollbacks.load(Ordering::Relaxed),
            served: [
                self.served[0].load(Ordering::Relaxed),
                self.served[1].load(Ordering::Relaxed),
            ],
            stable: Self::figures(&inner, Role::Stable, now, true),
            candidate: Self::figures(&inner, Role::Candidate, now, true),
            trip: inner.trip.clone(),
        }
    }
}

/// A canary's state at one moment.
#[derive(Debug, Clone)]
pub struct CanaryView {
    /// Where it stands.
    pub phase: Phase,
    /// Times its guard tripped.
    pub rollbacks: u64,
    /// Requests each version served (stable, candidate).
    pub served: [u64; 2],
    /// The stable version's window.
    pub stable: VersionFigures,
    /// The candidate's window.
    pub candidate: VersionFigures,
    /// The last trip, until a reset.
    pub trip: Option<Trip>,
}

/// The point of a sticky value: the same for the same value in every gateway of a fleet (a
/// hash with fixed keys).
pub fn sticky_point(value: &[u8]) -> u64 {
    // FNV-1a, then splitmix64's finalizer to spread close values over the whole range.
    let mut hash = value.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The sticky value of a request, if it has one.
pub fn sticky_value<'a>(
    sticky: &Sticky,
    exchange: &'a crate::plugin::Exchange,
    ip: &'a mut String,
) -> Option<&'a [u8]> {
    match sticky {
        Sticky::ClientIp => {
            use std::fmt::Write;
            let _ = write!(ip, "{}", exchange.client_ip);
            Some(ip.as_bytes())
        }
        Sticky::Header(name) => exchange.request.headers.get(name).map(|v| v.as_bytes()),
        Sticky::Context(key) => exchange.context.get(key).map(str::as_bytes),
    }
}

#[cfg(test)]
mod tests;
