//! The plugin runtime: every policy is a Wasm component run by wasmtime, sandboxed and limited.
//!
//! - `engine`: the process-wide engine, compile cache and epoch ticker.
//! - `budget`: the gateway-wide budget of plugin memory, shared by every instance.
//! - `store`, `output`, `host_impl`: what one instance holds and the imports it may call.
//! - `exchange`: the request and response lent to a plugin for one call.
//! - `instance`: one configured plugin and its instances (`request` or `reuse` isolation).
//! - `chain`: the ordered plugins of a route, with failure policies.
//! - `reply`: a plugin's reply as the `http` response the proxy sends.
//! - `catalog`: the prebuilt plugins embedded in the binary.

pub mod budget;
pub mod catalog;
pub mod chain;
pub mod conformance;
pub mod engine;
pub mod exchange;
mod host_impl;
pub mod instance;
mod output;
pub mod reply;
mod store;

pub use budget::MemoryBudget;
pub use chain::{Chain, ChainFailure, ChainState, RequestVerdict};
pub use engine::{Compiled, EngineError, Runtime, RuntimeOptions};
pub use exchange::{Context, Exchange, ResponseState};
pub use instance::{CallError, ConfigureError, ConfiguredPlugin};
pub use reply::{InvalidReply, ReplyError};
