//! Portcullis: an API gateway in which every policy is a sandboxed WebAssembly component.
//!
//! The modules are layers, listed here in the order a request meets them; each imports only
//! from itself and from the layers above it in this list (`host/tests/layers.rs` enforces it,
//! `docs/architecture.md` explains it):
//!
//! - L0, pure models and wire helpers: [`router`], [`config`] (the manifest), [`contract`] (the
//!   WIT contract with plugins), [`message`] (the HTTP message in transit);
//! - L1, observability: [`observe`] (metrics, access log, trace context, OTLP);
//! - L2, runtime parts built from their manifest section: [`tls`], [`upstream`], [`state`],
//!   then [`plugin`] (whose host functions reach `state`);
//! - L3, the published runtime: [`snapshot`] (built, loaded from a manifest, swapped on reload);
//! - L4, the data plane: [`proxy`], then [`listener`] (which hands connections to the proxy);
//! - L5, the control plane: [`reload`], then [`admin`];
//! - L6, composition and commands: [`gateway`], then [`cli`].
//!
//! Apart: [`toolchain`], the plugin author's tools (`portcullis plugin ...`), used by `cli`
//! alone.
#![doc = ""]
#![doc = "See [the architecture](https://github.com/portcullis/portcullis/blob/main/docs/architecture.md)."]
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
