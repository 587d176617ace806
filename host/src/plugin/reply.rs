//! A plugin's reply (its `respond` in `on-request`) as the `http` response the proxy sends:
//! checked here, in the plugin layer, so the data plane never reads a type of the WIT
//! contract, and a reply that is not valid HTTP is a typed error naming the plugin.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::contract::Reply;

/// Why a reply is not a valid HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The status is not a final one (200 to 599).
    #[error("status {0} is not a final status (200 to 599)")]
    Status(u16),
    /// A header's name is not a valid field name.
    #[error("header name `{0}` is not valid")]
    HeaderName(String),
    /// A header's value is not a valid field value.
    #[error("the value of header `{0}` is not valid")]
    HeaderValue(HeaderName),
    /// More headers than a response may hold.
    #[error("too many headers")]
    TooManyHeaders,
}

/// A plugin's reply that is not a valid HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}` replied with an invalid response")]
pub struct InvalidReply {
    /// The plugin's name.
    pub plugin: String,
    /// What is wrong with the reply.
    #[source]
    pub error: ReplyError,
}

/// The reply of `plugin` as a response, its headers in the order given (a name may repeat).
pub fn to_response(plugin: &str, reply: Reply) -> Result<Response<Bytes>, InvalidReply> {
    convert(reply).map_err(|error| InvalidReply {
        plugin: plugin.to_owned(),
        error,
    })
}

fn convert(reply: Reply) -> Result<Response<Bytes>, ReplyError> {
    let status = StatusCode::from_u16(reply.status)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .ok_or(ReplyError::Status(reply.status))?;
    let mut response = Response::new(Bytes::from(reply.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for header in reply.headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| ReplyError::HeaderName(header.name))?;
        let value = HeaderValue::from_str(&header.value)
            .map_err(|_| ReplyError::HeaderValue(name.clone()))?;
        headers
            .try_append(name, value)
            .map_err(|_| ReplyError::TooManyHeaders)?;
    }
    Ok(response)
}

#[cfg(test)]
mod tests;
