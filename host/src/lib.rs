//! Portcullis: an API gateway in which every policy is a sandboxed WebAssembly component.
//!
//! The modules follow a request's path: `config` (the manifest) and `router` are pure and know
//! nothing of the network; `listener` accepts connections; `proxy` runs each request through the
//! `plugin` chain of its route (whose shared counters and limits live in `state`) and on to an
//! `upstream`; `snapshot` holds all of it as one immutable value that a reload swaps atomically;
//! `gateway` and `cli` put it together.

// The host handles untrusted input: no `unwrap` outside tests.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod access_log;
pub mod admin;
pub mod cli;
pub mod config;
pub mod fixtures;
#[cfg(test)]
mod fuzz_regressions;
pub mod gateway;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod plugin;
pub mod proxy;
pub mod reload;
pub mod router;
pub mod snapshot;
pub mod state;
pub mod tls;
pub mod toolchain;
pub mod upstream;
