//! The body of an upstream response, which gives its HTTP/1.1 connection back to the pool when
//! it ends. The connection's own task has by then (nearly always) read the response to the end
//! and made the connection ready for the next request, so it goes back at once: no task per
//! request to wait for hyper's `ready`, which a response whose end comes before the connection
//! is ready, or one that is abandoned, still gets.

use std::pin::Pin;
use std::sync::Arc;
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
    pub(super) pool: Arc<Pool>,
    pub(super) target: usize,
    pub(super) sender: http1::SendRequest<ProxyBody>,
}

impl UpstreamBody {
    /// A body on a connection that is not pooled per response (HTTP/2, an upgrade).
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
        if let Some(connection) = self.connection.take() {
            connection
                .pool
                .give_back(connection.target, connection.sender);
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
            _ => {}
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
