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

/// A new id: 16 hex digits of process prefix, 16 of sequence. Written on the stack, so the
/// id costs one allocation, its own.
pub fn generate() -> Arc<str> {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(rand::random);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; 32];
    hex_into(&mut text[..16], &prefix.to_be_bytes());
    hex_into(&mut text[16..], &n.to_be_bytes());
    match std::str::from_utf8(&text) {
        Ok(id) => id.into(),
        // Hex digits are ASCII.
        Err(_) => format!("{prefix:016x}{n:016x}").into(),
    }
}

/// Writes `bytes` as lowercase hex digits into `out`, which holds twice as many.
pub(crate) fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_is_32_lowercase_hex_digits_and_each_is_new() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{a}"
        );
        assert_eq!(a[..16], b[..16], "one prefix per process");
        let (x, y) = (
            u64::from_str_radix(&a[16..], 16).expect("hex"),
            u64::from_str_radix(&b[16..], 16).expect("hex"),
        );
        assert!(y > x, "a sequence");
    }

    #[test]
    fn hex_is_written_high_nibble_first() {
        let mut out = [0u8; 6];
        hex_into(&mut out, &[0x00, 0xaf, 0x19]);
        assert_eq!(&out, b"00af19");
    }
}
