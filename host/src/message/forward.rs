//! What a proxy must do to a message in transit (RFC 9110 section 7.6): drop hop-by-hop fields,
//! say who forwarded it (`Via`, `X-Forwarded-*`), and point the request at the chosen target.

use std::net::IpAddr;

use http::Version;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use crate::config::UpstreamProtocol;

/// Fields that describe one connection, never forwarded (RFC 9110 7.6.1, plus the legacy
/// `Keep-Alive` and `Proxy-Connection`).
static HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The pseudonym this gateway gives itself in `Via`.
const VIA_NAME: &str = "portcullis";

/// Removes hop-by-hop fields, including those the `Connection` field names. `TE: trailers` is
/// kept on requests: it is end-to-end in meaning, and gRPC needs it.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names, compared without hashing,
    // says so, where removing each would hash and probe the map eight times per message.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = connection_options(headers)
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let te_trailers = headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Whether `name` is one of [`HOP_BY_HOP`], compared against the constants themselves (the
/// standard ones are an enum compare).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

/// The options listed in `Connection` (RFC 9110 7.6.1), trimmed: the names of further
/// hop-by-hop fields, and `close` or `upgrade`.
pub fn connection_options(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// Adds this hop to `Via` (RFC 9110 7.6.3): `1.1 portcullis`, `2 portcullis`.
pub fn append_via(headers: &mut HeaderMap, version: Version) {
    let value = match version {
        Version::HTTP_09 => "0.9 portcullis",
        Version::HTTP_10 => "1.0 portcullis",
        Version::HTTP_2 => "2 portcullis",
        Version::HTTP_3 => "3 portcullis",
        _ => "1.1 portcullis",
    };
    debug_assert!(value.ends_with(VIA_NAME));
    // A constant: no allocation per message.
    headers.append(header::VIA, HeaderValue::from_static(value));
}

/// Sets the `X-Forwarded-*` fields: the client is appended to `X-Forwarded-For`; proto and host
/// describe the request as this gateway received it. (Written without a `String` per field: the
/// address on the stack, the scheme a constant, the host the client's own `Host` value when it
/// is the same.)
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client_ip: IpAddr,
    scheme: &Scheme,
    host: Option<&str>,
) {
    let previous = headers
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let forwarded_for = forwarded_for(previous, client_ip);
    if let Some(value) = forwarded_for {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    let proto = if *scheme == Scheme::HTTPS {
        Some(HeaderValue::from_static("https"))
    } else if *scheme == Scheme::HTTP {
        Some(HeaderValue::from_static("http"))
    } else {
        HeaderValue::from_str(scheme.as_str()).ok()
    };
    if let Some(value) = proto {
        headers.insert(X_FORWARDED_PROTO.clone(), value);
    }
    let value = host.and_then(|h| match headers.get(header::HOST) {
        // Shares the client's bytes.
        Some(same) if same.as_bytes() == h.as_bytes() => Some(same.clone()),
        _ => HeaderValue::from_str(h).ok(),
    });
    match value {
        Some(value) => {
            headers.insert(X_FORWARDED_HOST.clone(), value);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
}

/// `X-Forwarded-For` with `client_ip` appended to the `previous` hops, if any.
fn forwarded_for(previous: Option<&str>, client_ip: IpAddr) -> Option<HeaderValue> {
    let Some(previous) = previous else {
        return ip_value(client_ip);
    };
    let mut text = [0u8; 64];
    let ip = ip_text(client_ip, &mut text)?;
    let mut joined = Vec::with_capacity(previous.len() + 2 + ip.len());
    joined.extend_from_slice(previous.as_bytes());
    joined.extend_from_slice(b", ");
    joined.extend_from_slice(ip);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(joined)).ok()
}

/// An address as a header value, formatted on the stack.
fn ip_value(ip: IpAddr) -> Option<HeaderValue> {
    let mut text = [0u8; 64];
    HeaderValue::from_bytes(ip_text(ip, &mut text)?).ok()
}

/// An address's text, written into `buf`. IPv4, nearly every client, is written digit by digit:
/// `Display` goes through the formatting machinery, a thousand instructions per request for
/// four numbers.
fn ip_text(ip: IpAddr, buf: &mut [u8; 64]) -> Option<&[u8]> {
    let n = match ip {
        IpAddr::V4(v4) => write_ipv4(v4, buf),
        IpAddr::V6(v6) => {
            use std::io::Write;
            // The longest IPv6 text is 45 bytes (an IPv4-mapped address, every group written).
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            write!(cursor, "{v6}").ok()?;
            usize::try_from(cursor.position()).ok()?
        }
    };
    buf.get(..n)
}

/// Writes `ip` in dotted decimal at the start of `out` (room for 15 bytes) and returns its
/// length.
fn write_ipv4(ip: std::net::Ipv4Addr, out: &mut [u8; 64]) -> usize {
    let mut n = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            out[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            out[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        out[n] = b'0' + octet % 10;
        n += 1;
    }
    n
}

/// The host the client asked for: the URI's authority (HTTP/2, absolute-form) or `Host`.
pub fn requested_host(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    uri.authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| headers.get(header::HOST)?.to_str().ok().map(str::to_owned))
}

/// Why a request's host is malformed: the client is answered `400` with this text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// More than one `Host` header.
    #[error("the request has more than one Host header")]
    Several,
    /// An HTTP/2 request whose `Host` names another entity than its `:authority`.
    #[error("the request's Host header differs from its :authority")]
    DiffersFromAuthority,
    /// An absolute-form authority that cannot be a `Host` value.
    #[error("the request's authority is not a valid Host")]
    InvalidAuthority,
    /// An HTTP/1.1 request without `Host`.
    #[error("an HTTP/1.1 request needs a Host header")]
    Missing,
}

/// The proxy's errors carry their client-facing text as a message.
impl From<HostError> for String {
    fn from(error: HostError) -> Self {
        error.to_string()
    }
}

/// Makes routing and forwarding agree on the host. HTTP/1.x needs exactly one `Host` (RFC 9112
/// 3.2); when the request line is in absolute form its authority wins and replaces `Host`, so
/// a client cannot be routed by one host and served by another.
pub fn normalize_host(parts: &mut http::request::Parts) -> Result<(), HostError> {
    let hosts = parts.headers.get_all(header::HOST).iter().count();
    if parts.version >= Version::HTTP_2 {
        // RFC 9113 8.3.1: a `Host` naming another entity than `:authority` makes the request
        // malformed; routing by one and serving by the other would be a confusion attack.
        let host = parts.headers.get(header::HOST);
        return match (parts.uri.authority(), host) {
            (Some(_), Some(_)) if hosts > 1 => Err(HostError::Several),
            (Some(authority), Some(host))
                if !host
                    .as_bytes()
                    .eq_ignore_ascii_case(authority.as_str().as_bytes()) =>
            {
                Err(HostError::DiffersFromAuthority)
            }
            _ => Ok(()),
        };
    }
    if hosts > 1 {
        return Err(HostError::Several);
    }
    if let Some(authority) = parts.uri.authority() {
        let value =
            HeaderValue::from_str(authority.as_str()).map_err(|_| HostError::InvalidAuthority)?;
        parts.headers.insert(header::HOST, value);
    } else if hosts == 0 && parts.version == Version::HTTP_11 {
        return Err(HostError::Missing);
    }
    Ok(())
}

/// Sets the authority the upstream sees (`docs/upstream-protocols.md`). An HTTP/1.1 upstream
/// gets the client's `Host` (HTTP/2 clients send `:authority` instead, which becomes `Host`).
/// An HTTP/2 upstream's connections are pooled per target, so its `:authority` is the target's
/// `host:port`; a `Host` that differs from `:authority` is forbidden (RFC 9113 8.3.1), so none
/// is sent, and the client's host travels in `X-Forwarded-Host`. An `auto` upstream may
/// negotiate either version per connection, so it is treated as HTTP/2 (over HTTP/1.1 the
/// client then writes `Host` from the target, and both versions see the same authority).
pub fn set_upstream_host(headers: &mut HeaderMap, protocol: UpstreamProtocol, host: Option<&str>) {
    if protocol != UpstreamProtocol::Http1 {
        headers.remove(header::HOST);
        return;
    }
    if !headers.contains_key(header::HOST)
        && let Some(value) = host.and_then(|h| HeaderValue::from_str(h).ok())
    {
        headers.insert(header::HOST, value);
    }
}

/// The URI to send upstream: the upstream's scheme, the target's authority, the request's path
/// and query. Made of the parts themselves (each a shared reference count), not through
/// `Uri::builder`, which would parse and copy the path again.
pub fn upstream_uri(
    scheme: &Scheme,
    target: &Authority,
    path_and_query: Option<&PathAndQuery>,
) -> Result<Uri, http::uri::InvalidUriParts> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(target.clone());
    parts.path_and_query = Some(
        path_and_query
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts)
}

#[cfg(test)]
mod tests;
