//! The plugin runtime: every policy is a Wasm component run by wasmtime, sandboxed and limited.
//!
//! - `engine`: the process-wide engine and compile cache; `ticker`: the epoch that bounds
//!   plugins' CPU time, ticking only while a call is in flight.
//! - `conformance`: why a component does not fit the contract, in its author's terms.
//! - `budget`: the gateway-wide budget of plugin memory, shared by every instance.
//! - `output`, `store`, `host`: what one instance holds (its output streams first) and the
//!   imports it may call, one file per WIT interface; `field_names`: the rules of the header
//!   fields a plugin writes, and the names an instance wrote lately.
//! - `exchange`: the request and response lent to a plugin for one call, with `scratch`, what
//!   each plugin keeps for the request between its two calls.
//! - `instance`: one configured plugin and its instances (`request` or `reuse` isolation).
//! - `account`: what each plugin version costs (calls, CPU and wall time, failures, memory).
//! - `chain`: the ordered plugins of a route, with failure policies.
//! - `rollout`: what one entry of a chain runs: canary, breaker, shadow; `kept`: what the
//!   runtime keeps of them, and of the figures, across reloads.
//! - `reply`: a plugin's reply as the `http` response the proxy sends.
//! - `catalog`: the prebuilt plugins embedded in the binary.

pub mod account;
pub mod budget;
pub mod catalog;
pub mod chain;
pub mod conformance;
pub mod engine;
pub mod exchange;
mod field_names;
mod host;
pub mod instance;
pub mod kept;
mod output;
pub mod reply;
pub mod rollout;
pub mod scratch;
mod store;
#[cfg(test)]
mod testing;
mod ticker;

pub use budget::MemoryBudget;
pub use chain::{Chain, ChainFailure, ChainState, RequestVerdict};
pub use engine::{CompileError, Compiled, EngineError, LinkError, Runtime, RuntimeOptions};
pub use exchange::{Context, Exchange, ResponseState};
pub use instance::{CallCost, CallError, ConfigureError, ConfiguredPlugin, Origin};
pub use reply::{InvalidReply, ReplyError};
pub use rollout::{Role, Step};
