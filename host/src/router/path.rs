//! Request paths normalised before routing, so that another spelling of a protected path
//! (`/public/../admin`, `//admin`, `/%61dmin`, `/%2e%2e/admin`) is routed as the path an
//! upstream would serve, or refused when its meaning depends on who reads it. RFC 3986 section 6:
//! percent-encoded unreserved characters are decoded and the remaining escapes uppercased, dot
//! segments (also encoded ones) are removed; then, by the listener's options, empty segments
//! are merged, and encoded slashes (`%2F`, `%5C`, a raw `\`) and `;` are refused, kept or
//! decoded. Pure and allocation-free for paths that are already normal: a fuzz target.

use std::borrow::Cow;

/// How a listener treats request paths (`[listeners.<name>] path = { ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathOptions {
    /// `merge-slashes`: `//a///b` is `/a/b` (default `true`).
    pub merge_slashes: bool,
    /// `escaped-slashes`: what `%2F`, `%5C` and a raw `\` do (default `Reject`).
    pub escaped_slashes: EscapedSlashes,
    /// `semicolons`: what a `;` (path parameters, `/admin;x/secret`) does (default `Reject`).
    pub semicolons: Semicolons,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self {
            merge_slashes: true,
            escaped_slashes: EscapedSlashes::Reject,
            semicolons: Semicolons::Reject,
        }
    }
}

/// What an encoded slash or backslash (`%2F`, `%5C`, `\`) in a path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EscapedSlashes {
    /// `400`: some servers decode it into a separator and some do not (Envoy's
    /// `REJECT_REQUEST`).
    #[default]
    Reject,
    /// Kept as data inside its segment, uppercased (`%2F`, `%5C`; a raw `\` becomes `%5C`).
    Keep,
    /// Decoded into `/` before routing, and forwarded so (Envoy's `UNESCAPE_AND_FORWARD`).
    Decode,
}

/// What a `;` in a path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Semicolons {
    /// `400`: servlet containers read `/admin;x/secret` as `/admin/secret`.
    #[default]
    Reject,
    /// Kept as an ordinary character.
    Keep,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// It does not start with `/` (and is not `*`).
    #[error("the path does not start with `/`")]
    NotAbsolute,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("the path has a `%` not followed by two hexadecimal digits")]
    InvalidEscape,
    /// An encoded slash or backslash, or a raw backslash, under `escaped-slashes = "reject"`.
    #[error(
        "the path has an encoded slash (`%2F`, `%5C`) or a backslash, which this listener refuses"
    )]
    EscapedSlash,
    /// A `;` under `semicolons = "reject"`.
    #[error("the path has a `;` (path parameters), which this listener refuses")]
    Semicolon,
}

/// `path` normalised under `options`: borrowed when it already was normal.
pub fn normalize<'a>(path: &'a str, options: &PathOptions) -> Result<Cow<'a, str>, PathError> {
    if path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path, options) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode(path, options)?;
    Ok(Cow::Owned(remove_dot_segments(
        &decoded,
        options.merge_slashes,
    )))
}

/// Whether `path` (starting with `/`) needs no change: no escape, backslash, refused `;`, dot
/// segment, or empty segment to merge.
fn is_normal(path: &str, options: &PathOptions) -> bool {
    let refuse_semicolon = options.semicolons == Semicolons::Reject;
    let special = |b: &u8| *b == b'%' || *b == b'\\' || (refuse_semicolon && *b == b';');
    if path.as_bytes().iter().any(special) {
        return false;
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "."
            || segment == ".."
            || (segment.is_empty() && !last && options.merge_slashes)
        {
            return false;
        }
    }
    true
}

/// Decodes escapes of unreserved characters, uppercases the others, and applies the options
/// to encoded slashes, backslashes and `;`.
fn decode(path: &str, options: &PathOptions) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let value = escape_at(bytes, i).ok_or(PathError::InvalidEscape)?;
                match value {
                    _ if unreserved(value) => out.push(value),
                    b'/' | b'\\' => escaped_slash(&mut out, value, options.escaped_slashes)?,
                    _ => push_escape(&mut out, value),
                }
                i += 3;
            }
            b'\\' => {
                escaped_slash(&mut out, b'\\', options.escaped_slashes)?;
                i += 1;
            }
            b';' if options.semicolons == Semicolons::Reject => return Err(PathError::Semicolon),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were decoded or added, and every other byte was copied whole, so the
    // text stays valid UTF-8; the lossy conversion never replaces anything.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The byte that `%XY` at `i` encodes.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    let high = hex(*bytes.get(i + 1)?)?;
    let low = hex(*bytes.get(i + 2)?)?;
    Some(high << 4 | low)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3986 section 2.3.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn push_escape(out: &mut Vec<u8>, value: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[
        b'%',
        HEX[usize::from(value >> 4)],
        HEX[usize::from(value & 15)],
    ]);
}

fn escaped_slash(out: &mut Vec<u8>, value: u8, action: EscapedSlashes) -> Result<(), PathError> {
    match action {
        EscapedSlashes::Reject => Err(PathError::EscapedSlash),
        EscapedSlashes::Keep => {
            push_escape(out, value);
            Ok(())
        }
        EscapedSlashes::Decode => {
            out.push(b'/');
            Ok(())
        }
    }
}

/// RFC 3986 section 5.2.4 on an absolute path, segment by segment; `.` and `..` never climb
/// above the root. With `merge`, empty segments (but a trailing one) are dropped.
fn remove_dot_segments(path: &str, merge: bool) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path.get(1..).unwrap_or_default().split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            "" if merge && !last => continue,
            _ => {
                kept.push(segment);
                continue;
            }
        }
        // A dot segment at the end leaves the path ending with `/`.
        if last {
            kept.push("");
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
