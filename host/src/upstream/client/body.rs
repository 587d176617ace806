//! The body of an upstream response, which gives its HTTP/1.1 connection back to the pool as
//! soon as hyper has made it ready for the next request: hyper does once it has read the
//! response to the end (the rest of the body then waits in this body's channel, so a slow
//! client does not keep the connection out of the pool), and the body checks at each poll and
//! at its end. No task per request waits for hyper's `ready`; a response whose end comes before
//! the connection is ready, or one that is abandoned, still gets one.

use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;

use super::Pool;
use crate::message::body::ProxyBody;

/// An upstream response's body: hyper's, and the connection it came on until it ends.
pub struct UpstreamBody {
    inner: Incoming,
    connection: Option<Reusable>,
}

/// An HTTP/1.1 connection lent to one response, and where it goes back.
pub(super) struct Reusable {
    /// Weak, as the task it replaces held it: a long stream does not keep a retired
    /// upstream's pool alive.
    pub(super) pool: Weak<Pool>,
    pub(super) target: usize,
    pub(super) sender: http1::SendRequest<ProxyBody>,
}

impl UpstreamBody {
    /// A body on a connection that is not pooled per response (HTTP/2, shared by requests).
    pub(super) fn unpooled(inner: Incoming) -> Self {
        Self {
            inner,
            connection: None,
        }
    }

    /// A body whose end makes `connection` idle again.
    pub(super) fn pooled(inner: Incoming, connection: Reusable) -> Self {
        Self {
            inner,
            connection: Some(connection),
        }
    }

    fn give_back(&mut self) {
        if let Some(connection) = self.connection.take()
            && let Some(pool) = connection.pool.upgrade()
        {
            pool.give_back(connection.target, connection.sender);
        }
    }

    /// Gives the connection back if hyper already made it ready (the response read to its end).
    fn give_back_if_ready(&mut self) {
        if self
            .connection
            .as_ref()
            .is_some_and(|connection| connection.sender.is_ready())
        {
            self.give_back();
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.give_back(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.give_back(),
            // The connection broke: hyper closes it.
            Poll::Ready(Some(Err(_))) => self.connection = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => self.give_back_if_ready(),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    /// A body dropped unread to its end (a `HEAD` response, one with no body that nobody
    /// polled, or one the client abandoned) still gives its connection back: hyper says
    /// whether it can take another request.
    fn drop(&mut self) {
        self.give_back();
    }
}
