//! The admin API: a small JSON API on its own listener, bound to localhost unless the manifest
//! says otherwise (and then only with a token). It is served apart from the proxy so that an
//! overloaded data path never locks operators out.
//!
//! - `GET /status`: the snapshot in service (version, when it was loaded, each plugin's content
//!   hash) and the reload history (counts, the last outcome with its errors).
//! - `POST /reload`: reloads now; `200` with the new version, or `422` with the errors while
//!   the previous configuration keeps serving.
//! - `GET /metrics`: every metric in the Prometheus text format (`docs/observability.md`).
//! - `GET /routes`, `GET /upstreams`, `GET /plugins`: the routes with their chains, the
//!   upstream targets with their health, each configured plugin with its hash and counters.
//!
//! `docs/admin-openapi.yaml` describes every endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Admin;
use crate::metrics::exposition::Format;
use crate::reload::{Reloader, Trigger};

/// Binds the admin API's address and serves it until the task is aborted.
pub async fn start(
    spec: &Admin,
    reloader: Arc<Reloader>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let socket = TcpListener::bind(spec.address).await?;
    let address = socket.local_addr()?;
    let token: Option<Arc<str>> = spec.token.as_deref().map(Arc::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = socket.accept().await else {
                continue;
            };
            let reloader = reloader.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let reloader = reloader.clone();
                    let token = token.clone();
                    async move {
                        Ok::<_, Infallible>(answer(&reloader, token.as_deref(), request).await)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, task))
}

async fn answer(
    reloader: &Reloader,
    token: Option<&str>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Some(token) = token
        && !authorized(&request, token)
    {
        let mut response = reply(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "unauthorized", "detail": "send `Authorization: Bearer <token>`"}),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
        );
        return response;
    }
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/status") => reply(StatusCode::OK, &status(reloader)),
        (&Method::GET, "/metrics") => {
            let accept = request.headers().get(header::ACCEPT);
            let format = Format::negotiate(accept.and_then(|v| v.to_str().ok()));
            let current = reloader.current();
            let text = current.metrics().encode_as(format, &current.load());
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            response
        }
        (&Method::GET, "/routes") => reply(StatusCode::OK, &routes(reloader)),
        (&Method::GET, "/upstreams") => reply(StatusCode::OK, &upstreams(reloader)),
        (&Method::GET, "/plugins") => reply(StatusCode::OK, &plugins(reloader)),
        (&Method::POST, "/reload") => match reloader.reload(Trigger::Admin).await {
            Ok(version) => reply(
                StatusCode::OK,
                &json!({"status": "reloaded", "version": version}),
            ),
            Err(errors) => reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({
                    "status": "refused",
                    "version": reloader.current().load().version,
                    "errors": errors,
                }),
            ),
        },
        (_, "/status" | "/reload" | "/metrics" | "/routes" | "/upstreams" | "/plugins") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({
                "error": "method_not_allowed",
                "detail": "GET /status, POST /reload, GET /metrics, GET /routes, \
                           GET /upstreams, GET /plugins",
            }),
        ),
        (_, path) => reply(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "detail": format!("no admin endpoint `{path}`")}),
        ),
    }
}

/// Compares the bearer token in constant time (the token is a secret; its length is not).
fn authorized(request: &Request<Incoming>, token: &str) -> bool {
    let Some(given) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn status(reloader: &Reloader) -> serde_json::Value {
    let snapshot = reloader.current().load();
    let loaded_at = snapshot
        .loaded_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Global plugins sit in every route's chain: list each configured plugin once.
    let mut seen = std::collections::HashSet::new();
    let plugins: Vec<_> = snapshot
        .routes
        .iter()
        .flat_map(|route| route.chain.plugins())
        .filter(|plugin| seen.insert(Arc::as_ptr(plugin)))
        .map(|plugin| {
            json!({
                "route": plugin.route(),
                "name": plugin.name(),
                "hash": plugin.content_hash(),
            })
        })
        .collect();
    json!({
        "pid": std::process::id(),
        "manifest": reloader.path().display().to_string(),
        "version": snapshot.version,
        "loaded_at": loaded_at,
        "plugins": plugins,
        "reloads": reloader.history(),
    })
}

/// Every route in manifest order, with its upstream and its chain.
fn routes(reloader: &Reloader) -> serde_json::Value {
    let snapshot = reloader.current().load();
    let routes: Vec<_> = snapshot
        .routes
        .iter()
        .map(|route| {
            let chain: Vec<_> = route
                .chain
                .plugins()
                .iter()
                .map(|plugin| {
                    json!({
                        "name": plugin.name(),
                        "global": plugin.route() == "*",
                        "hash": plugin.content_hash(),
                    })
                })
                .collect();
            json!({
                "id": &*route.id,
                "upstream": route.upstream.name(),
                "timeout_ms": route.timeout.as_millis() as u64,
                "try_timeout_ms": route.try_timeout.as_millis() as u64,
                "retries": route.retry.as_ref().map_or(0, |r| r.attempts),
                "chain": chain,
            })
        })
        .collect();
    json!({ "version": snapshot.version, "routes": routes })
}

/// Every upstream with its targets and their health now.
fn upstreams(reloader: &Reloader) -> serde_json::Value {
    let snapshot = reloader.current().load();
    let upstreams: Vec<_> = snapshot
        .upstreams
        .iter()
        .map(|upstream| {
            let targets: Vec<_> = upstream
                .targets()
                .iter()
                .zip(upstream.health_now())
                .map(|(target, healthy)| json!({"address": target.as_str(), "healthy": healthy}))
                .collect();
            json!({
                "name": upstream.name(),
                "scheme": upstream.scheme().as_str(),
                "active_requests": upstream.active(),
                "targets": targets,
            })
        })
        .collect();
    json!({ "version": snapshot.version, "upstreams": upstreams })
}

/// Each configured plugin once, with its content hash and what it has cost so far in this
/// snapshot (counters start at zero when a reload configures the plugin anew).
fn plugins(reloader: &Reloader) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    let snapshot = reloader.current().load();
    let mut seen = std::collections::HashSet::new();
    let plugins: Vec<_> = snapshot
        .routes
        .iter()
        .flat_map(|route| route.chain.plugins())
        .filter(|plugin| seen.insert(Arc::as_ptr(plugin)))
        .map(|plugin| {
            let stats = &plugin.stats;
            let calls = stats.calls.load(Relaxed);
            let (idle, idle_bytes) = plugin.idle_instances();
            let nanos = stats.call_nanos.load(Relaxed);
            json!({
                "name": plugin.name(),
                "route": plugin.route(),
                "hash": plugin.content_hash(),
                "calls": calls,
                "failures": stats.failures.load(Relaxed),
                "fail_open_skips": stats.skipped.load(Relaxed),
                "instantiations": stats.instantiations.load(Relaxed),
                "idle_instances": idle,
                "idle_memory_bytes": idle_bytes,
                "oversized_drops": stats.oversized_drops.load(Relaxed),
                "call_time_us": nanos / 1_000,
                "mean_call_us": if calls == 0 { 0.0 } else { nanos as f64 / calls as f64 / 1_000.0 },
            })
        })
        .collect();
    let memory = &snapshot.plugin_memory;
    json!({
        "version": snapshot.version,
        "memory": { "used_bytes": memory.used(), "budget_bytes": memory.limit() },
        "plugins": plugins,
    })
}

fn reply(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
