//! The HTTP proxy: accepts requests, runs the plugin chain and forwards to upstreams.

pub mod error;
pub mod retry;
pub mod service;
pub mod upgrade;

pub use error::{ErrorKind, ProxyError};
pub use service::{ConnInfo, handle};
