//! The instances of a configured plugin, from birth to retirement: made (a store with its
//! limits, its epoch deadline and `init`), lent for a call from the pool of idle ones, and given
//! back idle or retired. Retirement is where memory is kept in check: an instance is retired
//! after `max-requests`, when it grew beyond the idle bound, or when too little of its memory
//! limit is left for another call; the next call then gets a fresh one.

use std::sync::atomic::Ordering;
use std::time::Instant;

use wasmtime::{Store, UpdateDeadline};

use super::{CallError, ConfiguredPlugin};
use crate::config::Isolation;
use crate::contract::{self as bindings, Needs};
use crate::plugin::account::Alive;
use crate::plugin::store::{Fault, InstanceState};

/// A live instance with its store.
pub(super) struct Warm {
    pub(super) store: Store<InstanceState>,
    pub(super) plugin: bindings::Plugin,
    pub(super) uses: u64,
    /// Its linear memory right after `init`: what any instance of the plugin needs.
    baseline: usize,
    /// Its linear memory when it was last given back (or after `init`): what its next call
    /// grows it from.
    at_rest: usize,
    /// Counts it in its plugin's live instances.
    _alive: Alive,
}

impl Warm {
    /// Bytes of linear memory the instance holds.
    pub(super) fn memory(&self) -> usize {
        self.store.data().memory.bytes()
    }
}

impl ConfiguredPlugin {
    /// An instance for a call: an idle one (`reuse`), else a new one.
    pub(super) async fn checkout(&self) -> Result<Warm, CallError> {
        if self.isolation == Isolation::Reuse
            && let Some(warm) = self.idle.lend()
        {
            return Ok(warm);
        }
        let made = match self.instantiate().await {
            Ok((warm, _)) => Ok(warm),
            Err(InitError::Rejected(message)) => Err(CallError::Instantiate(format!(
                "init rejected its config: {message}"
            ))),
            Err(InitError::Failed(e)) => Err(e),
        };
        if made.is_err() && self.isolation == Isolation::Reuse {
            self.idle.forget_lent();
        }
        made
    }

    /// Keeps `warm` idle for the next call, unless it is done: `request` isolation, recycled
    /// after `max-requests`, grown beyond the idle bound (one large request must not keep its
    /// memory resident; the pooling allocator releases a dropped instance's pages), or too near
    /// its memory limit for another call ([`near_limit`]). Instances that demand no longer
    /// needs are dropped here, outside the pool's lock. `now` is a recent reading of the clock,
    /// for the pool's window of demand.
    pub(super) fn checkin(&self, mut warm: Warm, now: Instant) {
        let memory = warm.memory();
        self.stats.saw_memory(memory);
        // Every call that ended counts, whatever becomes of its instance: the largest growths
        // are those of the calls whose instances are dropped for their size.
        let grown = memory.saturating_sub(warm.at_rest);
        let largest = self
            .stats
            .largest_call_growth
            .fetch_max(grown, Ordering::Relaxed)
            .max(grown);
        if self.isolation != Isolation::Reuse {
            return;
        }
        if warm.uses >= self.max_requests {
            return self.forget(warm);
        }
        if memory > warm.baseline.max(self.budget.idle_memory()) {
            self.stats.oversized_drops.fetch_add(1, Ordering::Relaxed);
            return self.forget(warm);
        }
        if near_limit(memory, warm.baseline, self.memory, largest) {
            self.stats.limit_recycles.fetch_add(1, Ordering::Relaxed);
            return self.forget(warm);
        }
        warm.at_rest = memory;
        drop(self.idle.give_back_at(warm, now));
    }

    /// Drops an instance that was lent and will not come back (it trapped, was abandoned, or is
    /// done).
    pub(super) fn forget(&self, warm: Warm) {
        self.stats.saw_memory(warm.memory());
        if self.isolation == Isolation::Reuse {
            self.idle.forget_lent();
        }
        drop(warm);
    }

    /// A new instance, with `init` called.
    pub(super) async fn instantiate(&self) -> Result<(Warm, Needs), InitError> {
        // Start-up code and `init` run guest code under the CPU limit too.
        let _ticking = self.ticker.busy();
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        let mut store = Store::new(
            self.pre.engine(),
            InstanceState::new(
                self.tag.clone(),
                self.memory,
                self.budget.lease(),
                self.state.clone(),
            ),
        );
        store.limiter(|state| state);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.ticks_left == 0 {
                state.fault = Some(Fault::CpuLimit);
                return Ok(UpdateDeadline::Interrupt);
            }
            state.ticks_left -= 1;
            // Yield to tokio at every tick, so a slow plugin never holds a worker thread.
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store.data_mut().ticks_left = self.cpu_ticks;
        store.set_epoch_deadline(1);

        let mut warm = match self.pre.instantiate_async(&mut store).await {
            Ok(plugin) => Warm {
                store,
                plugin,
                uses: 0,
                baseline: 0,
                at_rest: 0,
                _alive: Alive::new(&self.stats),
            },
            Err(e) => {
                let error = match store.data().fault {
                    Some(_) => self.classify(store.data(), &e),
                    None => CallError::Instantiate(format!("{e:#}")),
                };
                return Err(InitError::Failed(error));
            }
        };
        let handler = warm.plugin.portcullis_plugin_handler();
        match handler.call_init(&mut warm.store, &self.config).await {
            Ok(Ok(needs)) => {
                warm.store.data_mut().needs = needs;
                warm.baseline = warm.memory();
                warm.at_rest = warm.baseline;
                Ok((warm, needs))
            }
            Ok(Err(message)) => Err(InitError::Rejected(message)),
            Err(e) => Err(InitError::Failed(self.classify(warm.store.data(), &e))),
        }
    }
}

/// Why a new instance is not to be had.
pub(super) enum InitError {
    /// `init` refused the config, with this message.
    Rejected(String),
    /// Instantiation or `init` failed (a trap, a limit, the pooling allocator).
    Failed(CallError),
}

/// Whether a reused instance at `memory` bytes is too close to its `limit` to be lent again:
/// when what is left is less than twice the most one call of its plugin has grown an instance
/// (`largest_growth`), or less than a quarter of the room it had after `init` (at `baseline`),
/// whichever is more. Linear memory never shrinks, so a plugin that keeps a little on every call
/// (a JavaScript engine's heap does, call after call) would otherwise fail a request when its
/// instance reaches the limit; recycled here, the next call gets a fresh instance instead. A
/// single call that grows more than was left still fails, by its failure policy.
pub(super) fn near_limit(
    memory: usize,
    baseline: usize,
    limit: usize,
    largest_growth: usize,
) -> bool {
    let room_after_init = limit.saturating_sub(baseline);
    let headroom = (room_after_init / 4).max(largest_growth.saturating_mul(2));
    limit.saturating_sub(memory) < headroom
}
