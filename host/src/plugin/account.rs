//! What each configured plugin costs, measured by the host without any plugin code: calls, CPU
//! and wall time per call, failures by kind, instances alive and the largest memory one of them
//! reached.
//!
//! CPU time is the time spent polling the call: running guest code and the host functions it
//! calls, but not waiting for the host's I/O (a state backend, an outbound request) or a timer.
//! It costs two reads of the monotonic clock per poll (a plain call is one poll, about 25 ns a
//! read), where a thread CPU clock is a system call per read on Linux (measured here at 300 to
//! 700 ns: more than the whole accounting may cost). A poll's wall time also counts a
//! preemption of the thread by the kernel, which a thread clock would not; the epoch bounds
//! that: a guest yields at every tick it runs, so one poll holds at most a tick of its code, and
//! a poll is counted for at most a tick and a half. A call preempted on a busy machine so reads
//! at most a tick and a half high per preemption, where it would otherwise read the whole time
//! the kernel gave the core to others. The figures are kept per version of a plugin (its
//! [`version`](super::ConfiguredPlugin::version): the component and what it was configured
//! with), in a registry that a reload of an unchanged entry finds again, so they run on across
//! reloads like counters should.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

pub mod histogram;

use histogram::Histogram;

/// The kinds of failure counted apart. A trap whose guest left a Rust panic message on stderr
/// counts as `panic`; every other kind is [`CallError::kind`](super::CallError::kind).
pub const FAILURE_KINDS: [&str; 9] = [
    "error",
    "panic",
    "trap",
    "cpu-limit",
    "memory-limit",
    "memory-budget",
    "handle-limit",
    "wall-clock",
    "instantiate",
];

/// The figures of one plugin version on one route.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls that failed, of any kind.
    pub failures: AtomicU64,
    /// Failures by kind, in the order of [`FAILURE_KINDS`].
    pub failures_by_kind: [AtomicU64; FAILURE_KINDS.len()],
    /// Failures skipped under `fail-open`.
    pub skipped: AtomicU64,
    /// Instances created.
    pub instantiations: AtomicU64,
    /// Instances alive now (idle or in a call).
    pub live_instances: AtomicI64,
    /// The largest linear memory an instance has had, in bytes.
    pub memory_high_water: AtomicUsize,
    /// Time spent in calls (instantiation included when a call needed one), in nanoseconds.
    pub call_nanos: AtomicU64,
    /// Reused instances dropped at the end of their call instead of kept idle, because their
    /// memory had grown beyond `[plugin-runtime] idle-memory`.
    pub oversized_drops: AtomicU64,
    /// Reused instances dropped at the end of their call because what was left of their memory
    /// limit was too little for another call (`instance::near_limit`): a plugin that keeps a
    /// little memory on every call (a JavaScript engine does) gets a fresh instance instead of
    /// failing a request at its limit.
    pub limit_recycles: AtomicU64,
    /// The most one call has grown an instance's linear memory, in bytes.
    pub largest_call_growth: AtomicUsize,
    /// Time on CPU per call.
    pub cpu: Histogram,
    /// Wall-clock time per call.
    pub wall: Histogram,
}

impl PluginStats {
    /// Records a finished call: its wall time and its time on CPU.
    pub fn record_call(&self, wall: Duration, cpu: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX);
        self.call_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.wall.record(wall);
        self.cpu.record(cpu);
    }

    /// Counts a failed call.
    pub fn record_failure(&self, error: &super::CallError) {
        let kind = match error {
            super::CallError::Trap(text) if text.contains("panicked") => "panic",
            other => other.kind(),
        };
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = FAILURE_KINDS.iter().position(|k| *k == kind) {
            self.failures_by_kind[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes an instance's memory, for the high-water mark.
    pub fn saw_memory(&self, bytes: usize) {
        self.memory_high_water.fetch_max(bytes, Ordering::Relaxed);
    }

    /// A copy of the figures now.
    pub fn figures(&self) -> Figures {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let cpu = self.cpu.counts();
        let wall = self.wall.counts();
        Figures {
            calls: load(&self.calls),
            failures: load(&self.failures),
            failures_by_kind: std::array::from_fn(|i| load(&self.failures_by_kind[i])),
            skipped: load(&self.skipped),
            instantiations: load(&self.instantiations),
            live_instances: u64::try_from(self.live_instances.load(Ordering::Relaxed)).unwrap_or(0),
            memory_high_water: self.memory_high_water.load(Ordering::Relaxed) as u64,
            oversized_drops: load(&self.oversized_drops),
            limit_recycles: load(&self.limit_recycles),
            largest_call_growth: self.largest_call_growth.load(Ordering::Relaxed) as u64,
            cpu_p50: histogram::quantile(cpu.iter().copied(), 0.5),
            cpu_p99: histogram::quantile(cpu.iter().copied(), 0.99),
            wall_p50: histogram::quantile(wall.iter().copied(), 0.5),
            wall_p99: histogram::quantile(wall.iter().copied(), 0.99),
            cpu_total: self.cpu.sum(),
            wall_total: self.wall.sum(),
            cpu_buckets: cpu,
            wall_buckets: wall,
        }
    }
}

/// A copy of [`PluginStats`] at one moment, for the admin API and `/metrics`.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Calls made.
    pub calls: u64,
    /// Failed calls.
    pub failures: u64,
    /// Failed calls by kind, in the order of [`FAILURE_KINDS`].
    pub failures_by_kind: [u64; FAILURE_KINDS.len()],
    /// Failures skipped under `fail-open`.
    pub skipped: u64,
    /// Instances created.
    pub instantiations: u64,
    /// Instances alive now.
    pub live_instances: u64,
    /// The largest linear memory an instance has had.
    pub memory_high_water: u64,
    /// Instances dropped for their size.
    pub oversized_drops: u64,
    /// Instances recycled before their memory limit.
    pub limit_recycles: u64,
    /// The most one call has grown an instance's memory.
    pub largest_call_growth: u64,
    /// CPU time per call, median.
    pub cpu_p50: Option<Duration>,
    /// CPU time per call, 99th percentile.
    pub cpu_p99: Option<Duration>,
    /// Wall time per call, median.
    pub wall_p50: Option<Duration>,
    /// Wall time per call, 99th percentile.
    pub wall_p99: Option<Duration>,
    /// CPU time of every call.
    pub cpu_total: Duration,
    /// Wall time of every call.
    pub wall_total: Duration,
    /// CPU time per call, counts per bucket of [`histogram`].
    pub cpu_buckets: [u64; histogram::BUCKETS],
    /// Wall time per call, counts per bucket.
    pub wall_buckets: [u64; histogram::BUCKETS],
}

/// Counts an instance alive from its creation to its drop.
pub(crate) struct Alive(std::sync::Arc<PluginStats>);

impl Alive {
    pub(crate) fn new(stats: &std::sync::Arc<PluginStats>) -> Self {
        stats.live_instances.fetch_add(1, Ordering::Relaxed);
        Self(stats.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.live_instances.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which clock measures a plugin call's time on CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuClock {
    /// The monotonic clock around each poll, each poll counted for at most a tick and a half:
    /// two vDSO reads, tens of nanoseconds. A preempted poll reads high (bounded by the cap).
    Polls,
    /// The thread's own CPU clock around each poll: what the kernel gave the thread, whatever
    /// preempted it. Two system calls per poll (0.3 to 0.7 us each), so only for calls whose
    /// CPU time decides something: a canary's guard comparing two versions' p99, where one
    /// preempted call must not roll back a good candidate (or hide a slow one).
    Thread,
}

/// Measures the time a future spends on CPU, for a plugin call, with `clock`: by its polls, each
/// counted for at most `cap`, or by the thread's CPU clock. The first poll starts at the call's
/// start, which the caller read already, and the last poll's end is when the call ended: a call
/// done in one poll (most are) reads the monotonic clock once here.
pub(crate) struct OnCpu<F> {
    inner: F,
    spent: Duration,
    cap: Duration,
    clock: CpuClock,
    first_poll: Option<std::time::Instant>,
}

impl<F> OnCpu<F> {
    pub(crate) fn new(
        inner: F,
        cap: Duration,
        clock: CpuClock,
        started: std::time::Instant,
    ) -> Self {
        Self {
            inner,
            spent: Duration::ZERO,
            cap,
            clock,
            first_poll: Some(started),
        }
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for OnCpu<F> {
    /// The future's output, its time on CPU, and when it ended.
    type Output = (F::Output, Duration, std::time::Instant);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let started = self
            .first_poll
            .take()
            .unwrap_or_else(std::time::Instant::now);
        let on_thread = (self.clock == CpuClock::Thread).then(thread_cpu);
        let polled = std::pin::Pin::new(&mut self.inner).poll(cx);
        let now = std::time::Instant::now();
        let polled_for = match on_thread {
            Some(before) => thread_cpu().saturating_sub(before),
            None => now.saturating_duration_since(started).min(self.cap),
        };
        self.spent += polled_for;
        polled.map(|output| (output, self.spent, now))
    }
}

/// The CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use super::{CpuClock, OnCpu};

    /// A call that is off CPU for `asleep` (as if the kernel had preempted its thread) and burns
    /// `burn` on it, in one poll.
    struct Preempted {
        asleep: Duration,
        burn: Duration,
    }

    impl Future for Preempted {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            std::thread::sleep(self.asleep);
            let start = Instant::now();
            let mut spins = 0u64;
            while start.elapsed() < self.burn {
                spins = std::hint::black_box(spins + 1);
            }
            Poll::Ready(())
        }
    }

    fn measure(clock: CpuClock, call: Preempted) -> Duration {
        let cap = Duration::from_millis(100);
        let mut on_cpu = std::pin::pin!(OnCpu::new(call, cap, clock, Instant::now()));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match on_cpu.as_mut().poll(&mut cx) {
            Poll::Ready(((), spent, _)) => spent,
            Poll::Pending => panic!("one poll"),
        }
    }

    #[test]
    fn the_thread_clock_leaves_out_the_time_the_thread_was_off_cpu_and_the_polls_count_it() {
        let call = || Preempted {
            asleep: Duration::from_millis(30),
            burn: Duration::from_millis(5),
        };
        let by_polls = measure(CpuClock::Polls, call());
        assert!(by_polls >= Duration::from_millis(35), "{by_polls:?}");
        let on_thread = measure(CpuClock::Thread, call());
        assert!(
            on_thread > Duration::ZERO && on_thread < Duration::from_millis(25),
            "{on_thread:?}: at most the 5 ms burned, not the 30 ms asleep"
        );
    }
}
