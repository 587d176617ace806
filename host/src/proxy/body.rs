//! The body type the proxy passes around: a stream from a client or upstream, or bytes the
//! gateway holds (a buffered body a plugin read, an error page, a plugin's reply).

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Empty, Full, Limited, combinators::BoxBody};

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
    Timeout(std::time::Duration),
}

/// Reads a whole body (and its trailers) into memory, up to `limit` bytes and within `deadline`
/// (a slow sender must not hold a plugin instance and a buffer forever).
pub async fn buffer(
    body: hyper::body::Incoming,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<(Bytes, Option<HeaderMap>), BufferError> {
    let collected = tokio::time::timeout(deadline, Limited::new(body, limit).collect())
        .await
        .map_err(|_| BufferError::Timeout(deadline))?;
    match collected {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            Ok((collected.to_bytes(), trailers))
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BufferError::TooLarge(limit)),
        Err(e) => Err(BufferError::Read(e)),
    }
}
