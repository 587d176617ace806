//! One request's walk through the data plane: normalised and routed, then either streamed
//! straight to the upstream (a route without plugins) or taken through its plugins
//! (`plugins`), the upstream called (`call`), and the answer prepared for the client. The
//! request's `record` writes the metrics, spans and access line when the response body ends.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;

use super::call::Call;
use super::error::{ErrorKind, ProxyError};
use super::forward::{ConnInfo, Forward, finish};
use super::plugins;
use super::record::Record;
use super::upgrade;
use crate::config::UpstreamProtocol;
use crate::message::body::{BoxError, ClientBodyWatch, Counted, ProxyBody};
use crate::message::{forward, request_id};
use crate::observe::metrics::Metrics;
use crate::observe::trace;
use crate::router::path::{self, PathOptions};
use crate::snapshot::{Current, Snapshot};

/// Handles one request against the snapshot in service. Its body is any stream of bytes:
/// hyper's `Incoming` from a listener, bytes in memory in a test.
///
/// Not an `async fn`: the preparation runs when called, and the future returned is `serve`'s
/// own, not one more layer around it (each layer is a move of kilobytes per request).
pub fn handle<B>(
    current: &Current,
    request: Request<B>,
    conn: ConnInfo,
) -> impl Future<Output = Response<ProxyBody>> + Send + '_
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    // Only this is generic: the rest of the walk knows one body type, counted as it passes.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let request = request.map(|body| Counted::new(body, counter).map_err(Into::into).boxed());
    serve(current, request, conn, started, received)
}

async fn serve(
    current: &Current,
    request: Request<ProxyBody>,
    conn: ConnInfo,
    started: Instant,
    received: Arc<AtomicU64>,
) -> Response<ProxyBody> {
    let metrics = current.metrics();
    let _active = metrics.enter();
    let snapshot = current.load();
    let mut record = Record::begin(
        started,
        snapshot.tracer.as_ref(),
        &request,
        conn.peer.ip(),
        received,
    );
    let response = match walk(&snapshot, metrics, request, conn, &mut record).await {
        Ok(response) => response,
        Err(error) => {
            error.log(&record.id);
            error.to_response(&record.id)
        }
    };
    record.finish(response, &snapshot, current)
}

async fn walk(
    snapshot: &Snapshot,
    metrics: &Metrics,
    request: Request<ProxyBody>,
    conn: ConnInfo,
    record: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, body) = request.into_parts();
    forward::normalize_host(&mut parts)
        .map_err(|why| ProxyError::new(ErrorKind::BadRequest, why))?;
    normalize_path(&mut parts.uri, &conn.path)?;
    let client_upgrade = upgrade::from_request(&mut parts);
    // The client's hop-by-hop fields go before plugins see the request, so a `Connection`
    // header cannot name (and so delete) a field a plugin adds.
    forward::strip_hop_by_hop(&mut parts.headers);
    let host = forward::requested_host(&parts.uri, &parts.headers);
    let no_route = || format!("no route matches {} {}", parts.method, parts.uri.path());
    let found = snapshot
        .router
        .find(
            host.as_deref(),
            parts.uri.path(),
            &parts.method,
            &parts.headers,
        )
        .ok_or_else(|| ProxyError::new(ErrorKind::NoRoute, no_route()))?;
    let Some(route) = snapshot.routes.get(found.route) else {
        return Err(ProxyError::new(ErrorKind::NoRoute, no_route())
            .detail(format!("route {} is matched but not loaded", found.route)));
    };
    record.route = Some(found.route);
    let route_metrics = route.metrics(metrics);
    let id = record.id.clone();
    if let Ok(value) = HeaderValue::from_str(&id) {
        parts.headers.insert(request_id::HEADER.clone(), value);
    }
    parts
        .headers
        .insert(trace::TRACEPARENT.clone(), record.trace.header_value());
    if client_upgrade.is_some() && route.upstream.protocol() == UpstreamProtocol::Http2 {
        return Err(ProxyError::new(
            ErrorKind::UpstreamUnavailable,
            "this route cannot switch protocols",
        )
        .detail(format!(
            "upstream `{}` speaks HTTP/2, which cannot carry an HTTP/1.1 upgrade",
            route.upstream.name()
        )));
    }
    // Failures of the client's body are the client's: this tells them from the upstream's.
    let client_body = Arc::new(ClientBodyWatch::default());
    let forward = Forward {
        route,
        call: Call::new(
            route,
            metrics,
            route_metrics,
            &id,
            conn.peer.ip(),
            &client_body,
        ),
        conn,
        host: host.as_deref(),
        upgrade_to: client_upgrade.as_ref().map(|u| &u.protocol),
    };

    let response = if route.chain.is_empty() {
        // Fast path: no plugin, nothing lent, the body streams through.
        let body = forward.request_stream(body);
        let response = forward
            .send(Request::from_parts(parts, body), record)
            .await?;
        finish(response)
    } else {
        let params = found.params.into_owned_pairs();
        // Boxed: the chain's future is kilobytes, and held inline it would grow (and make
        // every move of) the future of every request, those of routes without plugins too.
        Box::pin(plugins::run(
            &forward,
            metrics,
            route_metrics,
            parts,
            body,
            params,
            record,
        ))
        .await?
    };
    upgrade::switch_protocols(response, client_upgrade, route)
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
