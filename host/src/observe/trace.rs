//! W3C Trace Context (`traceparent`): the gateway is one hop of the trace. A valid incoming
//! `traceparent` keeps its trace id and flags and gets a new parent id (this hop's span); when
//! it is absent or invalid, a new trace starts, sampled (with `[tracing]` on, the request path
//! samples it at `sample-ratio`, see `otlp`). `tracestate` passes through untouched.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::message::request_id::hex_into;

/// The header.
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The trace context of this hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace id (never all zeros).
    pub trace_id: [u8; 16],
    /// This hop's span id: the parent id the upstream sees.
    pub span_id: [u8; 8],
    /// The caller's span id, when a valid `traceparent` came in.
    pub parent_id: Option<[u8; 8]>,
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceContext {
    /// The context for a request with `headers`: continued from a valid `traceparent`, else new.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let incoming = headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        match incoming {
            Some((trace_id, parent_id, flags)) => Self {
                trace_id,
                span_id: new_span_id(),
                parent_id: Some(parent_id),
                flags,
            },
            None => Self {
                trace_id: loop {
                    let id: [u8; 16] = rand::random();
                    if id != [0; 16] {
                        break id;
                    }
                },
                span_id: new_span_id(),
                parent_id: None,
                flags: 0x01,
            },
        }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` value to send upstream: version 00, this hop's span as the parent.
    /// Written on the stack: the header value's own copy is its one allocation.
    pub fn header_value(&self) -> HeaderValue {
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex_into(&mut text[3..35], &self.trace_id);
        hex_into(&mut text[36..52], &self.span_id);
        hex_into(&mut text[53..55], &[self.flags]);
        HeaderValue::from_bytes(&text).expect("hex digits and dashes are a valid header value")
    }
}

fn new_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// Parses `version-traceid-parentid-flags`. Version `ff` and all-zero ids are invalid; a
/// future version may carry more fields after the flags, which are ignored.
fn parse(value: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let value = value.trim();
    let mut fields = value.split('-');
    let version = fields.next()?;
    let trace = fields.next()?;
    let parent = fields.next()?;
    let flags = fields.next()?;
    let version = unhex::<1>(version)?[0];
    if version == 0xff || (version == 0 && fields.next().is_some()) {
        return None;
    }
    let trace = unhex::<16>(trace)?;
    let parent = unhex::<8>(parent)?;
    let flags = unhex::<1>(flags)?[0];
    (trace != [0; 16] && parent != [0; 8]).then_some((trace, parent, flags))
}

/// `N` bytes from exactly `2N` lowercase hex digits.
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    hex_into(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(traceparent: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(&TRACEPARENT, HeaderValue::from_str(traceparent).unwrap());
        headers
    }

    #[test]
    fn a_valid_traceparent_keeps_its_trace_and_flags_with_a_new_parent() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let context = TraceContext::from_headers(&headers(incoming));
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.flags, 0);
        let sent = context.header_value();
        let sent = sent.to_str().unwrap();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(sent.ends_with("-00"));
        assert_ne!(&sent[36..52], "00f067aa0ba902b7");
    }

    #[test]
    fn an_invalid_or_missing_traceparent_starts_a_sampled_trace() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let context = TraceContext::from_headers(&headers(bad));
            assert_eq!(context.parent_id, None, "{bad}");
            assert_eq!(context.flags, 1);
            assert_ne!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }
    }

    #[test]
    fn the_header_sent_is_version_trace_span_and_flags_in_lowercase_hex() {
        let context = TraceContext {
            trace_id: *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36",
            span_id: *b"\x00\xf0\x67\xaa\x0b\xa9\x02\xb7",
            parent_id: None,
            flags: 0x01,
        };
        assert_eq!(
            context.header_value(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn a_future_version_may_carry_more_fields() {
        let incoming = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        let context = TraceContext::from_headers(&headers(incoming));
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
