//! HTTP/1.1 upgrades (WebSocket and any other protocol named in `Upgrade`, RFC 9110 7.8): the
//! request goes upstream with its `Upgrade` and `Connection: upgrade` restored (they are
//! hop-by-hop, so the proxy strips them like the others), and when the upstream answers
//! `101 Switching Protocols` and the plugins let that answer through, both connections are
//! handed over to a tunnel that copies bytes both ways until either side closes, or until
//! nothing has moved for the route's `idle-timeout`.
//!
//! The tunnel keeps the request counted on its upstream and target (breaker, least-request)
//! for as long as it is open.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::error::{ErrorKind, ProxyError};
use crate::message::body::ProxyBody;
use crate::snapshot::RouteRuntime;

/// A client's request to switch protocols: what it asked for, and its side of the connection.
pub struct ClientUpgrade {
    /// The `Upgrade` field, as sent.
    pub protocol: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// The upstream's side of a switched connection, carried in the `101` response's extensions
/// until the gateway knows whether the client gets that `101` (extensions must be `Clone`,
/// hence the `Arc`; the one taken out of the response is the only one left).
#[derive(Clone)]
pub struct UpstreamUpgrade {
    /// The `Upgrade` field of the upstream's `101`.
    pub protocol: Option<HeaderValue>,
    on_upgrade: OnUpgrade,
    held: Arc<dyn Send + Sync>,
}

impl UpstreamUpgrade {
    /// The upstream's side of `response`, holding `held` (counts in flight) while it lives.
    pub fn take<B>(response: &mut http::Response<B>, held: impl Send + Sync + 'static) -> Self {
        Self {
            protocol: response.headers().get(header::UPGRADE).cloned(),
            on_upgrade: hyper::upgrade::on(response),
            held: Arc::new(held),
        }
    }
}

/// Takes the client's upgrade out of an HTTP/1.1 request that asks for one (`Upgrade` present
/// and named in `Connection`). HTTP/2 requests never do: they have no `Connection` field.
pub fn from_request(parts: &mut Parts) -> Option<ClientUpgrade> {
    let protocol = parts.headers.get(header::UPGRADE)?.clone();
    let named = crate::message::forward::connection_options(&parts.headers)
        .any(|option| option.eq_ignore_ascii_case("upgrade"));
    if !named {
        return None;
    }
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(ClientUpgrade {
        protocol,
        on_upgrade,
    })
}

/// When the client gets a `101 Switching Protocols`, joins its connection to the upstream's.
/// Any other answer to an upgrade request is an ordinary response.
pub(super) fn switch_protocols(
    mut response: http::Response<ProxyBody>,
    client: Option<ClientUpgrade>,
    route: &RouteRuntime,
) -> Result<http::Response<ProxyBody>, ProxyError> {
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response);
    }
    let upstream = response.extensions_mut().remove::<UpstreamUpgrade>();
    let (Some(client), Some(upstream)) = (client, upstream) else {
        return Err(ProxyError::new(
            ErrorKind::BadUpstreamResponse,
            "the upstream switched protocols unasked",
        )
        .detail(format!(
            "upstream `{}` switched protocols unasked",
            route.upstream.name()
        )));
    };
    let protocol = upstream.protocol.clone().unwrap_or(client.protocol.clone());
    restore_fields(response.headers_mut(), &protocol);
    spawn_tunnel(client, upstream, route.idle_timeout);
    Ok(response)
}

/// Puts back the fields that ask for (or confirm) a switch, after hop-by-hop stripping.
pub fn restore_fields(headers: &mut HeaderMap, protocol: &HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol.clone());
}

/// Joins the two sides once both have switched, and copies until one closes or the tunnel has
/// been idle for `idle`. Runs on its own task; the response that confirms the switch goes to
/// the client meanwhile.
pub fn spawn_tunnel(client: ClientUpgrade, upstream: UpstreamUpgrade, idle: Option<Duration>) {
    tokio::spawn(async move {
        let UpstreamUpgrade {
            on_upgrade, held, ..
        } = upstream;
        let (client_io, upstream_io) = match tokio::try_join!(client.on_upgrade, on_upgrade) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "an upgraded connection was not handed over");
                return;
            }
        };
        let activity = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut client_io = Watched {
            io: TokioIo::new(client_io),
            activity: activity.clone(),
            started,
        };
        let mut upstream_io = TokioIo::new(upstream_io);
        let copy = tokio::io::copy_bidirectional(&mut client_io, &mut upstream_io);
        let outcome = match idle {
            None => copy.await.map(Some),
            Some(limit) => tokio::select! {
                result = copy => result.map(Some),
                () = idle_for(limit, &activity, started) => Ok(None),
            },
        };
        match outcome {
            Ok(Some((up, down))) => tracing::debug!(up, down, "tunnel closed"),
            Ok(None) => tracing::debug!("tunnel closed after its idle-timeout"),
            Err(error) => tracing::debug!(%error, "tunnel failed"),
        }
        drop(held);
    });
}

/// Resolves once nothing has moved for `limit`.
async fn idle_for(limit: Duration, activity: &AtomicU64, started: Instant) {
    loop {
        let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
        let deadline = last + limit;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// The client's side of a tunnel, noting when bytes last moved (in either direction: both pass
/// through it).
struct Watched<T> {
    io: T,
    activity: Arc<AtomicU64>,
    started: Instant,
}

impl<T> Watched<T> {
    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.activity.store(now, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
