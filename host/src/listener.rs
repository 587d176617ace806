//! Listeners: accept TCP connections and serve HTTP/1.1 and HTTP/2 on the same port, detecting
//! the protocol from the connection preface: h2c with prior knowledge on plain listeners, h2 or
//! HTTP/1.1 chosen by ALPN on TLS listeners. A plain listener may only redirect to HTTPS.
//!
//! Shutdown is graceful: when told to stop, a listener closes its socket (new connections are
//! refused), asks every open connection to close after its requests in flight (HTTP/1.1 stops
//! keep-alive, HTTP/2 sends GOAWAY), and waits for them until the deadline, then drops the rest.
//!
//! Connections are bounded (`[limits]`, `docs/connections.md`): beyond `max-connections` open
//! in the process a new one is closed at accept (`cap`), and one that is slow to ask or idle
//! too long is closed (`watchdog`).

mod cap;
mod http;
pub mod redirect;
#[cfg(test)]
mod tests;
pub(crate) mod watchdog;

pub(crate) use cap::AcceptBackoff;
pub use cap::{ConnectionCap, OpenFileLimit, default_max_connections, raise_open_file_limit};

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::cap::Slot;
use self::http::Serving;
use self::watchdog::Activity;
use crate::config::{ConnectionLimits, HttpsRedirect};
use crate::observe::metrics::ListenerMetrics;
use crate::proxy::ConnInfo;
use crate::router::path::PathOptions;
use crate::snapshot::Current;
use crate::tls::{ClientIdentity, TlsAcceptor};

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
    name: Arc<str>,
    current: Arc<Current>,
    /// Client connections open on every listener of the gateway, and their cap.
    cap: Arc<ConnectionCap>,
    metrics: ListenerMetrics,
}

/// What one accepted connection carries to its task.
struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    at: Instant,
    tls: Option<TlsAcceptor>,
    redirect: Option<HttpsRedirect>,
    path: PathOptions,
    limits: ConnectionLimits,
    /// Its place under `max-connections`, given back when the connection ends.
    slot: Slot,
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
    pub async fn serve(
        self,
        current: Arc<Current>,
        cap: Arc<ConnectionCap>,
        mut shutdown: ShutdownSignal,
    ) {
        let Self { name, socket } = self;
        let metrics = current.metrics().listener(&name);
        let shared = Arc::new(Shared {
            name: name.clone(),
            current,
            cap,
            metrics,
        });
        let (drain, draining) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut backoff = AcceptBackoff::default();
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
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                Err(e) => {
                    accept_failed(&name, &e, &mut backoff).await;
                    continue;
                }
            };
            let Some(accepted) = admit(&shared, stream, peer) else {
                continue;
            };
            connections.spawn(connection(accepted, shared.clone(), draining.clone()));
        };
        // New connections are refused from here on.
        drop(socket);
        tracing::info!(listener = %name, connections = connections.len(), "stopped accepting; draining");
        let _ = drain.send(true);
        let drained = tokio::time::timeout_at(deadline, async {
            while connections.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
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

/// Logs a failed `accept` and pauses before the next, longer while failures last: out of file
/// descriptors (EMFILE, ENFILE) or buffers, the listener must neither stall nor spin.
async fn accept_failed(name: &str, error: &std::io::Error, backoff: &mut AcceptBackoff) {
    let Some(pause) = backoff.failed(error) else {
        tracing::debug!(listener = %name, %error, "a connection failed before accept");
        return;
    };
    if AcceptBackoff::is_exhaustion(error) {
        tracing::warn!(
            listener = %name,
            %error,
            pause_ms = pause.as_millis() as u64,
            "accept failed: out of file descriptors or memory; raise the open-file limit \
             (`ulimit -n`, `LimitNOFILE=`) or lower `[limits] max-connections`"
        );
    } else {
        tracing::warn!(listener = %name, %error, pause_ms = pause.as_millis() as u64, "accept failed");
    }
    tokio::time::sleep(pause).await;
}

/// Takes a slot under `max-connections` for a new connection, with the settings in service;
/// `None` (the connection is closed) at the cap.
fn admit(shared: &Shared, stream: TcpStream, peer: SocketAddr) -> Option<Accepted> {
    let at = Instant::now();
    let snapshot = shared.current.load();
    let limits = snapshot.manifest.limits;
    let slot = match shared.cap.enter(limits.max_connections) {
        Ok(slot) => slot,
        Err(refused) => {
            shared.metrics.refused.inc();
            if let Some(refusals) = refused.unlogged {
                tracing::warn!(
                    listener = %shared.name,
                    max_connections = refused.max,
                    refused = refusals,
                    "connection cap reached: new connections are closed at accept until \
                     some close (`[limits] max-connections`; refusals counted in \
                     portcullis_connections_refused_total)"
                );
            }
            return None;
        }
    };
    let _ = stream.set_nodelay(true);
    let (tls, redirect, path) = settings(&shared.current, &shared.name);
    Some(Accepted {
        stream,
        peer,
        at,
        tls,
        redirect,
        path,
        limits,
        slot,
    })
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

/// Serves one accepted connection, after the TLS handshake on TLS listeners, which
/// `header-timeout` bounds too.
async fn connection(accepted: Accepted, shared: Arc<Shared>, draining: watch::Receiver<bool>) {
    let Accepted {
        stream,
        peer,
        at,
        tls,
        redirect,
        path,
        limits,
        slot: _slot,
    } = accepted;
    shared.metrics.open.inc();
    let _open = OpenGauge(&shared.metrics);
    let activity = Activity::new(at);
    let Some(acceptor) = tls else {
        let conn = ConnInfo {
            peer,
            tls: false,
            path,
        };
        let serving = Serving {
            conn,
            identity: None,
            redirect,
            limits,
            activity,
        };
        return http::serve(stream, serving, &shared, draining).await;
    };
    // Boxed: a rustls connection is large, and plain connections' tasks need not be sized for it.
    Box::pin(tls_connection(
        acceptor, stream, peer, path, limits, activity, &shared, draining,
    ))
    .await;
}

/// Serves a connection on a TLS listener: the handshake under `header-timeout`, then HTTP.
#[allow(clippy::too_many_arguments)]
async fn tls_connection(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    path: PathOptions,
    limits: ConnectionLimits,
    activity: Arc<Activity>,
    shared: &Arc<Shared>,
    draining: watch::Receiver<bool>,
) {
    let handshake = acceptor.accept(stream);
    let stream =
        match tokio::time::timeout_at(activity.accepted() + limits.header_timeout, handshake).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(client = %peer, "TLS handshake timed out");
                shared.metrics.header_timeouts.inc();
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
    let conn = ConnInfo {
        peer,
        tls: true,
        path,
    };
    let serving = Serving {
        conn,
        identity,
        redirect: None,
        limits,
        activity,
    };
    http::serve(stream, serving, shared, draining).await;
}

/// Keeps a listener's open-connections gauge right however the connection ends.
struct OpenGauge<'a>(&'a ListenerMetrics);

impl Drop for OpenGauge<'_> {
    fn drop(&mut self) {
        self.0.open.dec();
    }
}

/// HTTP/1.1 and HTTP/2 on one port as `limits` say, for the admin API (the proxy's listeners
/// use `http`, which releases idle connections' buffers). The watchdog enforces the header
/// and keep-alive timeouts; hyper's own header timeout stays as a backstop for a request that
/// trickles in on a kept-alive connection, and HTTP/2 PINGs find dead peers.
pub(crate) fn builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.keepalive_timeout + limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_ping_interval)
        .keep_alive_timeout(http::HTTP2_PING_TIMEOUT);
    builder
}
