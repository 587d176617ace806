//! The request context: key/values that travel with one request along the chain (key-auth
//! writes `consumer`, a rate limiter keys on it) and appear in the access log.

use crate::bindings::portcullis::plugin::context as wit;

/// The value of `key`, if a plugin set it for this request.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// Sets `key` for the rest of this request.
pub fn set(key: &str, value: &str) {
    wit::set(key, value)
}

/// Removes `key`.
pub fn remove(key: &str) {
    wit::remove(key)
}
