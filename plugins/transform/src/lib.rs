//! What `request-transformer` and `response-transformer` share: header edits (remove, rename,
//! set, add) and JSON body edits by JSON pointer (remove, rename, replace, add), each parsed
//! and checked once at load time and applied through closures, so the logic is tested natively.
//! Also the body size guard that keeps a large JSON body from exhausting a plugin's memory.

pub mod body;
pub mod headers;
pub mod pointer;
pub mod size;

/// Whether `name` is an HTTP token (a valid header name).
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;

/// The default `max-body`. Parsed JSON takes up to about 50 times its text's size in plugin
/// memory (an array of one-digit numbers: 2 bytes of text, a 32-byte value, a vector that
/// doubles), and a schema check that records a violation per element about twice that again;
/// measured, 128 KiB of `[1,1,...]` against `items: {type: string}` fits the default 16 MiB of
/// plugin memory and 192 KiB does not. 64 KiB keeps a margin of two.
pub const DEFAULT_MAX_BODY: u64 = 64 << 10;

/// Whether a request body is over `max` bytes, from `Content-Length` before the body is read
/// (`body_len` `None`) or from the body's length.
pub fn body_too_large(content_length: Option<&str>, body_len: Option<usize>, max: u64) -> bool {
    let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
    declared.is_some_and(|l| l > max) || body_len.is_some_and(|l| l as u64 > max)
}

/// The 413 answer for a body over `max` bytes.
pub fn too_large_reply(max: u64) -> portcullis_sdk::Reply {
    portcullis_sdk::Reply::json(
        413,
        &serde_json::json!({
            "error": "request_too_large",
            "message": format!("the request body is larger than the {max} bytes this route parses as JSON (`max-body`)"),
            "limit": max,
        }),
    )
}
