//! The errors the proxy answers with itself, each knowing its status, where it came from and
//! whether a retry could help (after pingora-error). Every one becomes a small JSON body that
//! carries the request id and a sentence the client can act on; what only the operator can use
//! (upstream names, hyper's error chain, a plugin's trap) is the error's source, written to the
//! log with the same request id.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::message::body::{BoxError, ClientBodyError, ProxyBody, full};
use crate::message::error_text;
use crate::plugin::ChainFailure;

/// Which side of the proxy an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client's request.
    Downstream,
    /// The upstream server.
    Upstream,
    /// A plugin.
    Plugin,
    /// The gateway itself.
    Internal,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No route matches the request.
    NoRoute,
    /// The request body is larger than a plugin may buffer.
    RequestTooLarge,
    /// The request body is malformed (a broken chunk, say).
    BadRequestBody,
    /// The request body did not arrive in time: `408`.
    RequestTimeout,
    /// The client went away before its request body ended: logged as `499` (nginx's code),
    /// which no client reads.
    ClientClosed,
    /// The request is malformed (a missing or repeated `Host`, for one).
    BadRequest,
    /// The upstream refused or dropped the connection.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// Every target of the upstream is unhealthy or ejected.
    NoHealthyUpstream,
    /// The upstream's circuit breaker is open (`limits`): answered at once, with `Retry-After`.
    UpstreamOverloaded,
    /// The upstream's answer could not be read or was too large to buffer.
    BadUpstreamResponse,
    /// A plugin failed under `fail-closed`.
    PluginFailed,
    /// No plugin instance could be had (the instance pool is exhausted): try again later.
    PluginUnavailable,
    /// A plugin's reply was not a valid HTTP response.
    BadPluginReply,
}

impl ErrorKind {
    /// The HTTP status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::NoRoute => StatusCode::NOT_FOUND,
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::BadRequestBody | ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::ClientClosed => CLIENT_CLOSED_REQUEST,
            ErrorKind::UpstreamUnavailable | ErrorKind::BadUpstreamResponse => {
                StatusCode::BAD_GATEWAY
            }
            ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::NoHealthyUpstream | ErrorKind::UpstreamOverloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::PluginFailed | ErrorKind::BadPluginReply => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ErrorKind::PluginUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The short code in the JSON body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NoRoute => "no_route",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::BadRequestBody => "bad_request_body",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::ClientClosed => "client_closed",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::UpstreamUnavailable => "upstream_unavailable",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::NoHealthyUpstream => "no_healthy_upstream",
            ErrorKind::UpstreamOverloaded => "upstream_overloaded",
            ErrorKind::BadUpstreamResponse => "bad_upstream_response",
            ErrorKind::PluginFailed => "plugin_failed",
            ErrorKind::PluginUnavailable => "plugin_unavailable",
            ErrorKind::BadPluginReply => "bad_plugin_reply",
        }
    }

    /// Where the error came from.
    pub fn side(self) -> Side {
        match self {
            ErrorKind::NoRoute
            | ErrorKind::RequestTooLarge
            | ErrorKind::BadRequestBody
            | ErrorKind::RequestTimeout
            | ErrorKind::ClientClosed
            | ErrorKind::BadRequest => Side::Downstream,
            ErrorKind::UpstreamUnavailable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::NoHealthyUpstream
            | ErrorKind::UpstreamOverloaded
            | ErrorKind::BadUpstreamResponse => Side::Upstream,
            ErrorKind::PluginFailed | ErrorKind::BadPluginReply | ErrorKind::PluginUnavailable => {
                Side::Plugin
            }
        }
    }

    /// Whether trying again (another target, later) could succeed.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorKind::UpstreamUnavailable)
    }

    /// Whether an answer of this kind is logged as a warning: an upstream that failed or
    /// misbehaved, or a plugin's invalid reply, whose detail is in no other line. The client's
    /// own failures, the breaker's refusals and an upstream with no healthy target (counted in
    /// metrics; ejections are logged when they happen) and plugin failures (logged by the chain,
    /// with the request id) are logged at debug level.
    fn warns(self) -> bool {
        matches!(
            self,
            ErrorKind::UpstreamUnavailable
                | ErrorKind::UpstreamTimeout
                | ErrorKind::BadUpstreamResponse
                | ErrorKind::BadPluginReply
        )
    }
}

/// nginx's status for a request whose client closed the connection first.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// An error the proxy answers itself: its kind, a sentence for the client, and what caused it
/// (for the log).
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct ProxyError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A sentence for the client: what it can act on, no internals.
    pub message: String,
    /// What caused it, as the operator needs it: logged with the request id, never sent.
    #[source]
    source: Option<BoxError>,
}

impl ProxyError {
    /// An error of `kind` with `message` for the client.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source` (logged, never sent to the client).
    pub fn caused_by(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The same error, with `detail` for the log only.
    pub fn detail(self, detail: impl Into<String>) -> Self {
        self.caused_by(Detail(detail.into()))
    }

    /// Writes the error and its causes to the log with the request's id, the detail that the
    /// client's message leaves out (see `ErrorKind::warns` for the level).
    pub fn log(&self, request_id: &str) {
        let error = error_text::chain(self);
        if self.kind.warns() {
            tracing::warn!(request_id, error, "answered with an error");
        } else {
            tracing::debug!(request_id, error, "answered with an error");
        }
    }

    /// The response: `{"error": code, "message": ..., "request_id": ...}`.
    pub fn to_response(&self, request_id: &str) -> Response<ProxyBody> {
        let (parts, body) = self.to_parts(request_id);
        Response::from_parts(parts, full(body, None))
    }

    /// The response's head and body, apart.
    pub fn to_parts(&self, request_id: &str) -> (http::response::Parts, Bytes) {
        let body = serde_json::json!({
            "error": self.kind.code(),
            "message": self.message,
            "request_id": request_id,
        });
        let mut response = Response::new(());
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.kind == ErrorKind::UpstreamOverloaded {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-request-id", id);
        }
        (response.into_parts().0, Bytes::from(body.to_string()))
    }

    /// A fail-closed plugin failed (`failure`, which the chain logged): answered as `kind`. The
    /// client learns the plugin's name, never its trap or error text.
    pub fn plugin_failed(kind: ErrorKind, failure: ChainFailure) -> Self {
        let message = if failure.error == crate::plugin::CallError::BreakerOpen {
            format!(
                "plugin `{}` is unavailable: its circuit breaker is open",
                failure.plugin
            )
        } else {
            format!("plugin `{}` failed", failure.plugin)
        };
        ProxyError::new(kind, message).caused_by(PluginFailure(failure))
    }
}

/// The detail of an error, for the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Detail(String);

/// A plugin's failure as the cause of an answer.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{}` failed in {}: {}", .0.plugin, .0.phase, .0.error)]
struct PluginFailure(ChainFailure);

impl From<ClientBodyError> for ProxyError {
    fn from(error: ClientBodyError) -> Self {
        let kind = match error {
            ClientBodyError::Malformed => ErrorKind::BadRequestBody,
            ClientBodyError::Aborted => ErrorKind::ClientClosed,
            ClientBodyError::TooSlow => ErrorKind::RequestTimeout,
        };
        ProxyError::new(kind, error.to_string())
    }
}
