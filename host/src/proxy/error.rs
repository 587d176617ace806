//! The errors the proxy answers with itself, each knowing its status, where it came from and
//! whether a retry could help (after pingora-error). Every one becomes a small JSON body that
//! carries the request id, so a user's report can be matched to the log line.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::message::body::{ClientBodyError, ProxyBody, full};

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
}

/// nginx's status for a request whose client closed the connection first.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// An error the proxy answers itself.
#[derive(Debug, Clone)]
pub struct ProxyError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A sentence for the client (no internals: those go to the log).
    pub message: String,
}

impl ProxyError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
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
}

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

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for ProxyError {}
