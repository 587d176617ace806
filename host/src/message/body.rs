//! The body type the proxy passes around: a stream from a client or upstream, or bytes the
//! gateway holds (a buffered body a plugin read, an error page, a plugin's reply).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use tokio::time::{Instant, Sleep};

/// The largest body the gateway buffers for a plugin that asks for it (16 MiB).
pub const MAX_BUFFERED_BODY: usize = 16 << 20;

/// Any error from a body in transit.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one body type of the proxy.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A body streamed from `body` as it arrives.
pub fn streamed<B>(body: B) -> ProxyBody
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    body.map_err(|e| -> BoxError { Box::new(e) }).boxed()
}

/// A body streamed from `body` that holds `held` (counts of the request in flight) until it
/// ends or is dropped, and fails when no data arrives for `idle` (the route's `idle-timeout`).
pub fn tracked<B, H>(body: B, held: H, idle: Option<Duration>) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
    H: Send + Sync + Unpin + 'static,
{
    Tracked {
        body,
        idle: idle.map(|limit| Idle {
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
        }),
        held: Some(held),
    }
    .boxed()
}

/// A body stalled for longer than the route's `idle-timeout`.
#[derive(Debug, thiserror::Error)]
#[error("no data for {0:?} (the route's idle-timeout)")]
pub struct IdleTimeout(pub Duration);

struct Tracked<B, H> {
    body: B,
    idle: Option<Idle>,
    held: Option<H>,
}

struct Idle {
    limit: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<B, H> Body for Tracked<B, H>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    H: Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                match &frame {
                    None | Some(Err(_)) => this.held = None,
                    Some(Ok(_)) => {
                        if let Some(idle) = &mut this.idle {
                            idle.timer.as_mut().reset(Instant::now() + idle.limit);
                        }
                    }
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(idle) = &mut this.idle else {
                    return Poll::Pending;
                };
                if idle.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.held = None;
                Poll::Ready(Some(Err(Box::new(IdleTimeout(idle.limit)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What went wrong with a client's request body: the client's doing, never the upstream's, so
/// it answers `400`, `408` or nothing, is not retried, and leaves passive health alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientBodyError {
    /// It broke the framing (a bad chunk size, say): `400`.
    #[error("the request body is malformed")]
    Malformed,
    /// The client closed the connection or reset the stream before the body ended.
    #[error("the client went away before its request body ended")]
    Aborted,
    /// It stalled beyond the route's `idle-timeout`, or was still arriving when a deadline
    /// passed: `408`.
    #[error("the request body did not arrive in time")]
    TooSlow,
}

impl ClientBodyError {
    /// Which failure `error` (from the client's body) is.
    fn of(error: &BoxError) -> Self {
        if error.downcast_ref::<IdleTimeout>().is_some() {
            return Self::TooSlow;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
                        Self::Malformed
                    }
                    _ => Self::Aborted,
                };
            }
            source = cause.source();
        }
        Self::Aborted
    }
}

/// Shared by a client's request body and the code forwarding it: whether the body failed, and
/// whether the gateway is waiting for the client (its last read found nothing yet). An
/// upstream failure or timeout is then blamed on the right side.
#[derive(Debug, Default)]
pub struct ClientBodyWatch {
    /// 0 while fine; else a [`ClientBodyError`] as `1 + its index`.
    failure: std::sync::atomic::AtomicU8,
    waiting: std::sync::atomic::AtomicBool,
}

impl ClientBodyWatch {
    /// How the body failed, if it did.
    pub fn failure(&self) -> Option<ClientBodyError> {
        match self.failure.load(Ordering::Relaxed) {
            1 => Some(ClientBodyError::Malformed),
            2 => Some(ClientBodyError::Aborted),
            3 => Some(ClientBodyError::TooSlow),
            _ => None,
        }
    }

    /// The client's part in a failed exchange with the upstream: its body failed, or a
    /// deadline passed (`timed_out`) while the gateway was waiting for more of the body.
    pub fn blame(&self, timed_out: bool) -> Option<ClientBodyError> {
        self.failure().or_else(|| {
            (timed_out && self.waiting.load(Ordering::Relaxed)).then_some(ClientBodyError::TooSlow)
        })
    }

    /// Whether the gateway is waiting for more of the body (the client has not ended it, and
    /// its last read found nothing).
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    fn fail(&self, error: ClientBodyError) {
        let code = match error {
            ClientBodyError::Malformed => 1,
            ClientBodyError::Aborted => 2,
            ClientBodyError::TooSlow => 3,
        };
        let _ = self
            .failure
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// The client's request body, watched by `watch`: its errors become [`ClientBodyError`]s.
pub fn from_client(body: ProxyBody, watch: Arc<ClientBodyWatch>) -> ProxyBody {
    FromClient { body, watch }.boxed()
}

struct FromClient {
    body: ProxyBody,
    watch: Arc<ClientBodyWatch>,
}

impl Body for FromClient {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        let waiting = &this.watch.waiting;
        match polled {
            Poll::Pending => {
                waiting.store(true, Ordering::Relaxed);
                Poll::Pending
            }
            Poll::Ready(Some(Err(e))) => {
                waiting.store(false, Ordering::Relaxed);
                let failure = ClientBodyError::of(&e);
                tracing::debug!(error = %e, "the client's request body failed");
                this.watch.fail(failure);
                Poll::Ready(Some(Err(Box::new(failure))))
            }
            ready => {
                waiting.store(false, Ordering::Relaxed);
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A body whose data bytes are counted as they pass, into a counter shared with whoever needs
/// the total (the access line's `bytes_received`).
pub struct Counted<B> {
    body: B,
    count: Arc<AtomicU64>,
}

impl<B> Counted<B> {
    /// Counts `body`'s data into `count`.
    pub fn new(body: B, count: Arc<AtomicU64>) -> Self {
        Self { body, count }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How a response body to the client ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every byte was handed to the connection.
    Complete,
    /// It stopped early: the upstream failed or stalled, or the client went away.
    Aborted,
}

/// A response body that counts its data bytes and calls `done` once, with the count and how
/// it ended, when it ends, fails or is dropped: the access line is written then, so its byte
/// count is exact even for a streamed body. `ends_unpolled` says that a drop before the end
/// is still complete (a `HEAD` answer, whose body the connection never sends).
pub fn observed<F>(body: ProxyBody, ends_unpolled: bool, done: F) -> ProxyBody
where
    F: FnOnce(u64, Ending) + Send + Sync + Unpin + 'static,
{
    Observed {
        body,
        sent: 0,
        ends_unpolled,
        done: Some(done),
    }
    .boxed()
}

struct Observed<F: FnOnce(u64, Ending)> {
    body: ProxyBody,
    sent: u64,
    ends_unpolled: bool,
    done: Option<F>,
}

impl<F: FnOnce(u64, Ending)> Observed<F> {
    fn finish(&mut self, ending: Ending) {
        if let Some(done) = self.done.take() {
            done(self.sent, ending);
        }
    }
}

impl<F: FnOnce(u64, Ending) + Unpin> Body for Observed<F> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
                if this.body.is_end_stream() {
                    this.finish(Ending::Complete);
                }
            }
            Poll::Ready(None) => this.finish(Ending::Complete),
            Poll::Ready(Some(Err(_))) => this.finish(Ending::Aborted),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<F: FnOnce(u64, Ending)> Drop for Observed<F> {
    fn drop(&mut self) {
        let ending = if self.ends_unpolled || self.body.is_end_stream() {
            Ending::Complete
        } else {
            Ending::Aborted
        };
        self.finish(ending);
    }
}

/// A body of bytes held in memory, with trailers when there are some.
pub fn full(data: Bytes, trailers: Option<HeaderMap>) -> ProxyBody {
    let body = Full::new(data).map_err(|never| match never {});
    match trailers {
        Some(trailers) => body
            .with_trailers(async move { Some(Ok(trailers)) })
            .boxed(),
        None => body.boxed(),
    }
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Why a body could not be buffered.
#[derive(Debug)]
pub enum BufferError {
    /// It is longer than the limit.
    TooLarge(usize),
    /// The peer failed while sending it.
    Read(BoxError),
    /// It did not arrive in time.
    Timeout(Duration),
}

/// Reads a whole body (and its trailers) into memory, up to `limit` bytes and within `deadline`
/// (a slow sender must not hold a plugin instance and a buffer forever).
pub async fn buffer(
    mut body: ProxyBody,
    limit: usize,
    deadline: Duration,
) -> Result<(Bytes, Option<HeaderMap>), BufferError> {
    // A loop over frames rather than `http_body_util::Limited`: boxing the error of a body
    // whose error is already boxed trips a higher-ranked lifetime limit of rustc's async
    // `Send` check.
    let read = async move {
        let mut data = bytes::BytesMut::new();
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(BufferError::Read)?;
            match frame.into_data() {
                Ok(chunk) => {
                    if data.len() + chunk.len() > limit {
                        return Err(BufferError::TooLarge(limit));
                    }
                    data.extend_from_slice(&chunk);
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = Some(t);
                    }
                }
            }
        }
        Ok((data.freeze(), trailers))
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| BufferError::Timeout(deadline))?
}

#[cfg(test)]
mod tests;
