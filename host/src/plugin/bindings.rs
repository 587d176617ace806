//! Host bindings generated from the one WIT source in `wit/`.
//!
//! This is the only `bindgen!` in the host. Exports are async so that a long plugin call yields
//! to tokio at every epoch tick instead of holding a worker thread (see `instance.rs`); imports
//! are plain functions because every one of them is a quick, in-memory operation.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
    with: {
        "portcullis:plugin/http.request": super::exchange::RequestHandle,
        "portcullis:plugin/http.response": super::exchange::ResponseHandle,
    },
});

pub(crate) use self::exports::portcullis::plugin::handler::RequestAction;
pub(crate) use self::portcullis::plugin::types::{Header, Needs, Reply};
