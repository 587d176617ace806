//! Serving HTTP on one accepted connection: the protocol read from the connection preface
//! (h2c with prior knowledge, or HTTP/2 after ALPN on TLS, else HTTP/1.1), then hyper's
//! connection for it, under the watchdog's deadlines.
//!
//! An HTTP/1.1 connection that stays quiet between requests gives its memory back: hyper keeps
//! an 8 KiB read buffer and an 8 KiB write buffer per connection for as long as it lives, which
//! made an idle keep-alive connection cost 29 KiB here. After [`QUIET`] without a request, the
//! watchdog says so; the connection is then taken apart (its socket, any bytes read ahead and
//! the service come back from hyper) and waits, bare, until the socket is readable, when a new
//! hyper connection serves it. An idle connection then holds its task, its socket and this
//! module's few words (`docs/connections.md`). HTTP/2 connections are served as before.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Shared;
use super::redirect;
use super::watchdog::{Activity, Expired, InFlightBody, Served, Watchdog, Watched};
use crate::config::{ConnectionLimits, HttpsRedirect};
use crate::proxy::{self, ConnInfo};
use crate::tls::ClientIdentity;

/// How long an HTTP/1.1 connection stays quiet (nothing in flight, nothing read) before it
/// gives hyper's buffers back. Long enough that a busy keep-alive connection, whose next
/// request comes within milliseconds, never pays for a new hyper connection; short against a
/// keep-alive timeout.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

/// The HTTP/2 connection preface (RFC 9113 3.4); anything else is HTTP/1.x.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What serving HTTP on one connection needs to know.
pub(super) struct Serving {
    pub conn: ConnInfo,
    pub identity: Option<Arc<ClientIdentity>>,
    pub redirect: Option<HttpsRedirect>,
    pub limits: ConnectionLimits,
    pub activity: Arc<Activity>,
}

/// A client socket that can say when a read would not block, without reading.
pub(crate) trait Readiness {
    /// Resolves when bytes (or the end of the stream) can be read.
    fn ready(&self) -> impl Future<Output = io::Result<()>> + Send;
}

impl Readiness for TcpStream {
    fn ready(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
}

impl Readiness for tokio_rustls::server::TlsStream<TcpStream> {
    async fn ready(&self) -> io::Result<()> {
        let (socket, tls) = self.get_ref();
        // Plaintext already decrypted, or the peer's close_notify, is there to read now.
        if tls.wants_read() {
            socket.readable().await
        } else {
            Ok(())
        }
    }
}

/// Serves HTTP on `stream` until the client, a timeout of `[limits]` or a graceful shutdown
/// closes it.
pub(super) async fn serve<S>(
    stream: S,
    serving: Serving,
    shared: &Arc<Shared>,
    draining: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Readiness + Unpin + Send + 'static,
{
    let Serving {
        conn,
        identity,
        redirect,
        limits,
        activity,
    } = serving;
    let current = shared.current.clone();
    let counted = activity.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        let current = current.clone();
        let identity = identity.clone();
        let in_flight = counted.request();
        async move {
            let response = if let Some(redirect) = redirect {
                redirect::respond(&request, redirect)
            } else {
                if let Some(identity) = identity {
                    // Read where the plugins' context is built (`proxy::plugins`).
                    request.extensions_mut().insert(identity);
                }
                proxy::handle(&current, request, conn).await
            };
            Ok::<_, Infallible>(response.map(|body| InFlightBody::new(body, in_flight)))
        }
    });
    let metrics = &shared.metrics;
    let expired = |reason| {
        let counter = match reason {
            Expired::Header => &metrics.header_timeouts,
            Expired::KeepAlive => &metrics.keepalive_timeouts,
        };
        counter.inc();
    };
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut watchdog = Watchdog::new(&activity, &limits, draining, expired, timer);
    let mut io = Watched::new(stream, activity.clone());
    let (h2, preface) = match watchdog.wait(sniff(&mut io)).await {
        Some(Ok(sniffed)) => sniffed,
        Some(Err(e)) => {
            tracing::debug!(client = %conn.peer, error = %e, "connection ended before a request");
            return;
        }
        None => return,
    };
    let mut io = Rewind::new(io, preface);
    if h2 {
        let http = http2_builder(&limits);
        // Boxed, here and below, so that an idle connection's task is not sized for it.
        let mut served = Box::new(http.serve_connection(TokioIo::new(io), service));
        let shutdown = |conn: Pin<&mut http2::Connection<_, _, _>>| conn.graceful_shutdown();
        let served = watchdog.serve(Pin::new(&mut *served), shutdown, None).await;
        return ended(served, &conn);
    }
    let mut service = service;
    loop {
        let http = http1_builder();
        let mut served = Box::new(
            http.serve_connection(TokioIo::new(io), service)
                .with_upgrades(),
        );
        let shutdown = |conn: Pin<&mut http1::UpgradeableConnection<_, _>>| {
            conn.graceful_shutdown();
        };
        match watchdog
            .serve(Pin::new(&mut *served), shutdown, Some(QUIET))
            .await
        {
            Served::Idle => {}
            ended_with => return ended(ended_with, &conn),
        }
        // Quiet: hyper's buffers are empty, and go back with it.
        let Some(parts) = (*served).into_parts() else {
            return;
        };
        service = parts.service;
        io = parts.io.into_inner().unread(parts.read_buf);
        if !io.has_unread() {
            match watchdog.wait(io.inner.get_ref().ready()).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::debug!(client = %conn.peer, error = %e, "connection failed while idle");
                    return;
                }
                None => return,
            }
        }
    }
}

fn ended<E: std::fmt::Display>(served: Served<E>, conn: &ConnInfo) {
    if let Served::Ended(Err(e)) = served {
        tracing::debug!(client = %conn.peer, error = %e, "connection ended with an error");
    }
}

/// Reads the start of the connection until it is known whether it is the HTTP/2 preface (as
/// hyper-util's `auto` builder does): `true` for HTTP/2, and the bytes read.
async fn sniff<S: AsyncRead + Unpin>(io: &mut S) -> io::Result<(bool, Bytes)> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut filled = 0;
    while filled < buf.len() {
        let n = io.read(&mut buf[filled..]).await?;
        let end = filled + n;
        if n == 0 || buf[filled..end] != H2_PREFACE[filled..end] {
            return Ok((false, Bytes::copy_from_slice(&buf[..end])));
        }
        filled = end;
    }
    Ok((true, Bytes::copy_from_slice(&buf)))
}

/// HTTP/1.1, kept alive. The watchdog bounds every connection's waits: a request that trickles
/// in on a kept-alive connection is closed at its keep-alive deadline (or `header-timeout` after
/// its first byte, when later). So hyper's own header timer, whose bound was the keep-alive and
/// header timeouts added, is off: it cost every request a boxed `Sleep` registered in the timer
/// wheel while the connection waited and dropped when the headers came (1.5k instructions per
/// request, docs/benchmarks.md).
fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(None);
    builder
}

/// HTTP/2 as `limits` say: PINGs find dead peers.
fn http2_builder(limits: &ConnectionLimits) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_ping_interval)
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    builder
}

/// How long an HTTP/2 PING may go unanswered before the connection is closed.
pub(crate) const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// A socket with bytes already read from it put back in front.
struct Rewind<S> {
    unread: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    fn new(inner: S, unread: Bytes) -> Self {
        Self { unread, inner }
    }

    /// Puts `more` back in front of what is still unread. An empty `more` is not kept: it
    /// would keep alive the whole buffer it was cut from (hyper's read buffer).
    fn unread(mut self, more: Bytes) -> Self {
        if more.is_empty() {
            return self;
        }
        if self.unread.is_empty() {
            self.unread = more;
        } else {
            let mut both = Vec::with_capacity(self.unread.len() + more.len());
            both.extend_from_slice(&self.unread);
            both.extend_from_slice(&more);
            self.unread = both.into();
        }
        self
    }

    fn has_unread(&self) -> bool {
        !self.unread.is_empty()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unread.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.unread.len().min(buf.remaining());
        buf.put_slice(&self.unread[..n]);
        self.unread.advance(n);
        if self.unread.is_empty() {
            // Drop the buffer rather than keep an empty view of it.
            self.unread = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
