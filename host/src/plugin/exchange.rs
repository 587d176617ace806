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
