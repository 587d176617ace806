//! Why a plugin could not be configured, and why one of its calls failed: the host's words for
//! what a plugin did wrong, which the snapshot puts in load errors and the chain in its logs.

use std::time::Duration;

use crate::plugin::engine::LinkError;

/// Why a plugin could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// The component does not fit the host: a missing export, an import the host does not grant.
    #[error("does not fit the plugin contract: {0}")]
    Link(#[source] LinkError),
    /// `init` rejected the config (the plugin's own message).
    #[error("rejected its config: {0}")]
    Rejected(String),
    /// `init` trapped or could not run.
    #[error("failed in init: {0}")]
    Init(#[source] CallError),
    /// The spec asks for more memory than any plugin may have.
    #[error("asks for {asked} bytes of memory; the most a plugin may have is {most}")]
    TooMuchMemory {
        /// The spec's `memory` limit.
        asked: usize,
        /// The most the host gives a plugin.
        most: usize,
    },
}

/// Why one plugin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The plugin returned an error.
    #[error("returned an error: {0}")]
    Plugin(String),
    /// The call used up its CPU time.
    #[error("ran past its CPU limit of {0:?} and was stopped")]
    CpuLimit(Duration),
    /// The plugin outgrew its memory limit.
    #[error("outgrew its memory limit of {0} bytes")]
    MemoryLimit(usize),
    /// The plugin's growth would have taken all plugins' memory beyond the gateway's budget.
    #[error(
        "ran out of memory: the gateway's plugin memory budget of {0} bytes is spent (`[plugin-runtime] memory-budget`)"
    )]
    MemoryBudget(usize),
    /// The plugin held more host handles (WASI pollables, streams) than an instance may.
    #[error("held more than {0} host handles (WASI pollables, streams) at once and was stopped")]
    HandleLimit(usize),
    /// The call took longer than its wall-clock limit (blocked in a WASI wait).
    #[error("did not finish within {0:?} of wall-clock time (blocked waiting?) and was stopped")]
    WallClock(Duration),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access...), with the guest's
    /// last words on stderr when it left some.
    #[error("trapped: {0}")]
    Trap(String),
    /// No instance could be created (the pool is exhausted, or instantiation failed).
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
    /// The plugin's circuit breaker is open: no call was made.
    #[error("was not called: its circuit breaker is open")]
    BreakerOpen,
}

impl CallError {
    /// A short machine-readable kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Plugin(_) => "error",
            CallError::CpuLimit(_) => "cpu-limit",
            CallError::MemoryLimit(_) => "memory-limit",
            CallError::MemoryBudget(_) => "memory-budget",
            CallError::HandleLimit(_) => "handle-limit",
            CallError::WallClock(_) => "wall-clock",
            CallError::Trap(_) => "trap",
            CallError::Instantiate(_) => "instantiate",
            CallError::BreakerOpen => "breaker-open",
        }
    }
}
