//! The epoch ticker: the clock of every plugin's CPU limit, running only while plugin code may
//! run.
//!
//! wasmtime interrupts a call when the engine's epoch passes the call's deadline, so something
//! must advance the epoch: a thread that wakes every [`EPOCH_TICK`]. Waking a thousand times a
//! second costs a context switch each time on the core it shares with a worker (measured: 1.1% of
//! the gateway's CPU on a route without plugins, and most of the worker's involuntary switches),
//! and costs it for nothing when no plugin is running. So calls count themselves in flight
//! ([`Ticker::busy`]), and the thread parks after [`IDLE_TICKS`] ticks with none; the next call
//! wakes it. A call that starts while it parks loses nothing: its deadline counts ticks from the
//! epoch the ticker resumes at.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances: the granularity of CPU limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks with no call in flight before the ticker parks (100 ms): a busy gateway never parks it
/// between two calls.
const IDLE_TICKS: u32 = 100;

/// The running ticker; stopped when dropped.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

struct Shared {
    /// Plugin calls (and instantiations) in progress.
    in_flight: AtomicUsize,
    /// Set by the ticker just before it parks.
    parked: AtomicBool,
    stop: AtomicBool,
}

/// One call in flight, for as long as it lives.
pub(crate) struct Busy<'a> {
    shared: &'a Shared,
}

impl Ticker {
    /// Starts the ticker thread for `engine`.
    pub(crate) fn start(engine: Engine) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            in_flight: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let ticking = shared.clone();
        let handle = std::thread::Builder::new()
            .name("portcullis-epoch".into())
            .spawn(move || tick(&engine, &ticking))?;
        Ok(Self {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Counts a call in flight until the guard is dropped, waking the ticker if it parked.
    pub(crate) fn busy(&self) -> Busy<'_> {
        // SeqCst on both sides: either the ticker sees this call before it parks, or this call
        // sees it parked and wakes it.
        self.shared.in_flight.fetch_add(1, SeqCst);
        if self.shared.parked.load(SeqCst) && self.shared.parked.swap(false, SeqCst) {
            self.thread.unpark();
        }
        Busy {
            shared: &self.shared,
        }
    }

    /// Whether the thread is parked now (for tests).
    #[cfg(test)]
    fn is_parked(&self) -> bool {
        self.shared.parked.load(SeqCst)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        self.thread.unpark();
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, SeqCst);
    }
}

fn tick(engine: &Engine, shared: &Shared) {
    let mut idle = 0;
    while !shared.stop.load(SeqCst) {
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
        if shared.in_flight.load(SeqCst) > 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < IDLE_TICKS {
            continue;
        }
        shared.parked.store(true, SeqCst);
        if shared.in_flight.load(SeqCst) == 0 && !shared.stop.load(SeqCst) {
            // A spurious wake-up only costs another 100 ms of ticks.
            std::thread::park();
        }
        shared.parked.store(false, SeqCst);
        idle = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until(what: &str, condition: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(std::time::Instant::now() < deadline, "{what} within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_ticker_parks_when_no_call_runs_and_a_call_wakes_it() {
        let ticker = Ticker::start(Engine::default()).expect("the ticker starts");
        wait_until("parked", || ticker.is_parked());

        let busy = ticker.busy();
        assert!(!ticker.is_parked(), "the call woke it");
        std::thread::sleep(Duration::from_millis(150));
        assert!(!ticker.is_parked(), "no parking while a call is in flight");
        drop(busy);
        wait_until("parked again", || ticker.is_parked());
    }
}
