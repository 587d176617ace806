//! The upstream client: requests sent on connections of our own pool, on hyper's connection
//! API. It replaces hyper-util's legacy client, whose pool is keyed by scheme and authority in a
//! `HashMap` with SipHash (three lookups per request, about 6k instructions of the 55k a proxied
//! request cost, docs/benchmarks.md): here each target has its own slot, found by index.
//!
//! What the legacy client did and this one keeps:
//! - HTTP/1.1 connections are reused one request at a time, most recently used first; one goes
//!   back to its target's idle list when its response has been read to the end (hyper's
//!   `ready`, checked at each poll of the response body and at its end: `body`), and is
//!   dropped after [`IDLE_TIMEOUT`] idle or beyond [`MAX_IDLE_PER_TARGET`].
//! - A reused connection that turns out closed before the request was written is not an error:
//!   the request (given back by hyper, unsent) goes on another connection.
//! - HTTP/2, by the upstream's `protocol` or by ALPN, shares one connection per target.
//! - HTTP/1.1 requests go in origin form (the path), with `Host` from the target when the
//!   request has none; HTTP/2 ones keep the absolute URI for `:scheme` and `:authority`.
//! - Upgrades (WebSocket) work: HTTP/1.1 connections are served `with_upgrades`.
//! - Under `max-connections`, a request that waits for a connection takes the first one to
//!   come back idle to its target, or the first free slot, whichever comes first.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Notify;

use super::connect::Connector;
use crate::config::UpstreamProtocol;
use crate::message::body::{BoxError, ProxyBody};

mod body;

use body::Reusable;
pub use body::UpstreamBody;

/// How long an idle connection stays in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Most idle connections kept per target.
pub const MAX_IDLE_PER_TARGET: usize = 256;

/// How often idle connections past [`IDLE_TIMEOUT`] are closed.
const REAP_EVERY: Duration = Duration::from_secs(15);

/// Why a request got no response headers.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made (refused, timed out, TLS failed).
    #[error("cannot connect: {0}")]
    Connect(#[source] BoxError),
    /// The connection broke before the response headers.
    #[error("{0}")]
    Send(#[source] hyper::Error),
}

impl ClientError {
    /// Whether no connection was made: the request reached no server.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

/// The pooled client of one upstream.
pub struct UpstreamClient {
    connector: Connector,
    http2_only: bool,
    pool: Arc<Pool>,
}

struct Pool {
    targets: Vec<Mutex<Slot>>,
    /// Signalled when an HTTP/1.1 connection of the target comes back idle.
    returned: Vec<Notify>,
    reaper: std::sync::OnceLock<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Slot {
    /// Idle HTTP/1.1 connections, most recently used last.
    idle: Vec<(http1::SendRequest<ProxyBody>, Instant)>,
    /// The target's HTTP/2 connection, shared.
    h2: Option<http2::SendRequest<ProxyBody>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(reaper) = self.reaper.get() {
            reaper.abort();
        }
    }
}

impl UpstreamClient {
    /// A client for `targets` targets, connecting with `connector`.
    pub fn new(connector: Connector, protocol: UpstreamProtocol, targets: usize) -> Self {
        Self {
            connector,
            http2_only: protocol == UpstreamProtocol::Http2,
            pool: Arc::new(Pool {
                targets: (0..targets).map(|_| Mutex::default()).collect(),
                returned: (0..targets).map(|_| Notify::new()).collect(),
                reaper: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sends `request` (its URI absolute: the upstream's scheme, the target's authority) to
    /// target `target` and waits for the response headers.
    pub async fn request(
        &self,
        target: usize,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, ClientError> {
        loop {
            if let Some(mut h2) = self.pool.h2(target) {
                if h2.ready().await.is_ok() {
                    return h2
                        .send_request(request)
                        .await
                        .map(|response| response.map(UpstreamBody::unpooled))
                        .map_err(ClientError::Send);
                }
                self.pool.forget_h2(target, &h2);
                continue;
            }
            let Some(idle) = self.pool.take(target) else {
                break;
            };
            match self.send_on_idle(target, idle, request).await? {
                Ok(response) => return Ok(response),
                Err(unsent) => request = unsent,
            }
        }
        self.connect_and_send(target, request).await
    }

    /// Sends `request` on `idle`, a pooled HTTP/1.1 connection of `target`. A request the
    /// connection could not take (it had closed: nothing was written) comes back unsent, its
    /// URI absolute again, for another connection.
    async fn send_on_idle(
        &self,
        target: usize,
        mut idle: http1::SendRequest<ProxyBody>,
        mut request: Request<ProxyBody>,
    ) -> Result<Result<Response<UpstreamBody>, Request<ProxyBody>>, ClientError> {
        let base = origin_form(&mut request);
        match idle.try_send_request(request).await {
            Ok(response) => Ok(Ok(self.lend(target, idle, response))),
            Err(mut error) => match error.take_message() {
                Some(mut unsent) => {
                    absolute_form(&mut unsent, base);
                    Ok(Err(unsent))
                }
                None => Err(ClientError::Send(error.into_error())),
            },
        }
    }

    /// No idle connection: a new one is made, by a task of its own, while the request also
    /// waits for one of the target's connections to come back idle, and takes whichever comes
    /// first. A connection made for a request that went elsewhere is not wasted: the task puts
    /// it in the pool (so a burst grows the pool instead of opening and closing connections).
    async fn connect_and_send(
        &self,
        target: usize,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, ClientError> {
        let uri = request.uri().clone();
        let (made_tx, mut made) = tokio::sync::oneshot::channel();
        let (pool, connector, http2_only) =
            (self.pool.clone(), self.connector.clone(), self.http2_only);
        tokio::spawn(async move {
            let connection = connect(&connector, uri, http2_only).await;
            if let Err(Ok(unused)) = made_tx.send(connection) {
                pool.keep(target, unused);
            }
        });
        let connection = loop {
            // Under `max-connections` a connection coming back may be the only one to be had.
            let returned = self.pool.returned(target).notified();
            tokio::select! {
                connection = &mut made => {
                    break connection.map_err(|_| {
                        ClientError::Connect("the connection task ended without an answer".into())
                    })??;
                }
                () = returned => {
                    if let Some(idle) = self.pool.take(target) {
                        match self.send_on_idle(target, idle, request).await? {
                            Ok(response) => return Ok(response),
                            Err(unsent) => request = unsent,
                        }
                    }
                }
            }
        };
        match connection {
            Made::Http2(mut sender) => {
                self.pool.keep_h2(target, sender.clone());
                sender
                    .send_request(request)
                    .await
                    .map(|response| response.map(UpstreamBody::unpooled))
                    .map_err(ClientError::Send)
            }
            Made::Http1(mut sender) => {
                origin_form(&mut request);
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(ClientError::Send)?;
                Ok(self.lend(target, sender, response))
            }
        }
    }

    /// `response`'s body, holding the connection it came on until it ends.
    fn lend(
        &self,
        target: usize,
        sender: http1::SendRequest<ProxyBody>,
        response: Response<Incoming>,
    ) -> Response<UpstreamBody> {
        let connection = Reusable {
            pool: Arc::downgrade(&self.pool),
            target,
            sender,
        };
        response.map(|body| UpstreamBody::pooled(body, connection))
    }
}

/// A new connection, handshaken.
enum Made {
    Http1(http1::SendRequest<ProxyBody>),
    Http2(http2::SendRequest<ProxyBody>),
}

/// Opens a connection to `uri`'s target and shakes hands in the protocol chosen (HTTP/2 when
/// the upstream says so or ALPN chose it), its driver spawned.
async fn connect(connector: &Connector, uri: Uri, http2_only: bool) -> Result<Made, ClientError> {
    let stream = connector.connect(uri).await.map_err(ClientError::Connect)?;
    if http2_only || stream.negotiated_h2() {
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(stream)
            .await
            .map_err(|e| ClientError::Connect(e.into()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(Made::Http2(sender));
    }
    let (sender, connection) = http1::Builder::new()
        .handshake(stream)
        .await
        .map_err(|e| ClientError::Connect(e.into()))?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok(Made::Http1(sender))
}

impl Pool {
    fn slot(&self, target: usize) -> Option<std::sync::MutexGuard<'_, Slot>> {
        self.targets
            .get(target)
            .map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn returned(&self, target: usize) -> &Notify {
        static NONE: Notify = Notify::const_new();
        self.returned.get(target).unwrap_or(&NONE)
    }

    fn h2(&self, target: usize) -> Option<http2::SendRequest<ProxyBody>> {
        let mut slot = self.slot(target)?;
        match &slot.h2 {
            Some(h2) if !h2.is_closed() => Some(h2.clone()),
            Some(_) => {
                slot.h2 = None;
                None
            }
            None => None,
        }
    }

    fn keep_h2(&self, target: usize, sender: http2::SendRequest<ProxyBody>) {
        if let Some(mut slot) = self.slot(target) {
            slot.h2 = Some(sender);
        }
    }

    fn forget_h2(&self, target: usize, closed: &http2::SendRequest<ProxyBody>) {
        if let Some(mut slot) = self.slot(target)
            && slot
                .h2
                .as_ref()
                .is_some_and(|h2| h2.is_closed() || closed.is_closed())
        {
            slot.h2 = None;
        }
    }

    /// Keeps a new connection that its request did not need.
    fn keep(self: &Arc<Self>, target: usize, made: Made) {
        match made {
            Made::Http2(sender) => self.keep_h2(target, sender),
            Made::Http1(sender) => self.give_back_when_ready(target, sender),
        }
    }

    /// The most recently used idle connection that is still open and not expired.
    fn take(&self, target: usize) -> Option<http1::SendRequest<ProxyBody>> {
        let mut slot = self.slot(target)?;
        let now = Instant::now();
        while let Some((sender, since)) = slot.idle.pop() {
            if sender.is_ready() && now.duration_since(since) < IDLE_TIMEOUT {
                return Some(sender);
            }
        }
        None
    }

    /// Puts `sender`, whose response has ended, back in `target`'s idle list: at once when
    /// hyper has made it ready for another request, else when it does (`give_back_when_ready`).
    fn give_back(self: &Arc<Self>, target: usize, sender: http1::SendRequest<ProxyBody>) {
        if sender.is_ready() {
            self.put_idle(target, sender);
        } else if tokio::runtime::Handle::try_current().is_ok() {
            self.give_back_when_ready(target, sender);
        }
        // Else the runtime is going away, and the connection with it.
    }

    /// Puts `sender` back in `target`'s idle list once its response has been read (hyper's
    /// `ready`); one whose response was abandoned is closed by hyper and dropped here.
    fn give_back_when_ready(
        self: &Arc<Self>,
        target: usize,
        mut sender: http1::SendRequest<ProxyBody>,
    ) {
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            if sender.ready().await.is_err() {
                return;
            }
            if let Some(pool) = pool.upgrade() {
                pool.put_idle(target, sender);
            }
        });
    }

    /// Adds a ready connection to `target`'s idle list, and wakes a request waiting for one. The
    /// reaper starts with the first idle connection: before it there is nothing to reap.
    fn put_idle(self: &Arc<Self>, target: usize, sender: http1::SendRequest<ProxyBody>) {
        self.reap_from_now_on();
        if let Some(mut slot) = self.slot(target) {
            if slot.idle.len() >= MAX_IDLE_PER_TARGET {
                slot.idle.remove(0);
            }
            slot.idle.push((sender, Instant::now()));
        }
        self.returned(target).notify_one();
    }

    /// Starts, once, the task that closes connections idle past [`IDLE_TIMEOUT`].
    fn reap_from_now_on(self: &Arc<Self>) {
        if self.reaper.get().is_some() {
            return;
        }
        let pool: Weak<Self> = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else {
                    return;
                };
                let now = Instant::now();
                for slot in &pool.targets {
                    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                    slot.idle.retain(|(sender, since)| {
                        !sender.is_closed() && now.duration_since(*since) < IDLE_TIMEOUT
                    });
                }
            }
        });
        if let Err(task) = self.reaper.set(task) {
            task.abort();
        }
    }
}

/// An HTTP/1.1 request goes in origin form (`/path?query`), with `Host` from its target when
/// it has none, as the legacy client sent it. Returns the scheme and authority taken off, to
/// put back should the request have to go on another connection.
fn origin_form(request: &mut Request<ProxyBody>) -> Option<(Scheme, Authority)> {
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    let authority = parts.authority.take();
    if let Some(authority) = &authority
        && !request.headers().contains_key(HOST)
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(HOST, value);
    }
    let path = parts
        .path_and_query
        .take()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
    Some((parts.scheme?, authority?))
}

/// Puts back what [`origin_form`] took off (a rare path: a reused connection found closed).
fn absolute_form(request: &mut Request<ProxyBody>, base: Option<(Scheme, Authority)>) {
    let Some((scheme, authority)) = base else {
        return;
    };
    let mut parts = request.uri().clone().into_parts();
    parts.scheme = Some(scheme);
    parts.authority = Some(authority);
    // A path, a scheme and an authority always make a URI; were it not so, the request would
    // keep its origin form, which the next connection's `origin_form` takes as it is.
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
}

#[cfg(test)]
mod tests;
