//! The host side of the WIT imports, one file per interface of `wit/plugin.wit`: [`http`] (the
//! request and response resources, whose header fields share one helper, [`fields`]),
//! [`context`], [`scratch`], [`log`], [`state`] and [`metrics`]. Each function reads or edits the exchange
//! lent to the store for the call in progress, or (`state`) the plugin's namespace of the shared
//! state. wasmtime calls them through the linker built in `engine.rs`; nothing here is public.
//!
//! This file holds what the interfaces share: the way to the exchange, and [`EditError`], why an
//! edit was refused (the WIT `edit-error`, a string for the plugin).

use ::http::uri::{InvalidUri, InvalidUriParts};

use super::exchange::{Exchange, ResponseState};
use super::field_names::FieldError;
use super::store::InstanceState;
use crate::contract::Phase;
use crate::contract::portcullis::plugin::types;

mod context;
mod fields;
mod http;
mod log;
mod metrics;
mod scratch;
mod state;

impl types::Host for InstanceState {}

/// Why the host refused a plugin's edit. A plugin gets the text (WIT `edit-error` is a string),
/// so each message says what to change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EditError {
    /// A resource function was called outside `on-request` and `on-response`.
    #[error("no request is in progress (called from init?)")]
    NoExchange,
    /// An edit of the request in `on-response`.
    #[error("the request was already sent upstream; it is read only in on-response")]
    RequestSent,
    /// An edit of the response in `on-request`.
    #[error("there is no response yet; edit it in on-response")]
    NoResponse,
    /// More response edits waiting than a request may have.
    #[error("more than {0} response edits are waiting for this request's response")]
    TooManyResponseEdits(usize),
    /// A response edit for later (`set-response-header` and its kin) in `on-response`.
    #[error("the response is here: edit it with the response's own functions in on-response")]
    ResponseHere,
    /// A body or trailer edit by a plugin that did not ask for the body in `init`.
    #[error("{call} needs `{need}` in the needs returned by init")]
    NotDeclared {
        /// The WIT function called: `set-body`, `set-trailer`, `remove-trailer`.
        call: &'static str,
        /// The flag it needs: `request-body` or `response-body`.
        need: &'static str,
    },
    /// A new body beyond what the gateway buffers.
    #[error("a body of {len} bytes is larger than the {limit} bytes the gateway buffers")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The most the gateway buffers.
        limit: usize,
    },
    /// Not an HTTP method.
    #[error("`{0}` is not a valid HTTP method")]
    Method(String),
    /// Not an absolute path, or a path with a query or a fragment in it.
    #[error("`{0}` is not a valid path: it must start with `/` and contain no `?` or `#`")]
    Path(String),
    /// A query with a fragment in it.
    #[error("a query may not contain `#`")]
    QueryFragment,
    /// A path and query `http` does not accept.
    #[error("`{text}` is not a valid path and query: {source}")]
    PathAndQuery {
        /// The path and query as the plugin would have them.
        text: String,
        /// Why `http` refused them.
        source: InvalidUri,
    },
    /// The URI could not be put back together with the new path and query.
    #[error("cannot rebuild the URI: {0}")]
    Uri(#[source] InvalidUriParts),
    /// Not a final status code.
    #[error("{0} is not a valid final status code (200 to 599)")]
    Status(u16),
}

/// The text the plugin gets, as WIT's `edit-error`.
impl From<EditError> for String {
    fn from(error: EditError) -> Self {
        error.to_string()
    }
}

/// The text the plugin gets for a refused field.
impl From<FieldError> for String {
    fn from(error: FieldError) -> Self {
        error.to_string()
    }
}

impl InstanceState {
    /// The exchange lent for the call in progress; `None` in `init`.
    fn exchange(&self) -> Option<&Exchange> {
        self.exchange.as_deref()
    }

    /// The exchange, if its request may still be edited.
    fn request_mut(&mut self) -> Result<&mut Exchange, EditError> {
        let ex = self.exchange.as_deref_mut().ok_or(EditError::NoExchange)?;
        if ex.phase != Phase::Request {
            return Err(EditError::RequestSent);
        }
        Ok(ex)
    }

    /// The response, once there is one (in `on-response`).
    fn response_mut(&mut self) -> Result<&mut ResponseState, EditError> {
        let ex = self.exchange.as_deref_mut().ok_or(EditError::NoExchange)?;
        ex.response.as_mut().ok_or(EditError::NoResponse)
    }

    /// Whether the plugin asked for `body` in `init`.
    fn declared(&self, body: Body) -> bool {
        self.needs.contains(body.flag())
    }

    /// Refuses `call` when the plugin did not ask for `body` in `init`.
    fn check_declared(&self, body: Body, call: &'static str) -> Result<(), EditError> {
        if self.declared(body) {
            Ok(())
        } else {
            Err(EditError::NotDeclared {
                call,
                need: body.flag_name(),
            })
        }
    }
}

/// A body a plugin reads or edits only if it asked for it in `init` (its `needs`).
#[derive(Debug, Clone, Copy)]
enum Body {
    Request,
    Response,
}

impl Body {
    fn flag(self) -> types::Needs {
        match self {
            Body::Request => types::Needs::REQUEST_BODY,
            Body::Response => types::Needs::RESPONSE_BODY,
        }
    }

    /// The flag's WIT name.
    fn flag_name(self) -> &'static str {
        match self {
            Body::Request => "request-body",
            Body::Response => "response-body",
        }
    }
}
