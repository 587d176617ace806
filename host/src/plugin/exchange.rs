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

/// The host-side type behind the WIT `request` resource. Only one request is lent to a store at a
/// time, so the handle carries no data: it always means "the exchange in this store".
pub struct RequestHandle;

/// The host-side type behind the WIT `response` resource (see [`RequestHandle`]).
pub struct ResponseHandle;

/// Which phase a call belongs to; the request is read only once it has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `on-request`: the request may be edited.
    Request,
    /// `on-response`: the response may be edited, the request only read.
    Response,
}

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
    pub metrics: Arc<crate::metrics::plugin::PluginMetrics>,
    /// The request's spans, when it is traced (`[tracing]`); each plugin call adds one.
    pub spans: Option<Box<crate::otlp::RequestSpans>>,
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

/// The per-request context: a few key/values, kept in insertion order.
///
/// A vector beats a hash map here: requests carry a handful of keys at most.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, String)>,
}

impl Context {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: String, value: String) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    /// Keeps only the keys for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|(k, _)| keep(k));
    }

    /// Every key/value, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many keys are set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no plugin wrote anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
