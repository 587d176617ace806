//! What `request-transformer` and `response-transformer` share: header edits (remove, rename,
//! set, add) and JSON body edits by JSON pointer (remove, rename, replace, add), each parsed
//! and checked once at load time and applied through closures, so the logic is tested natively.

pub mod body;
pub mod headers;
pub mod pointer;

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
