//! Request ids: kept from the client's `x-request-id` when it is sane, else made here from a
//! per-process random prefix and a counter (unique without a random draw per request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use http::HeaderMap;
use http::header::HeaderName;

/// The header that carries the id, to the upstream and back to the client.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id accepted.
const MAX_LEN: usize = 128;

/// The id for a request with `headers`.
pub fn from_request(headers: &HeaderMap) -> Arc<str> {
    let supplied = headers
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_LEN && v.bytes().all(|b| b.is_ascii_graphic()));
    match supplied {
        Some(id) => id.into(),
        None => generate(),
    }
}

/// A new id: 16 hex digits of process prefix, 16 of sequence.
pub fn generate() -> Arc<str> {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(rand::random);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{n:016x}").into()
}
