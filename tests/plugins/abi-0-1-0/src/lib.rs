//! A test-only plugin built against `portcullis:plugin@0.1.0` as it was released
//! (`wit/plugin.wit` beside this file is a copy of that version, before `metrics` was added),
//! with wit-bindgen directly rather than the SDK, which follows the current WIT.
//!
//! It proves that the host keeps loading components built for 0.1.0: the host links the 0.1.2
//! world, and wasmtime matches a `@0.1.0` import or export to the host's `@0.1.2` by semver.
//! It answers nothing itself: `on-request` sets `x-abi: 0.1.0` on the request, and
//! `on-response` the same on the response.

// Only the component is ever used; a native build (clippy, `cargo test --workspace`) sees no caller.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[allow(missing_docs, unsafe_code, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
    });
}

use bindings::exports::portcullis::plugin::handler::Guest;
use bindings::portcullis::plugin::http::{Request, Response};
use bindings::portcullis::plugin::types::{Needs, RequestAction};

struct Abi010;

impl Guest for Abi010 {
    fn init(_config: String) -> Result<Needs, String> {
        Ok(Needs::ON_REQUEST | Needs::ON_RESPONSE)
    }

    fn on_request(req: &Request) -> Result<RequestAction, String> {
        req.set_header("x-abi", "0.1.0")?;
        Ok(RequestAction::Continue)
    }

    fn on_response(_req: &Request, resp: &Response) -> Result<(), String> {
        resp.set_header("x-abi", "0.1.0")
    }
}

/// The export glue is wit-bindgen's, which needs `unsafe` for the canonical ABI.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::Abi010;

    crate::bindings::export!(Abi010 with_types_in crate::bindings);
}
