//! Closes client connections that take too long to ask or stay idle too long: the first
//! request's headers must arrive within `header-timeout` of accept (TLS handshake included),
//! and a connection with no request in flight is closed after `keepalive-timeout` (HTTP/1.1
//! between requests, HTTP/2 with no stream open, by GOAWAY). A request whose first bytes arrive
//! while idle gets `header-timeout` from them, even past the keep-alive deadline.
//!
//! The hot path only touches atomics: the service counts requests in and out, the socket
//! wrapper notes the first byte read while idle; the watchdog's one timer wakes at the earliest
//! possible deadline and computes the real one from those.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

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
        })
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
    mut conn: Pin<&mut C>,
    shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    limits: &ConnectionLimits,
    mut draining: watch::Receiver<bool>,
    expired: impl FnOnce(Expired),
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let timer = tokio::time::sleep_until(activity.accepted + limits.header_timeout);
    tokio::pin!(timer);
    let mut expired = Some(expired);
    let mut closing = false;
    let mut drained = *draining.borrow_and_update();
    if drained {
        shutdown(conn.as_mut());
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => return result,
            changed = draining.changed(), if !drained => {
                // A closed channel means the listener is gone: drain as well.
                if changed.is_err() || *draining.borrow_and_update() {
                    drained = true;
                    shutdown(conn.as_mut());
                }
            }
            () = &mut timer => {
                let now = Instant::now();
                if closing {
                    if activity.in_flight.load(Ordering::Acquire) == 0 {
                        return Ok(());
                    }
                    timer.as_mut().reset(now + CLOSE_GRACE);
                    continue;
                }
                match verdict(activity.observe(), activity.millis_duration(now), limits) {
                    Verdict::CheckAt(at) => timer.as_mut().reset(activity.accepted + at),
                    Verdict::Close(reason) => {
                        if let Some(expired) = expired.take() {
                            expired(reason);
                        }
                        closing = true;
                        shutdown(conn.as_mut());
                        timer.as_mut().reset(now + CLOSE_GRACE);
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
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
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
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        }
    }

    fn seen(in_flight: usize, requests: u64, idle_since: u64, first: Option<u64>) -> Observed {
        Observed {
            in_flight,
            requests,
            idle_since: Duration::from_secs(idle_since),
            first_byte_while_idle: first.map(Duration::from_secs),
        }
    }

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_connection_without_a_request_closes_at_the_header_timeout() {
        let silent = seen(0, 0, 0, None);
        assert_eq!(verdict(silent, at(3), &limits()), Verdict::CheckAt(at(10)));
        assert_eq!(
            verdict(silent, at(10), &limits()),
            Verdict::Close(Expired::Header)
        );
        // Trickling bytes do not extend it.
        let trickling = seen(0, 0, 0, Some(9));
        assert_eq!(
            verdict(trickling, at(10), &limits()),
            Verdict::Close(Expired::Header)
        );
    }

    #[test]
    fn an_idle_connection_closes_at_the_keepalive_timeout_after_its_last_request() {
        let idle = seen(0, 3, 100, None);
        assert_eq!(verdict(idle, at(120), &limits()), Verdict::CheckAt(at(160)));
        assert_eq!(
            verdict(idle, at(160), &limits()),
            Verdict::Close(Expired::KeepAlive)
        );
    }

    #[test]
    fn a_request_begun_late_in_the_idle_time_gets_the_header_timeout_to_finish() {
        let late = seen(0, 3, 100, Some(155));
        assert_eq!(verdict(late, at(160), &limits()), Verdict::CheckAt(at(165)));
        assert_eq!(
            verdict(late, at(165), &limits()),
            Verdict::Close(Expired::Header)
        );
        let early = seen(0, 3, 100, Some(101));
        assert_eq!(
            verdict(early, at(120), &limits()),
            Verdict::CheckAt(at(160))
        );
    }

    #[test]
    fn requests_in_flight_are_never_cut_by_the_watchdog() {
        let busy = seen(2, 2, 0, None);
        assert_eq!(verdict(busy, at(500), &limits()), Verdict::CheckAt(at(560)));
    }
}
