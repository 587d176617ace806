//! The plugin branch of a request's walk: the request body buffered when a plugin reads it,
//! `on-request` through the route's chain, then one of three responses (the upstream's answer,
//! a plugin's reply, or the error of a plugin that failed), `on-response` back through the
//! plugins that ran, and the client's response built from what they left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header;
use http::{Request, Response, StatusCode};

use super::call::client_body_error;
use super::error::{ErrorKind, ProxyError};
use super::forward::{Forward, finish, fix_content_length};
use super::record::Record;
use crate::message::Context;
use crate::message::body::{self, BufferError, ProxyBody};
use crate::observe::metrics::{Metrics, RouteMetrics};
use crate::plugin::exchange::Phase;
use crate::plugin::{CallError, ChainFailure, Exchange, RequestVerdict, ResponseState};

/// Takes the routed request (`parts`, `body`, the path's `params`) through the route's plugins
/// and, unless one of them answers, to the upstream.
pub(super) async fn run(
    forward: &Forward<'_>,
    metrics: &Metrics,
    route_metrics: &RouteMetrics,
    parts: http::request::Parts,
    body: ProxyBody,
    params: Vec<(Arc<str>, String)>,
    record: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    let route = forward.route;
    let id = forward.call.request_id;
    // Buffer the body only when a plugin on the route asked to see it; otherwise it streams.
    let (request_body, request_trailers, streaming_request_body) =
        if route.chain.needs_request_body() {
            let body = body::from_client(body, forward.call.client_body.clone());
            let (bytes, trailers) = buffer_request(body, route.timeout).await?;
            (Some(bytes), trailers, None)
        } else {
            (None, None, Some(body))
        };

    let context = client_context(&parts);
    let exchange = Box::new(Exchange {
        request: parts,
        request_body,
        route: route.id.clone(),
        params,
        client_ip: forward.call.client,
        id: record.id.clone(),
        context,
        response: None,
        phase: Phase::Request,
        metrics: metrics.plugins().clone(),
        spans: record.spans.take(),
        scratch: Default::default(),
        slot: 0,
        versions: Vec::new(),
        response_edits: Vec::new(),
    });
    let plugins_started = Instant::now();
    let (mut exchange, verdict, state) = route.chain.on_request(exchange, route_metrics).await;
    record.plugin_duration = plugins_started.elapsed();

    let (ran, streaming) = match verdict {
        RequestVerdict::Forward => {
            // `on-response` may read the request as sent; otherwise it can move out.
            let parts = if route.chain.has_on_response() {
                exchange.request.clone()
            } else {
                std::mem::replace(&mut exchange.request, Request::new(()).into_parts().0)
            };
            let request_body = match (exchange.request_body.clone(), streaming_request_body) {
                (Some(bytes), _) => body::full(bytes, request_trailers),
                (None, Some(stream)) => forward.request_stream(stream),
                (None, None) => body::empty(),
            };
            let mut upstream_request = Request::from_parts(parts, request_body);
            if exchange.request_body.is_some() {
                fix_content_length(
                    upstream_request.headers_mut(),
                    exchange.request_body.as_ref(),
                );
            }
            let answer = match forward.send(upstream_request, record).await {
                Ok(response) => {
                    read_response(response, route.chain.needs_response_body(), route.timeout).await
                }
                Err(error) => Err(error),
            };
            // The gateway's own errors (502, 504) go through `on-response` too, so plugins can
            // decorate them (CORS headers on an error, for one).
            let (response, streaming) =
                answer.unwrap_or_else(|error| (error_state(&error, id), None));
            exchange.response = Some(response);
            (route.chain.len(), streaming)
        }
        RequestVerdict::Respond { reply, ran } => {
            let reply = reply.map_err(|invalid| {
                ProxyError::new(
                    ErrorKind::BadPluginReply,
                    "a plugin's reply was not a valid HTTP response",
                )
                .caused_by(invalid)
            })?;
            let (parts, bytes) = reply.into_parts();
            exchange.response = Some(ResponseState {
                parts,
                body: Some(bytes),
                trailers: None,
            });
            (ran, None)
        }
        RequestVerdict::Fail { failure, ran } => {
            let kind = failure_kind(&failure.error);
            let error = ProxyError::plugin_failed(kind, failure);
            exchange.response = Some(error_state(&error, id));
            (ran, None)
        }
    };
    // Plugins that ran `on-request` see the response, last first.
    let plugins_started = Instant::now();
    let (mut exchange, result) = route
        .chain
        .on_response(exchange, ran, state, route_metrics)
        .await;
    record.plugin_duration += plugins_started.elapsed();
    record.spans = exchange.spans.take();
    record.versions.0 = std::mem::take(&mut exchange.versions);
    respond_after_chain(exchange, result.err(), streaming)
}

/// The client's request body in memory, for the plugins that read it, within `deadline`.
async fn buffer_request(
    body: ProxyBody,
    deadline: Duration,
) -> Result<(bytes::Bytes, Option<http::HeaderMap>), ProxyError> {
    match body::buffer(body, body::MAX_BUFFERED_BODY, deadline).await {
        Ok(buffered) => Ok(buffered),
        Err(BufferError::TooLarge(limit)) => Err(ProxyError::new(
            ErrorKind::RequestTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )),
        Err(BufferError::Read(e)) => Err(client_body_error(e)),
        Err(BufferError::Timeout(limit)) => Err(ProxyError::new(
            ErrorKind::RequestTimeout,
            format!("the request body did not arrive within {limit:?}"),
        )),
    }
}

/// The plugins' context at the start: the verified client certificate on mTLS listeners
/// (`tls.client.subject`, `tls.client.sans`), put in the request's extensions by the listener.
fn client_context(parts: &http::request::Parts) -> Context {
    let mut context = Context::default();
    if let Some(identity) = parts.extensions.get::<Arc<crate::tls::ClientIdentity>>() {
        for (key, value) in identity.context_entries() {
            context.set(key.to_owned(), value);
        }
    }
    context
}

/// The upstream's response as plugins will see it: the body buffered when a plugin reads it,
/// else left to stream (returned apart).
async fn read_response(
    response: Response<ProxyBody>,
    buffer: bool,
    deadline: Duration,
) -> Result<(ResponseState, Option<ProxyBody>), ProxyError> {
    let (parts, incoming) = response.into_parts();
    if !buffer {
        let state = ResponseState {
            parts,
            body: None,
            trailers: None,
        };
        return Ok((state, Some(incoming)));
    }
    match body::buffer(incoming, body::MAX_BUFFERED_BODY, deadline).await {
        Ok((bytes, trailers)) => Ok((
            ResponseState {
                parts,
                body: Some(bytes),
                trailers,
            },
            None,
        )),
        Err(BufferError::TooLarge(limit)) => Err(ProxyError::new(
            ErrorKind::BadUpstreamResponse,
            format!("the upstream's response is larger than {limit} bytes"),
        )),
        Err(BufferError::Read(e)) => Err(ProxyError::new(
            ErrorKind::BadUpstreamResponse,
            "the upstream's response could not be read",
        )
        .caused_by(e)),
        Err(BufferError::Timeout(limit)) => Err(ProxyError::new(
            ErrorKind::UpstreamTimeout,
            format!("the upstream's response body did not arrive within {limit:?}"),
        )),
    }
}

/// An error answer as a response plugins can see and edit; the error is logged here, since
/// it goes no further.
fn error_state(error: &ProxyError, id: &str) -> ResponseState {
    error.log(id);
    let (parts, bytes) = error.to_parts(id);
    ResponseState {
        parts,
        body: Some(bytes),
        trailers: None,
    }
}

/// Builds the client's response from the exchange after `on-response`.
fn respond_after_chain(
    exchange: Box<Exchange>,
    failure: Option<ChainFailure>,
    streaming: Option<ProxyBody>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if let Some(failure) = failure {
        let kind = failure_kind(&failure.error);
        return Err(ProxyError::plugin_failed(kind, failure));
    }
    let Exchange {
        response,
        request,
        context,
        ..
    } = *exchange;
    let Some(ResponseState {
        mut parts,
        body: buffered,
        trailers,
    }) = response
    else {
        return Err(ProxyError::new(
            ErrorKind::BadUpstreamResponse,
            "no response",
        ));
    };
    let body = match (buffered, streaming) {
        (Some(bytes), _) => {
            // A HEAD answer and a 204/304 carry no body: their length header describes what a
            // GET would have sent, and stays. With trailers, the body goes chunked.
            let bodiless = request.method == http::Method::HEAD
                || parts.status == StatusCode::NO_CONTENT
                || parts.status == StatusCode::NOT_MODIFIED;
            if trailers.as_ref().is_some_and(|t| !t.is_empty()) {
                parts.headers.remove(header::CONTENT_LENGTH);
            } else if !bodiless {
                fix_content_length(&mut parts.headers, Some(&bytes));
            }
            body::full(bytes, trailers)
        }
        (None, Some(stream)) => stream,
        (None, None) => body::empty(),
    };
    let mut response = finish(Response::from_parts(parts, body));
    if !context.is_empty() {
        // Carried to the record, which writes it in the access log and drops it.
        response.extensions_mut().insert(context);
    }

    Ok(response)
}

/// How a fail-closed plugin's failure is answered: no instance to be had (overload) and an
/// open breaker are 503, try again later; anything the plugin did is 500.
fn failure_kind(error: &CallError) -> ErrorKind {
    match error {
        CallError::Instantiate(_) | CallError::BreakerOpen => ErrorKind::PluginUnavailable,
        _ => ErrorKind::PluginFailed,
    }
}
