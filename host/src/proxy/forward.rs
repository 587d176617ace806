//! Forwarding a routed request as a proxy must, and the response back: hop-by-hop fields
//! dropped, `X-Forwarded-*` and `Via` added, an upgrade's fields restored, `Host` as the
//! upstream needs it; shared by the walk without plugins and the plugin branch.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::Scheme;
use http::{Request, Response, Version};

use super::call::Call;
use super::error::ProxyError;
use super::record::Record;
use super::upgrade;
use crate::message::body::{self, ProxyBody};
use crate::message::forward;
use crate::router::path::PathOptions;
use crate::snapshot::RouteRuntime;

/// What the proxy knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// `http` or `https`.
    pub tls: bool,
    /// How the listener normalises request paths before routing.
    pub path: PathOptions,
}

/// How a routed request goes to its upstream: the call, and what forwarding adds to the
/// request.
pub(super) struct Forward<'a> {
    /// The matched route.
    pub route: &'a RouteRuntime,
    /// The call to its upstream.
    pub call: Call<'a>,
    pub conn: ConnInfo,
    /// The host the client asked for.
    pub host: Option<&'a str>,
    /// The protocol the client asked to switch to, if it did.
    pub upgrade_to: Option<&'a HeaderValue>,
}

impl Forward<'_> {
    /// The client's request body streamed to the upstream, under the route's `idle-timeout`,
    /// its failures told to the call's watch.
    pub(super) fn request_stream(&self, body: ProxyBody) -> ProxyBody {
        let body = match self.route.idle_timeout {
            Some(idle) => body::tracked(body, (), Some(idle)),
            None => body,
        };
        body::from_client(body, self.call.client_body.clone())
    }

    /// Sends `request` upstream as a proxy must (hop-by-hop fields dropped, `X-Forwarded-*`
    /// and `Via` added, an upgrade's fields restored, `Host` as the upstream needs it), and
    /// waits for the response headers.
    pub(super) async fn send(
        &self,
        mut request: Request<ProxyBody>,
        record: &mut Record,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let version = request.version();
        let headers = request.headers_mut();
        forward::strip_hop_by_hop(headers);
        let scheme = if self.conn.tls {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        forward::set_forwarded(headers, self.conn.peer.ip(), &scheme, self.host);
        forward::append_via(headers, version);
        if let Some(protocol) = self.upgrade_to {
            upgrade::restore_fields(headers, protocol);
        }
        forward::set_upstream_host(headers, self.route.upstream.protocol(), self.host);
        *request.version_mut() = Version::HTTP_11;
        let upgrade = self.upgrade_to.is_some();
        self.call.send(request, upgrade, record).await
    }
}

/// Prepares a response for the client: hop-by-hop fields dropped, `Via` added.
pub(super) fn finish(response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    let version = parts.version;
    forward::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::TE);
    forward::append_via(&mut parts.headers, version);
    Response::from_parts(parts, body)
}

/// Sets `content-length` for a body held in memory (a plugin may have changed it).
pub(super) fn fix_content_length(headers: &mut http::HeaderMap, body: Option<&Bytes>) {
    if let Some(body) = body {
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
}
