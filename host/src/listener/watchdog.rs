//! Closes client connections that take too long to ask or stay idle too long: the first
//! request's headers must arrive within `header-timeout` of accept (TLS handshake included),
//! and a connection with no request in flight is closed after `keepalive-timeout` (HTTP/1.1
//! between requests, HTTP/2 with no stream open, by GOAWAY). A request whose first bytes arrive
//! while idle gets `header-timeout` from them, even past the keep-alive deadline.
//!
//! The hot path only touches atomics: the service counts requests in and out, the socket
//! wrapper notes the first byte read while idle; the watchdog's one timer wakes at the earliest
//! possible deadline and computes the real one from those.
//!
//! The same timer tells an HTTP/1.1 connection that has been idle for a while to give its
//! buffers back ([`Served::Idle`], `listener::http`): the socket wrapper notes whether the
//! server's last read found nothing and its writes are all out, so that the connection can be
//! taken apart without losing a byte.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::config::ConnectionLimits;

/// How long a connection told to close (GOAWAY sent, keep-alive off) has to finish before it
/// is dropped, unless a request is in flight by then (which then finishes first).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No complete request (or TLS handshake) within `header-timeout` of accept, or of a
    /// request's first byte.
    Header,
    /// Nothing in flight for `keepalive-timeout`.
    KeepAlive,
}

/// What the watchdog reads about one connection.
pub(crate) struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds from `accepted` to when the last request in flight ended.
    idle_since: AtomicU64,
    /// Milliseconds from `accepted` to the first byte read while idle, plus one (zero: none).
    first_byte_while_idle: AtomicU64,
    /// The socket's last read found nothing to read (the server waits for the client).
    read_pending: AtomicBool,
    /// A write to the socket is waiting for room (the server has bytes not yet sent).
    write_blocked: AtomicBool,
}

impl Activity {
    /// A connection accepted at `accepted`.
    pub(crate) fn new(accepted: Instant) -> Arc<Self> {
        Arc::new(Self {
            accepted,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            first_byte_while_idle: AtomicU64::new(0),
            read_pending: AtomicBool::new(false),
            write_blocked: AtomicBool::new(false),
        })
    }

    /// When the connection was accepted.
    pub(crate) fn accepted(&self) -> Instant {
        self.accepted
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.accepted).as_millis() as u64
    }

    /// A request arrived; it counts until the guard drops (its response body ended).
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.first_byte_while_idle.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.first_byte_while_idle.load(Ordering::Acquire) == 0
        {
            let now = self.millis(Instant::now()) + 1;
            let _ = self.first_byte_while_idle.compare_exchange(
                0,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    fn note_read<T>(&self, polled: &Poll<T>) {
        self.read_pending
            .store(polled.is_pending(), Ordering::Relaxed);
    }

    fn note_write<T>(&self, polled: &Poll<T>) {
        self.write_blocked
            .store(polled.is_pending(), Ordering::Relaxed);
    }

    /// Whether the connection has been quiet for `quiet` at `now` (from accept): nothing in
    /// flight, no byte read since its last request ended, the server waiting to read, and
    /// everything it wrote sent. Its HTTP state then holds nothing but empty buffers.
    fn quiet_for(&self, quiet: Duration, now: Duration) -> bool {
        let seen = self.observe();
        seen.in_flight == 0
            && seen.requests > 0
            && seen.first_byte_while_idle.is_none()
            && seen.idle_since + quiet <= now
            && self.read_pending.load(Ordering::Relaxed)
            && !self.write_blocked.load(Ordering::Relaxed)
    }

    /// The state now, for [`verdict`].
    fn observe(&self) -> Observed {
        Observed {
            in_flight: self.in_flight.load(Ordering::Acquire),
            requests: self.requests.load(Ordering::Acquire),
            idle_since: Duration::from_millis(self.idle_since.load(Ordering::Acquire)),
            first_byte_while_idle: match self.first_byte_while_idle.load(Ordering::Acquire) {
                0 => None,
                plus_one => Some(Duration::from_millis(plus_one - 1)),
            },
        }
    }
}

/// A request in flight on a connection.
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = activity.millis(Instant::now());
            activity.idle_since.store(now, Ordering::Release);
            activity.first_byte_while_idle.store(0, Ordering::Release);
        }
    }
}

/// A connection's activity at one instant, times from accept.
#[derive(Debug, Clone, Copy)]
struct Observed {
    in_flight: usize,
    requests: u64,
    idle_since: Duration,
    first_byte_while_idle: Option<Duration>,
}

/// What the watchdog does at `now` (from accept): wait until a time, or close.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    CheckAt(Duration),
    Close(Expired),
}

fn verdict(seen: Observed, now: Duration, limits: &ConnectionLimits) -> Verdict {
    if seen.in_flight > 0 {
        // Requests in flight are bounded by their routes' timeouts; look again later.
        return Verdict::CheckAt(now + limits.keepalive_timeout);
    }
    let (deadline, reason) = if seen.requests == 0 {
        (limits.header_timeout, Expired::Header)
    } else {
        let idle = seen.idle_since + limits.keepalive_timeout;
        match seen.first_byte_while_idle {
            Some(first) if first + limits.header_timeout > idle => {
                (first + limits.header_timeout, Expired::Header)
            }
            _ => (idle, Expired::KeepAlive),
        }
    };
    if now >= deadline {
        Verdict::Close(reason)
    } else {
        Verdict::CheckAt(deadline)
    }
}

/// Serves `conn` until it ends, the listener drains (`draining` turns true), or a deadline of
/// `limits` passes: then `shutdown` asks it to close (HTTP/1.1 closes when idle, HTTP/2 sends
/// GOAWAY) and it is dropped if still open with nothing in flight [`CLOSE_GRACE`] later.
/// `expired` hears why.
pub(crate) async fn run<C, E>(
    conn: Pin<&mut C>,
    shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    limits: &ConnectionLimits,
    draining: watch::Receiver<bool>,
    expired: impl FnOnce(Expired),
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let timer = tokio::time::sleep_until(activity.accepted + limits.header_timeout);
    tokio::pin!(timer);
    let mut watchdog = Watchdog::new(activity, limits, draining, expired, timer);
    match watchdog.serve(conn, shutdown, None).await {
        Served::Ended(result) => result,
        // Only asked for with a quiet time.
        Served::Idle => Ok(()),
    }
}

/// How [`Watchdog::serve`] ended.
pub(crate) enum Served<E> {
    /// The connection ended (or was dropped after being told to close).
    Ended(Result<(), E>),
    /// The connection has been quiet for the time asked ([`Activity::quiet_for`]): it may be
    /// taken apart, and served anew when bytes arrive.
    Idle,
}

/// The deadlines of one connection, kept across the stretches in which it is served by an
/// HTTP connection and those in which it waits, bare, for bytes.
pub(crate) struct Watchdog<'a, X> {
    activity: &'a Activity,
    limits: &'a ConnectionLimits,
    draining: watch::Receiver<bool>,
    /// The listener is draining (told once).
    drained: bool,
    expired: Option<X>,
    timer: Pin<&'a mut Sleep>,
}

impl<'a, X: FnOnce(Expired)> Watchdog<'a, X> {
    /// The watchdog of a connection; `timer` is set to its first deadline.
    pub(crate) fn new(
        activity: &'a Activity,
        limits: &'a ConnectionLimits,
        mut draining: watch::Receiver<bool>,
        expired: X,
        mut timer: Pin<&'a mut Sleep>,
    ) -> Self {
        timer
            .as_mut()
            .reset(activity.accepted + limits.header_timeout);
        let drained = *draining.borrow_and_update();
        Self {
            activity,
            limits,
            draining,
            drained,
            expired: Some(expired),
            timer,
        }
    }

    fn expire(&mut self, reason: Expired) {
        if let Some(expired) = self.expired.take() {
            expired(reason);
        }
    }

    /// Whether the listener has started draining now (a closed channel means it is gone).
    fn drain_changed(&mut self, changed: Result<(), watch::error::RecvError>) -> bool {
        if changed.is_err() || *self.draining.borrow_and_update() {
            self.drained = true;
        }
        self.drained
    }

    /// Waits for `ready` while the connection holds no HTTP state; `None` when the listener
    /// drains or a deadline passes first (the connection is then to be closed).
    pub(crate) async fn wait<T>(&mut self, ready: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(ready);
        if self.drained {
            return None;
        }
        loop {
            tokio::select! {
                out = &mut ready => return Some(out),
                changed = self.draining.changed() => {
                    if self.drain_changed(changed) {
                        return None;
                    }
                }
                () = self.timer.as_mut() => {
                    let now = Instant::now();
                    let seen = self.activity.observe();
                    match verdict(seen, self.activity.millis_duration(now), self.limits) {
                        Verdict::CheckAt(at) => {
                            self.timer.as_mut().reset(self.activity.accepted + at);
                        }
                        Verdict::Close(reason) => {
                            self.expire(reason);
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// Serves `conn` as [`run`] does; with `quiet` given, returns [`Served::Idle`] once the
    /// connection has been quiet that long ([`Activity::quiet_for`]).
    pub(crate) async fn serve<C, E>(
        &mut self,
        mut conn: Pin<&mut C>,
        shutdown: impl Fn(Pin<&mut C>),
        quiet: Option<Duration>,
    ) -> Served<E>
    where
        C: Future<Output = Result<(), E>>,
    {
        let activity = self.activity;
        let mut closing = false;
        if self.drained {
            shutdown(conn.as_mut());
        } else if let Some(quiet) = quiet {
            // Look again once a request begun now could have ended and been quiet that long.
            let soon = Instant::now() + quiet;
            if soon < self.timer.deadline() {
                self.timer.as_mut().reset(soon);
            }
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => return Served::Ended(result),
                changed = self.draining.changed(), if !self.drained => {
                    if self.drain_changed(changed) {
                        shutdown(conn.as_mut());
                    }
                }
                () = self.timer.as_mut() => {
                    let now = Instant::now();
                    if closing {
                        if activity.in_flight.load(Ordering::Acquire) == 0 {
                            return Served::Ended(Ok(()));
                        }
                        self.timer.as_mut().reset(now + CLOSE_GRACE);
                        continue;
                    }
                    let since_accept = activity.millis_duration(now);
                    match verdict(activity.observe(), since_accept, self.limits) {
                        Verdict::CheckAt(at) => {
                            let mut next = activity.accepted + at;
                            if let Some(quiet) = quiet.filter(|_| !self.drained) {
                                if activity.quiet_for(quiet, since_accept) {
                                    return Served::Idle;
                                }
                                next = next.min(activity.quiet_check(quiet, now));
                            }
                            self.timer.as_mut().reset(next);
                        }
                        Verdict::Close(reason) => {
                            self.expire(reason);
                            closing = true;
                            shutdown(conn.as_mut());
                            self.timer.as_mut().reset(now + CLOSE_GRACE);
                        }
                    }
                }
            }
        }
    }
}

impl Activity {
    fn millis_duration(&self, at: Instant) -> Duration {
        Duration::from_millis(self.millis(at))
    }

    /// When to look again whether the connection is quiet for `quiet`, at `now`: that long
    /// after its last request ended if nothing is in flight now, else that long from now.
    fn quiet_check(&self, quiet: Duration, now: Instant) -> Instant {
        let idle_since =
            self.accepted + Duration::from_millis(self.idle_since.load(Ordering::Acquire));
        if self.in_flight.load(Ordering::Acquire) == 0 && idle_since + quiet > now {
            idle_since + quiet
        } else {
            now + quiet
        }
    }
}

/// A client socket that tells its [`Activity`] when bytes arrive.
pub(crate) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    /// The socket.
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.activity.note_read(&polled);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.note_write(&polled);
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.activity.note_write(&polled);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.note_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that keeps its request counted in flight until it ends or is dropped.
pub(crate) struct InFlightBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> InFlightBody<B> {
    /// `inner`, counted by `in_flight`.
    pub(crate) fn new(inner: B, in_flight: InFlight) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body + Unpin> Body for InFlightBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
