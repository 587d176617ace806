//! What a plugin keeps for itself between its `on-request` and `on-response` of one request:
//! since contract 0.1.2 the two calls may run on different instances of the plugin, so a value
//! decided in `on-request` and needed in `on-response` (a timestamp, a decision that depends on
//! the response's status) belongs here, in the host, and not in a field of the plugin. Private
//! to the plugin; gone when the request ends. A response header already known in `on-request`
//! needs no `on-response` at all: [`Request::set_response_header`](crate::Request::set_response_header).

use crate::bindings::portcullis::plugin::scratch as wit;

/// The value this plugin set for `key` earlier in this request.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// Sets `key` for the rest of this request (at most 64 keys of 256 bytes, values of 4 KiB).
pub fn set(key: &str, value: &str) {
    wit::set(key, value)
}

/// Removes `key`.
pub fn remove(key: &str) {
    wit::remove(key)
}
