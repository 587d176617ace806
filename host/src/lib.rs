//! Portcullis: an API gateway in which every policy is a sandboxed WebAssembly component.
//!
//! The modules are layers, in the order a request meets them; each imports only from lower
//! layers. The map below (`docs/architecture.md`) says which and why, and
//! `host/tests/layers.rs` keeps it so.
//!
#![doc = include_str!("../../docs/architecture.md")]
// The host handles untrusted input: no `unwrap` outside tests.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

// L0
pub mod config;
pub mod contract;
pub mod message;
pub mod router;
// L1
pub mod observe;
// L2
pub mod oci;
pub mod plugin;
pub mod state;
pub mod tls;
pub mod upstream;
// L3
pub mod snapshot;
// L4
pub mod listener;
pub mod proxy;
// L5
pub mod admin;
pub mod reload;
// L6
pub mod cli;
pub mod gateway;
// Apart
pub mod toolchain;

#[cfg(test)]
mod fuzz_regressions;
