//! The HTTP message in transit, as every layer above sees it: the body types, what a proxy must
//! do to a message it forwards (hop-by-hop fields, `Via`, `X-Forwarded-*`), request ids, the
//! per-request plugin context, the plugin versions that served a request (canaries) and the text of an error chain. Pure: no sockets, no runtime.

pub mod body;
pub mod context;
pub mod error_text;
pub mod forward;
pub mod request_id;
pub mod versions;

pub use context::Context;
pub use versions::{ServedVersion, ServedVersions};
