//! One request's path through the gateway:
//! snapshot -> route -> `on-request` chain -> upstream -> `on-response` chain -> client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::Scheme;
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use super::error::{ErrorKind, ProxyError};
use super::retry;
use super::upgrade::{self, ClientUpgrade, UpstreamUpgrade};
use crate::config::UpstreamProtocol;
use crate::contract::Reply;
use crate::message::body::{self, BufferError, ClientBodyWatch, Counted, Ending, ProxyBody};
use crate::message::forward;
use crate::message::request_id;
use crate::observe::access_log::Entry;
use crate::observe::metrics::Metrics;
use crate::observe::trace::{self, TraceContext};
use crate::plugin::exchange::{Phase, ResponseState};
use crate::plugin::{Context, Exchange, RequestVerdict};
use crate::router::path::{self, PathOptions};
use crate::snapshot::{Current, RouteRuntime, Snapshot};

/// What the proxy knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// `http` or `https`.
    pub tls: bool,
    /// How the listener normalises request paths before routing.
    pub path: PathOptions,
}

/// What the request path learned for the metrics and the access log.
#[derive(Default)]
struct Seen {
    /// The matched route's index in the snapshot.
    route: Option<usize>,
    /// The upstream and the target of the last try.
    upstream: Option<crate::observe::access_log::Tried>,
    /// The time for the upstream's response headers.
    upstream_duration: Option<Duration>,
    /// The time spent in plugin calls.
    plugin_duration: Duration,
    /// The upstream's circuit breaker refused the request.
    breaker_rejected: bool,
    /// When the first try to the upstream started.
    upstream_sent: Option<Instant>,
    /// The request's spans, when it is traced; lent to the exchange while plugins run.
    spans: Option<Box<crate::observe::otlp::RequestSpans>>,
}

/// Handles one request against the snapshot in service.
pub async fn handle(
    current: &Current,
    request: Request<Incoming>,
    conn: ConnInfo,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let metrics = current.metrics();
    let _active = metrics.enter();
    let snapshot = current.load();
    let id = request_id::from_request(request.headers());
    let mut trace = TraceContext::from_headers(request.headers());
    let tracer = snapshot.tracer.as_ref();
    if let Some(tracer) = tracer
        && trace.parent_id.is_none()
    {
        // A trace that starts here is sampled at `[tracing] sample-ratio`; one continued from
        // the caller keeps the caller's decision.
        trace.flags = u8::from(tracer.sample_new_trace());
    }
    let method = request.method().clone();
    let version = request.version();
    let path = request.uri().path().to_owned();
    let received = Arc::new(AtomicU64::new(0));
    let request = request.map(|incoming| Counted::new(incoming, received.clone()));
    let mut seen = Seen::default();
    if let Some(tracer) = tracer.filter(|_| trace.flags & 1 == 1) {
        let state = request.headers().get("tracestate");
        let state = state.and_then(|v| v.to_str().ok());
        seen.spans = Some(tracer.begin(&trace, state, started));
    }
    let mut response = match proxy(&snapshot, metrics, request, conn, &id, &trace, &mut seen).await
    {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(request_id = &*id, %error, "answered with an error");
            error.to_response(&id)
        }
    };
    let context = response
        .extensions_mut()
        .remove::<Context>()
        .unwrap_or_default();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = seen.route.and_then(|i| snapshot.routes.get(i));
    let route_metrics = route.map_or_else(|| metrics.unmatched(), |r| r.metrics(metrics));
    route_metrics.answered(&method, status, elapsed);
    if let Some(upstream) = seen.upstream_duration {
        route_metrics.upstream(upstream);
    }
    if let Some(route) = route.filter(|_| seen.breaker_rejected) {
        metrics.breaker_rejected(route.upstream.name());
    }
    let mut spans = seen.spans.take();
    if let (Some(spans), Some(sent), Some(route)) = (spans.as_mut(), seen.upstream_sent, route) {
        spans.upstream(crate::observe::otlp::UpstreamCall {
            upstream: route.upstream.name(),
            target: seen.upstream.as_ref().map(|t| t.target.to_string()),
            sent,
            elapsed: seen.upstream_duration.unwrap_or_default(),
        });
    }
    let spans_dropped = spans
        .as_ref()
        .map(|_| metrics.trace_spans_dropped_counter());
    let bodiless = method == http::Method::HEAD
        || response.status() == StatusCode::NO_CONTENT
        || response.status() == StatusCode::NOT_MODIFIED
        || response.status().is_informational();
    let mut entry = Entry {
        time: SystemTime::now(),
        request_id: id,
        trace_id: trace.trace_id,
        client: conn.peer.ip(),
        method,
        path,
        version,
        route: route.map(|r| r.id.clone()),
        upstream: seen.upstream,
        status,
        bytes: 0,
        bytes_received: 0,
        aborted: false,
        duration: elapsed,
        upstream_duration: seen.upstream_duration,
        plugin_duration: seen.plugin_duration,
        context,
    };
    // The line is written when the body has gone (or stopped), so its byte counts are exact.
    let access_log = current.access_log();
    let dropped = metrics.access_log_dropped_counter();
    response.map(|body| {
        body::observed(body, bodiless, move |sent, ending| {
            entry.bytes = sent;
            entry.bytes_received = received.load(Ordering::Relaxed);
            entry.aborted = ending == Ending::Aborted;
            if let (Some(spans), Some(spans_dropped)) = (spans, spans_dropped) {
                let served = crate::observe::otlp::Served {
                    method: entry.method.as_str(),
                    path: &entry.path,
                    route: entry.route.as_deref(),
                    status: entry.status,
                    request_id: &entry.request_id,
                    client: entry.client.to_string(),
                    aborted: entry.aborted,
                };
                (*spans).finish(served, &spans_dropped);
            }
            if !access_log.log(entry) {
                dropped.inc();
            }
        })
    })
}

async fn proxy(
    snapshot: &Snapshot,
    metrics: &Metrics,
    request: Request<Counted<Incoming>>,
    conn: ConnInfo,
    id: &Arc<str>,
    trace: &TraceContext,
    seen: &mut Seen,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, incoming) = request.into_parts();
    // Failures of the client's body are the client's: this tells them from the upstream's.
    let client_body = Arc::new(ClientBodyWatch::default());
    forward::normalize_host(&mut parts)
        .map_err(|why| ProxyError::new(ErrorKind::BadRequest, why))?;
    normalize_path(&mut parts.uri, &conn.path)?;
    let client_upgrade = upgrade::from_request(&mut parts);
    // The client's hop-by-hop fields go before plugins see the request, so a `Connection`
    // header cannot name (and so delete) a field a plugin adds.
    forward::strip_hop_by_hop(&mut parts.headers);
    let host = forward::requested_host(&parts.uri, &parts.headers);
    let found = snapshot
        .router
        .find(
            host.as_deref(),
            parts.uri.path(),
            &parts.method,
            &parts.headers,
        )
        .ok_or_else(|| {
            ProxyError::new(
                ErrorKind::NoRoute,
                format!("no route matches {} {}", parts.method, parts.uri.path()),
            )
        })?;
    let Some(route) = snapshot.routes.get(found.route) else {
        return Err(ProxyError::new(
            ErrorKind::NoRoute,
            "the matched route is not loaded",
        ));
    };
    seen.route = Some(found.route);
    let route_metrics = route.metrics(metrics);
    if let Ok(value) = HeaderValue::from_str(id) {
        parts.headers.insert(request_id::HEADER.clone(), value);
    }
    parts
        .headers
        .insert(trace::TRACEPARENT.clone(), trace.header_value());
    if client_upgrade.is_some() && route.upstream.protocol() == UpstreamProtocol::Http2 {
        return Err(ProxyError::new(
            ErrorKind::UpstreamUnavailable,
            format!(
                "upstream `{}` speaks HTTP/2, which cannot carry an HTTP/1.1 upgrade",
                route.upstream.name()
            ),
        ));
    }
    let upgrade_to = client_upgrade.as_ref().map(|u| &u.protocol);

    // Fast path: no plugin, nothing lent, the body streams through.
    if route.chain.is_empty() {
        let body = request_stream(incoming, route, &client_body);
        let upstream_request = Request::from_parts(parts, body);
        let response = forward_upstream(
            route,
            upstream_request,
            &client_body,
            conn,
            host.as_deref(),
            upgrade_to,
            seen,
        )
        .await?;
        return switch_protocols(finish(response), client_upgrade, route);
    }

    // Buffer the body only when a plugin on the route asked to see it; otherwise it streams.
    let (request_body, request_trailers, streaming_request_body) =
        if route.chain.needs_request_body() {
            let deadline = route.timeout;
            let body = body::from_client(body::streamed(incoming), client_body.clone());
            match body::buffer(body, body::MAX_BUFFERED_BODY, deadline).await {
                Ok((bytes, trailers)) => (Some(bytes), trailers, None),
                Err(BufferError::TooLarge(limit)) => {
                    return Err(ProxyError::new(
                        ErrorKind::RequestTooLarge,
                        format!("the request body is larger than {limit} bytes"),
                    ));
                }
                Err(BufferError::Read(e)) => return Err(retry::client_body_error(&e)),
                Err(BufferError::Timeout(limit)) => {
                    return Err(ProxyError::new(
                        ErrorKind::RequestTimeout,
                        format!("the request body did not arrive within {limit:?}"),
                    ));
                }
            }
        } else {
            (None, None, Some(incoming))
        };

    let context = client_context(&parts);
    let exchange = Box::new(Exchange {
        request: parts,
        request_body,
        route: route.id.clone(),
        params: found.params.into_owned_pairs(),
        client_ip: conn.peer.ip(),
        id: id.clone(),
        context,
        response: None,
        phase: Phase::Request,
        metrics: metrics.plugins().clone(),
        spans: seen.spans.take(),
    });
    let plugins_started = Instant::now();
    let (mut exchange, verdict, state) = route.chain.on_request(exchange, route_metrics).await;
    seen.plugin_duration = plugins_started.elapsed();

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
                (None, Some(incoming)) => request_stream(incoming, route, &client_body),
                (None, None) => body::empty(),
            };
            let mut upstream_request = Request::from_parts(parts, request_body);
            if exchange.request_body.is_some() {
                fix_content_length(
                    upstream_request.headers_mut(),
                    exchange.request_body.as_ref(),
                );
            }
            let answer = match forward_upstream(
                route,
                upstream_request,
                &client_body,
                conn,
                host.as_deref(),
                upgrade_to,
                seen,
            )
            .await
            {
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
            let (parts, bytes) = reply_parts(reply)?;
            exchange.response = Some(ResponseState {
                parts,
                body: Some(bytes),
                trailers: None,
            });
            (ran, None)
        }
        RequestVerdict::Fail { failure, ran } => {
            // No instance to be had is overload, not a broken plugin: 503, try again later.
            let kind = match failure.error {
                crate::plugin::CallError::Instantiate(_) => ErrorKind::PluginUnavailable,
                _ => ErrorKind::PluginFailed,
            };
            let error = ProxyError::new(kind, format!("plugin `{}` failed", failure.plugin));
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
    seen.plugin_duration += plugins_started.elapsed();
    seen.spans = exchange.spans.take();
    let response = respond_after_chain(exchange, result.err(), streaming)?;
    switch_protocols(response, client_upgrade, route)
}

/// Normalises the request's path by the listener's options (`router::path`), so that the
/// router, the plugins and the upstream all see the one spelling that was routed; a path whose
/// meaning depends on who reads it is refused with `400`. (An authority-form target, which has
/// no path, is left to find no route.)
fn normalize_path(uri: &mut http::Uri, options: &PathOptions) -> Result<(), ProxyError> {
    if uri.path().is_empty() {
        return Ok(());
    }
    let normal = match path::normalize(uri.path(), options) {
        Ok(std::borrow::Cow::Borrowed(_)) => return Ok(()),
        Ok(std::borrow::Cow::Owned(normal)) => normal,
        Err(e) => return Err(ProxyError::new(ErrorKind::BadRequest, e.to_string())),
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{normal}?{query}"),
        None => normal,
    };
    let mut uri_parts = std::mem::take(uri).into_parts();
    let rebuilt = path_and_query
        .parse()
        .ok()
        .and_then(|pq| {
            uri_parts.path_and_query = Some(pq);
            http::Uri::from_parts(uri_parts).ok()
        })
        .ok_or_else(|| {
            ProxyError::new(
                ErrorKind::BadRequest,
                "the normalised path is not a valid URI",
            )
        })?;
    *uri = rebuilt;
    Ok(())
}

/// A request body streamed to the upstream, under the route's `idle-timeout`, its failures
/// told to `watch`.
fn request_stream(
    incoming: Counted<Incoming>,
    route: &RouteRuntime,
    watch: &Arc<ClientBodyWatch>,
) -> ProxyBody {
    let body = match route.idle_timeout {
        Some(idle) => body::tracked(incoming, (), Some(idle)),
        None => body::streamed(incoming),
    };
    body::from_client(body, watch.clone())
}

/// When the client gets a `101 Switching Protocols`, joins its connection to the upstream's
/// (see `upgrade`). Any other answer to an upgrade request is an ordinary response.
fn switch_protocols(
    mut response: Response<ProxyBody>,
    client: Option<ClientUpgrade>,
    route: &RouteRuntime,
) -> Result<Response<ProxyBody>, ProxyError> {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response);
    }
    let upstream = response.extensions_mut().remove::<UpstreamUpgrade>();
    let (Some(client), Some(upstream)) = (client, upstream) else {
        return Err(ProxyError::new(
            ErrorKind::BadUpstreamResponse,
            format!(
                "upstream `{}` switched protocols unasked",
                route.upstream.name()
            ),
        ));
    };
    let protocol = upstream.protocol.clone().unwrap_or(client.protocol.clone());
    upgrade::restore_fields(response.headers_mut(), &protocol);
    upgrade::spawn_tunnel(client, upstream, route.idle_timeout);
    Ok(response)
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
    deadline: std::time::Duration,
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
        Err(e) => {
            let detail = match e {
                BufferError::TooLarge(limit) => {
                    format!("the upstream's response is larger than {limit} bytes")
                }
                BufferError::Read(e) => format!("the upstream's response could not be read: {e}"),
                BufferError::Timeout(limit) => {
                    return Err(ProxyError::new(
                        ErrorKind::UpstreamTimeout,
                        format!("the upstream's response body did not arrive within {limit:?}"),
                    ));
                }
            };
            Err(ProxyError::new(ErrorKind::BadUpstreamResponse, detail))
        }
    }
}

/// An error answer as a response plugins can see and edit.
fn error_state(error: &ProxyError, id: &str) -> ResponseState {
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
    failure: Option<crate::plugin::ChainFailure>,
    streaming: Option<ProxyBody>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if let Some(failure) = failure {
        return Err(ProxyError::new(
            ErrorKind::PluginFailed,
            format!("plugin `{}` failed", failure.plugin),
        ));
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
        // Carried to `handle`, which writes it in the access log and drops it.
        response.extensions_mut().insert(context);
    }
    Ok(response)
}

/// Sends `request` to the route's upstream and waits for the response headers: admitted by
/// the circuit breaker, then tried (and retried, see `retry`) within the route's `timeout`.
/// A failure while the client's body (watched by `client_body`) failed or stalled is the
/// client's.
/// The request stays counted (breaker, least-request) until the response body ends, or, for
/// an upgrade (`upgrade_to`), until the tunnel closes.
async fn forward_upstream(
    route: &RouteRuntime,
    mut request: Request<ProxyBody>,
    client_body: &ClientBodyWatch,
    conn: ConnInfo,
    host: Option<&str>,
    upgrade_to: Option<&HeaderValue>,
    seen: &mut Seen,
) -> Result<Response<ProxyBody>, ProxyError> {
    let upstream = &route.upstream;
    let Some(admitted) = upstream.enter() else {
        seen.breaker_rejected = true;
        return Err(ProxyError::new(
            ErrorKind::UpstreamOverloaded,
            format!("upstream `{}` is at its request limit", upstream.name()),
        ));
    };
    let version = request.version();
    let headers = request.headers_mut();
    forward::strip_hop_by_hop(headers);
    let scheme = if conn.tls {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    forward::set_forwarded(headers, conn.peer.ip(), &scheme, host);
    forward::append_via(headers, version);
    if let Some(protocol) = upgrade_to {
        upgrade::restore_fields(headers, protocol);
    }
    forward::set_upstream_host(headers, upstream.protocol(), host);
    *request.version_mut() = Version::HTTP_11;
    let key = upstream.hash_key(request.headers(), conn.peer.ip());

    let sent = Instant::now();
    seen.upstream_sent = Some(sent);
    let sending = retry::send(route, request, key, client_body);
    let tried = tokio::time::timeout(route.timeout, sending).await;
    seen.upstream_duration = Some(sent.elapsed());
    let answer = match tried {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => return Err(error),
        Err(_) => {
            if let Some(fault) = client_body.blame(true) {
                return Err(fault.into());
            }
            return Err(ProxyError::new(
                ErrorKind::UpstreamTimeout,
                format!(
                    "upstream `{}` did not answer within {:?}",
                    upstream.name(),
                    route.timeout
                ),
            ));
        }
    };
    let retry::Answer {
        mut response,
        on_target,
        target,
    } = answer;
    seen.upstream = upstream.tried(target);
    let held = (admitted, on_target);
    if upgrade_to.is_some() && response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let tunnel = UpstreamUpgrade::take(&mut response, held);
        response.extensions_mut().insert(tunnel);
        return Ok(response.map(|_| body::empty()));
    }
    Ok(response.map(|incoming| body::tracked(incoming, held, route.idle_timeout)))
}

/// Prepares a response for the client: hop-by-hop fields dropped, `Via` added.
fn finish(response: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    let version = parts.version;
    forward::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::TE);
    forward::append_via(&mut parts.headers, version);
    Response::from_parts(parts, body)
}

/// Turns a plugin's reply into response parts, refusing what is not valid HTTP.
fn reply_parts(reply: Reply) -> Result<(http::response::Parts, Bytes), ProxyError> {
    let bad = |what: String| ProxyError::new(ErrorKind::BadPluginReply, what);
    let status = StatusCode::from_u16(reply.status)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .ok_or_else(|| bad(format!("a plugin replied with status {}", reply.status)))?;
    let mut builder = Response::builder().status(status);
    for h in reply.headers {
        let name = header::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| bad(format!("a plugin replied with header name `{}`", h.name)))?;
        let value = HeaderValue::from_str(&h.value).map_err(|_| {
            bad(format!(
                "a plugin replied with an invalid value for `{name}`"
            ))
        })?;
        builder = builder.header(name, value);
    }
    let response = builder.body(()).map_err(|e| bad(e.to_string()))?;
    Ok((response.into_parts().0, Bytes::from(reply.body)))
}

fn fix_content_length(headers: &mut http::HeaderMap, body: Option<&Bytes>) {
    if let Some(body) = body {
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
}
