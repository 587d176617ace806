//! Host bindings generated from the one WIT source in `wit/`.
//!
//! This is the only `bindgen!` in the host. Exports are async so that a long plugin call yields
//! to tokio at every epoch tick instead of holding a worker thread (see `instance.rs`). Imports
//! are plain functions, quick and in memory, except `state`'s: those may wait on Redis, so they
//! are async and the call yields while it waits.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
    imports: { "portcullis:plugin/state": async },
    with: {
        "portcullis:plugin/http.request": super::exchange::RequestHandle,
        "portcullis:plugin/http.response": super::exchange::ResponseHandle,
    },
});

pub(crate) use self::exports::portcullis::plugin::handler::RequestAction;
pub(crate) use self::portcullis::plugin::types::{Header, Needs, Reply};
