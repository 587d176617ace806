//! A connection made on first use and remade after it fails, for the Redis kinds the redis
//! crate has no `ConnectionManager` for (a master found through Sentinel, a Cluster).
//!
//! Why it is shaped so: the gateway must start (and `check` pass) with Redis down, so nothing
//! connects up front; a connect can take longer than a state call's `timeout` (Sentinel asks a
//! sentinel, then the master), so it runs in a task of its own that a caller may stop waiting
//! for without cancelling it; one connect at a time, however many calls wait; and after a failed
//! connect, calls answer at once with its error until a delay has passed (50 ms doubling to
//! 1 s), so an outage costs no connect storm and no wait per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Makes a new connection, or says why not.
pub(super) type Connect<C> =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<C, String>> + Send>> + Send + Sync>;

/// The outcome of one connect: the connection and its generation, or why it failed.
type Outcome<C> = Option<Result<(C, u64), String>>;

const FIRST_DELAY: Duration = Duration::from_millis(50);
const LAST_DELAY: Duration = Duration::from_secs(1);

/// A lazily made, shared connection.
pub(super) struct Lazy<C> {
    connect: Connect<C>,
    /// The longest one connect may take.
    budget: Duration,
    generations: AtomicU64,
    slot: Arc<Mutex<Slot<C>>>,
}

enum Slot<C> {
    /// No connection; the next call connects, unless it is before `retry_at`.
    Idle {
        last_error: Option<String>,
        retry_at: Option<Instant>,
        delay: Duration,
    },
    /// A connect is under way.
    Connecting(watch::Receiver<Outcome<C>>),
    /// Connected: clones share the connection.
    Ready(C, u64),
}

impl<C: Clone + Send + Sync + 'static> Lazy<C> {
    /// Nothing is connected until the first [`Lazy::get`].
    pub(super) fn new(connect: Connect<C>, budget: Duration) -> Self {
        Self {
            connect,
            budget,
            generations: AtomicU64::new(0),
            slot: Arc::new(Mutex::new(Slot::Idle {
                last_error: None,
                retry_at: None,
                delay: FIRST_DELAY,
            })),
        }
    }

    /// The connection and its generation (for [`Lazy::reset`]), connecting if needed.
    pub(super) async fn get(&self) -> Result<(C, u64), String> {
        let mut pending = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Slot::Ready(connection, generation) => {
                    return Ok((connection.clone(), *generation));
                }
                Slot::Connecting(pending) => pending.clone(),
                Slot::Idle {
                    last_error: Some(error),
                    retry_at: Some(at),
                    ..
                } if Instant::now() < *at => return Err(error.clone()),
                Slot::Idle { delay, .. } => {
                    let pending = self.start(*delay);
                    *slot = Slot::Connecting(pending.clone());
                    pending
                }
            }
        };
        match pending.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err("the connect ended without a result".into())),
            Err(_) => Err("the connect task ended without a result".into()),
        }
    }

    /// Drops the connection of `generation` (a newer one is kept): the next call connects
    /// again.
    pub(super) fn reset(&self, generation: u64) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(&*slot, Slot::Ready(_, current) if *current == generation) {
            *slot = Slot::Idle {
                last_error: None,
                retry_at: None,
                delay: FIRST_DELAY,
            };
        }
    }

    /// Spawns one connect; its task stores the outcome in the slot, whoever still waits.
    fn start(&self, delay: Duration) -> watch::Receiver<Outcome<C>> {
        let (done, pending) = watch::channel(None);
        let connect = (self.connect)();
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Arc::downgrade(&self.slot);
        let budget = self.budget;
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(budget, connect).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no connection within {budget:?}")),
            };
            if let Some(slot) = slot.upgrade() {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                *slot = match &outcome {
                    Ok(connection) => Slot::Ready(connection.clone(), generation),
                    Err(error) => Slot::Idle {
                        last_error: Some(error.clone()),
                        retry_at: Some(Instant::now() + delay),
                        delay: (delay * 2).min(LAST_DELAY),
                    },
                };
            }
            let _ = done.send(Some(outcome.map(|c| (c, generation))));
        });
        pending
    }
}
