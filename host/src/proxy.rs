//! The data plane: one request's way from the listener to the upstream and back, with the
//! route's plugins on the way.
//!
//! - `service`: the request's walk (normalise, route, plugins or not, upstream, finish);
//! - `record`: what the walk saw, written at the end as metrics, spans and the access line;
//! - `plugins`: the plugin branch (`on-request`, a plugin's reply, `on-response`);
//! - `call`: the call to the upstream, breaker, timeouts and retries included;
//! - `upgrade`: HTTP/1.1 upgrades, tunnelled once both sides have switched;
//! - `error`: the errors the proxy answers itself.

mod call;
pub mod error;
mod plugins;
mod record;
mod service;
pub mod upgrade;

pub use call::MAX_REPLAY_BODY;
pub use error::{ErrorKind, ProxyError, Side};
pub use service::{ConnInfo, handle};
