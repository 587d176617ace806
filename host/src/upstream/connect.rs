//! How the gateway opens a connection to a target: TCP through hyper-util's `HttpConnector`
//! (connect timeout, `TCP_NODELAY`), then TLS when the upstream has a `tls` table, all under
//! the upstream's `max-connections` cap. A connection holds its slot of the cap until it
//! closes, pooled or not, so the cap counts connections, not requests.
//!
//! HTTP/2 is chosen either by the upstream's `protocol` (the client is built `http2_only`) or,
//! for `protocol = "auto"`, per connection by ALPN: the stream tells hyper-util what the
//! handshake negotiated.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::message::body::BoxError;

/// Opens connections to one upstream's targets.
#[derive(Clone)]
pub struct Connector {
    tcp: HttpConnector,
    tls: Option<Tls>,
    handshake_timeout: Duration,
    slots: Option<Arc<Semaphore>>,
}

#[derive(Clone)]
struct Tls {
    connector: TlsConnector,
    /// `server-name`, else the target's host.
    server_name: Option<ServerName<'static>>,
}

impl Connector {
    /// A connector with the upstream's connect timeout (for TCP, and again for the TLS
    /// handshake), TLS when `tls` is given, and at most `max_connections` open at once.
    pub fn new(
        connect_timeout: Duration,
        tls: Option<(Arc<ClientConfig>, Option<String>)>,
        max_connections: Option<u32>,
    ) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        // The scheme says whether to speak TLS; the TCP part accepts both.
        tcp.enforce_http(false);
        let tls = tls.map(|(config, name)| Tls {
            connector: TlsConnector::from(config),
            server_name: name.and_then(|n| ServerName::try_from(n).ok()),
        });
        Self {
            tcp,
            tls,
            handshake_timeout: connect_timeout,
            slots: max_connections.map(|n| Arc::new(Semaphore::new(n as usize))),
        }
    }

    /// The scheme of the URIs this connector is given (`https` when it speaks TLS).
    pub fn scheme(&self) -> http::uri::Scheme {
        if self.tls.is_some() {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        }
    }
}

impl Connector {
    /// Opens a connection to `target` (an absolute URI: the scheme says TLS, the authority
    /// where), after a free slot of `max-connections`.
    pub async fn connect(&self, target: Uri) -> Result<Stream, BoxError> {
        tower_service::Service::call(&mut self.clone(), target).await
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let tls = self.tls.clone();
        let slots = self.slots.clone();
        let handshake_timeout = self.handshake_timeout;
        Box::pin(async move {
            // Waits for a free slot; the request's try-timeout bounds the wait.
            let slot = match slots {
                Some(slots) => Some(slots.acquire_owned().await?),
                None => None,
            };
            let tcp = tcp.call(target.clone()).await?.into_inner();
            let io = match tls {
                None => Io::Plain(TokioIo::new(tcp)),
                Some(tls) => {
                    let name = match tls.server_name {
                        Some(name) => name,
                        None => target_name(&target)?,
                    };
                    let handshake = tls.connector.connect(name, tcp);
                    let stream = tokio::time::timeout(handshake_timeout, handshake)
                        .await
                        .map_err(|_| {
                            format!("the TLS handshake did not finish within {handshake_timeout:?}")
                        })?
                        .map_err(|e| format!("TLS handshake failed: {e}"))?;
                    Io::Tls(Box::new(TokioIo::new(stream)))
                }
            };
            Ok(Stream { io, _slot: slot })
        })
    }
}

/// The name to verify in a target's certificate: its host (an IP address is verified against
/// the certificate's IP SANs and never sent as SNI).
fn target_name(target: &Uri) -> Result<ServerName<'static>, BoxError> {
    let host = target.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned()).map_err(|_| {
        format!("`{host}` cannot be verified in a certificate; set `tls.server-name`").into()
    })
}

/// An open connection to a target, holding its slot of `max-connections` until it closes.
pub struct Stream {
    io: Io,
    _slot: Option<OwnedSemaphorePermit>,
}

enum Io {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Stream {
    /// Whether TLS's ALPN chose HTTP/2.
    pub fn negotiated_h2(&self) -> bool {
        match &self.io {
            Io::Plain(_) => false,
            Io::Tls(io) => io.inner().get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match &self.io {
            Io::Plain(io) => io.connected(),
            Io::Tls(io) => {
                let (tcp, session) = io.inner().get_ref();
                let connected = tcp.connected();
                if session.alpn_protocol() == Some(b"h2") {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}
