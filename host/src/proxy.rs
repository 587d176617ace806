//! The data plane: one request's way from the listener to the upstream and back, with the
//! route's plugins on the way.
//!
//! - `service`: the request's walk (normalise, route, plugins or not, upstream, finish);
//! - `record`: what the walk saw, written at the end as metrics, spans and the access line;
//! - `forward`: what forwarding adds to a request and its response, and the send;
//! - `plugins`: the plugin branch (`on-request`, a plugin's reply, `on-response`);
//! - `call`: the call to the upstream, breaker, timeouts and retries included;
//! - `upgrade`: HTTP/1.1 upgrades, tunnelled once both sides have switched;
//! - `error`: the errors the proxy answers itself.

mod call;
pub mod error;
mod forward;
mod plugins;
mod record;
mod service;
pub mod upgrade;

pub use call::MAX_REPLAY_BODY;
pub use error::{ErrorKind, ProxyError, Side};
pub use forward::ConnInfo;
pub use service::handle;
