//! The HTTP proxy: accepts requests, runs the plugin chain and forwards to upstreams.

pub mod body;
pub mod error;
pub mod forward;
pub mod request_id;
pub mod retry;
pub mod service;
pub mod trace;
pub mod upgrade;

pub use error::{ErrorKind, ProxyError};
pub use service::{ConnInfo, handle};
