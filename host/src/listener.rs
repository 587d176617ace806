//! Listeners: accept TCP connections and serve HTTP/1.1 and HTTP/2 on the same port, detecting
//! the protocol from the connection preface: h2c with prior knowledge on plain listeners, h2 or
//! HTTP/1.1 chosen by ALPN on TLS listeners. A plain listener may only redirect to HTTPS.
//!
//! Shutdown is graceful: when told to stop, a listener closes its socket (new connections are
//! refused), asks every open connection to close after its requests in flight (HTTP/1.1 stops
//! keep-alive, HTTP/2 sends GOAWAY), and waits for them until the deadline, then drops the rest.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::HttpsRedirect;
use crate::proxy::{self, ConnInfo};
use crate::router::path::PathOptions;
use crate::snapshot::Current;
use crate::tls::{self, ClientIdentity, TlsAcceptor};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Tells listeners to stop: `None` while serving, then the deadline for connections to finish.
pub type ShutdownSignal = watch::Receiver<Option<Instant>>;

/// A bound listener, not yet serving. Whether it speaks TLS (and with which certificates) or
/// redirects to HTTPS is read from the snapshot in service at each new connection, so a reload
/// that changes certificates applies to the next connection without rebinding.
pub struct Listener {
    name: Arc<str>,
    socket: TcpListener,
}

/// What every connection of a listener shares.
struct Shared {
    current: Arc<Current>,
    builder: auto::Builder<TokioExecutor>,
}

impl Listener {
    /// Binds `address`, serving plain HTTP.
    pub async fn bind(name: &str, address: SocketAddr) -> std::io::Result<Self> {
        let socket = TcpListener::bind(address).await?;
        Ok(Self {
            name: name.into(),
            socket,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Accepts and serves connections until `shutdown` gives a deadline, then drains the open
    /// connections until it (see the module's documentation).
    pub async fn serve(self, current: Arc<Current>, mut shutdown: ShutdownSignal) {
        let Self { name, socket } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let shared = Arc::new(Shared { current, builder });
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let deadline = loop {
            let accepted = tokio::select! {
                accepted = socket.accept() => accepted,
                changed = shutdown.changed() => match changed {
                    Ok(()) => match *shutdown.borrow_and_update() {
                        Some(deadline) => break deadline,
                        None => continue,
                    },
                    // The gateway is gone: stop at once.
                    Err(_) => break Instant::now(),
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (tls, redirect, path) = settings(&shared.current, &name);
            connections.spawn(connection(
                stream,
                ConnInfo {
                    peer,
                    tls: false,
                    path,
                },
                tls,
                redirect,
                shared.clone(),
                graceful.watcher(),
            ));
        };
        // New connections are refused from here on.
        drop(socket);
        let open = graceful.count();
        tracing::info!(listener = %name, connections = open, "stopped accepting; draining");
        if tokio::time::timeout_at(deadline, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                listener = %name,
                connections = connections.len(),
                "shutdown deadline reached; closing the remaining connections"
            );
            connections.abort_all();
        }
        while connections.join_next().await.is_some() {}
    }
}

/// The listener's TLS acceptor, redirect and path options in the snapshot in service. (A
/// listener that a reload removes is told to stop accepting right after the swap; a connection
/// it accepts in that instant finds no settings and is served as plain HTTP without redirect.)
fn settings(
    current: &Current,
    name: &str,
) -> (Option<TlsAcceptor>, Option<HttpsRedirect>, PathOptions) {
    match current.load().listener(name) {
        Some((spec, acceptor)) => (acceptor, spec.redirect_to_https, spec.path),
        None => (None, None, PathOptions::default()),
    }
}

/// Serves one accepted connection, after the TLS handshake on TLS listeners.
async fn connection(
    stream: TcpStream,
    conn: ConnInfo,
    tls: Option<TlsAcceptor>,
    redirect: Option<HttpsRedirect>,
    shared: Arc<Shared>,
    watcher: Watcher,
) {
    let peer = conn.peer;
    let Some(acceptor) = tls else {
        return http(TokioIo::new(stream), conn, None, redirect, &shared, watcher).await;
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(client = %peer, "TLS handshake timed out");
            return;
        }
    };
    // rustls verified the chain; what is left is to say who the client is.
    let identity = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(ClientIdentity::from_certificate)
        .map(Arc::new);
    let conn = ConnInfo { tls: true, ..conn };
    http(TokioIo::new(stream), conn, identity, None, &shared, watcher).await;
}

/// Serves HTTP on `io` until the client or a graceful shutdown closes it.
async fn http<I>(
    io: I,
    conn: ConnInfo,
    identity: Option<Arc<ClientIdentity>>,
    redirect: Option<HttpsRedirect>,
    shared: &Arc<Shared>,
    watcher: Watcher,
) where
    I: Read + Write + Unpin + Send + 'static,
{
    let current = shared.current.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        let current = current.clone();
        let identity = identity.clone();
        async move {
            if let Some(redirect) = redirect {
                return Ok::<_, Infallible>(tls::redirect::respond(&request, redirect));
            }
            if let Some(identity) = identity {
                // Read where the plugins' context is built (`proxy::service`).
                request.extensions_mut().insert(identity);
            }
            Ok(proxy::handle(&current, request, conn).await)
        }
    });
    let served = shared.builder.serve_connection_with_upgrades(io, service);
    if let Err(e) = watcher.watch(served).await {
        tracing::debug!(client = %conn.peer, error = %e, "connection ended with an error");
    }
}
