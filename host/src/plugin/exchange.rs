//! What a plugin sees of one request: the host's own request and response, lent to the plugin's
//! store for the length of one call.
//!
//! The exchange moves into the store before a call and back out after it (one pointer each
//! way), so plugins read and edit the host's `http` structures in place: nothing is copied into
//! the guest unless the guest asks for it.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

pub use crate::contract::Phase;
pub use crate::message::Context;

use super::scratch::Scratch;

/// One request on its way through the chain, and later its response.
#[derive(Debug)]
pub struct Exchange {
    /// Method, URI, version and headers of the request, as edited so far.
    pub request: http::request::Parts,
    /// The whole request body, when a plugin on the route asked for it.
    pub request_body: Option<Bytes>,
    /// The id of the matched route.
    pub route: Arc<str>,
    /// Parameters of the route's path template, in template order.
    pub params: Vec<(Arc<str>, String)>,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The request id (also in error bodies and logs).
    pub id: Arc<str>,
    /// Key/values written by plugins for later plugins and the access log.
    pub context: Context,
    /// The response, once there is one.
    pub response: Option<ResponseState>,
    /// The phase of the call in progress.
    pub phase: Phase,
    /// Where the plugins' own metrics go (the process's, shared by every request).
    pub metrics: Arc<crate::observe::metrics::plugin::PluginMetrics>,
    /// The request's spans, when it is traced (`[tracing]`); each plugin call adds one.
    pub spans: Option<Box<crate::observe::otlp::RequestSpans>>,
    /// What each plugin keeps for itself between its two calls (WIT `scratch`).
    pub scratch: Scratch,
    /// The position in the chain of the plugin being called: whose `scratch` the call sees.
    pub slot: usize,
    /// Which version served each entry with a canary (empty without canaries).
    pub versions: Vec<crate::message::ServedVersion>,
    /// Response edits plugins decided in `on-request` (WIT `set-response-header` and its kin),
    /// each with the chain position of the plugin that asked: the chain makes them at that
    /// plugin's place in the response phase.
    pub(crate) response_edits: Vec<(usize, FieldEdit)>,
}

impl Exchange {
    /// A request run through a chain outside a gateway (`portcullis plugin test`, tests,
    /// benchmarks): from 127.0.0.1, no body, an empty context, plugin metrics kept nowhere, no
    /// spans.
    pub fn detached(request: http::request::Parts, route: &str, id: &str) -> Self {
        Self {
            request,
            request_body: None,
            route: route.into(),
            params: Vec::new(),
            client_ip: IpAddr::from([127, 0, 0, 1]),
            id: id.into(),
            context: Context::default(),
            response: None,
            phase: Phase::Request,
            metrics: Default::default(),
            spans: None,
            scratch: Scratch::default(),
            slot: 0,
            versions: Vec::new(),
            response_edits: Vec::new(),
        }
    }

    /// Whether the plugin at `slot` decided response edits in `on-request`.
    pub(crate) fn has_response_edits(&self, slot: usize) -> bool {
        self.response_edits.iter().any(|(s, _)| *s == slot)
    }

    /// Makes, on the response, the edits the plugin at `slot` decided in `on-request`, in the
    /// order it asked for them.
    pub(crate) fn make_response_edits(&mut self, slot: usize) {
        let Some(response) = self.response.as_mut() else {
            return;
        };
        for (_, edit) in self.response_edits.extract_if(.., |(s, _)| *s == slot) {
            edit.apply(&mut response.parts.headers);
        }
    }
}

/// One checked change to a field section.
#[derive(Debug)]
pub(crate) enum FieldEdit {
    /// Replaces every value of the field with one.
    Set(HeaderName, HeaderValue),
    /// Adds a value, keeping the others.
    Append(HeaderName, HeaderValue),
    /// Removes every value of the field.
    Remove(HeaderName),
}

impl FieldEdit {
    /// Makes the change in `fields`.
    pub(crate) fn apply(self, fields: &mut HeaderMap) {
        match self {
            FieldEdit::Set(name, value) => {
                fields.insert(name, value);
            }
            FieldEdit::Append(name, value) => {
                fields.append(name, value);
            }
            FieldEdit::Remove(name) => {
                fields.remove(name);
            }
        }
    }
}

/// A response as plugins see it in `on-response`.
#[derive(Debug)]
pub struct ResponseState {
    /// Status, version and headers.
    pub parts: http::response::Parts,
    /// The whole body, when a plugin on the route asked for it.
    pub body: Option<Bytes>,
    /// Trailers, when the body was buffered.
    pub trailers: Option<HeaderMap>,
}
