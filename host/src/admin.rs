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
//!   upstream targets with their health, each plugin entry with what each of its versions
//!   costs and its canary, breaker and shadow (`plugins`).
//! - `POST /plugins/<route>/<name>/canary/<promote|abort|reset>` and
//!   `POST /plugins/<route>/<name>/breaker/reset`: an operator's decisions on a roll-out.
//! - `GET /manifest`, `GET /stats`: the manifest text in service; each route's requests by
//!   status class and latency buckets (`inventory`).
//! - `GET /`: the dashboard, a page reading the endpoints above (`dashboard`).
//!
//! Without a token (loopback only), a request must name the admin API in `Host` (no DNS
//! rebinding), and a state-changing request from a web page of another origin is refused
//! (no CSRF). Connections are closed when slow to ask or idle (`ADMIN_LIMITS`).
//!
//! `docs/admin-openapi.yaml` describes every endpoint.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Admin, ConnectionLimits};
use crate::listener::watchdog::{self, Activity, InFlightBody, Watched};
use crate::listener::{AcceptBackoff, builder};
use crate::observe::metrics::exposition::Format;
use crate::reload::{Reloader, Trigger};

/// The admin listener's timeouts: operators' tools ask at once and rarely keep connections.
const ADMIN_LIMITS: ConnectionLimits = ConnectionLimits {
    max_connections: None,
    header_timeout: Duration::from_secs(10),
    keepalive_timeout: Duration::from_secs(60),
    http2_ping_interval: Duration::from_secs(60),
};

static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Who may use the admin API: the token, and without one the names it may be reached by.
struct Access {
    token: Option<Arc<str>>,
    /// The bound address: its IP is one of the names a `Host` may give.
    address: SocketAddr,
    /// `[admin] hosts`, lowercase.
    hosts: Vec<String>,
}

/// Binds the admin API's address and serves it until the task is aborted (then its open
/// connections finish their requests and close).
pub async fn start(
    spec: &Admin,
    reloader: Arc<Reloader>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let socket = TcpListener::bind(spec.address).await?;
    let address = socket.local_addr()?;
    let access = Arc::new(Access {
        token: spec.token.as_deref().map(Arc::from),
        address,
        hosts: spec.hosts.clone(),
    });
    let task = tokio::spawn(async move {
        // Dropped with this task: the connections then drain.
        let (_drain, draining) = watch::channel(false);
        let mut backoff = AcceptBackoff::default();
        loop {
            let stream = match socket.accept().await {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    stream
                }
                Err(error) => {
                    if let Some(pause) = backoff.failed(&error) {
                        tracing::warn!(%error, "admin API: accept failed");
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            };
            let connection = serve(stream, reloader.clone(), access.clone(), draining.clone());
            tokio::spawn(connection);
        }
    });
    Ok((address, task))
}

/// Serves one admin connection under [`ADMIN_LIMITS`].
async fn serve(
    stream: TcpStream,
    reloader: Arc<Reloader>,
    access: Arc<Access>,
    draining: watch::Receiver<bool>,
) {
    let activity = Activity::new(Instant::now());
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let counted = activity.clone();
    let service = service_fn(move |request| {
        let reloader = reloader.clone();
        let access = access.clone();
        let in_flight = counted.request();
        async move {
            let response = answer(&reloader, &access, request).await;
            Ok::<_, Infallible>(response.map(|body| InFlightBody::new(body, in_flight)))
        }
    });
    let builder = builder(&ADMIN_LIMITS);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let _ = watchdog::run(
        conn.as_mut(),
        |conn| conn.graceful_shutdown(),
        &activity,
        &ADMIN_LIMITS,
        draining,
        |_| {},
    )
    .await;
}

async fn answer(
    reloader: &Reloader,
    access: &Access,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if request.method() == Method::GET && dashboard::is_page(path) {
        // The page's files hold no data: the token guards what the page then reads.
        return match access.foreign_host(&request) {
            Some(refusal) => refusal,
            None => dashboard::serve(path),
        };
    }
    if let Some(refusal) = access.refuse(&request) {
        return refusal;
    }
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/status") => reply(StatusCode::OK, &status(reloader)),
        (&Method::GET, "/metrics") => {
            let accept = request.headers().get(header::ACCEPT);
            let format = Format::negotiate(accept.and_then(|v| v.to_str().ok()));
            let current = reloader.current();
            let text = current
                .metrics()
                .encode_as(format, current.load().readings());
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            response
        }
        (&Method::GET, "/routes") => reply(StatusCode::OK, &inventory::routes(reloader)),
        (&Method::GET, "/upstreams") => reply(StatusCode::OK, &inventory::upstreams(reloader)),
        (&Method::GET, "/manifest") => reply(StatusCode::OK, &inventory::manifest(reloader)),
        (&Method::GET, "/stats") => reply(StatusCode::OK, &inventory::stats(reloader)),
        (&Method::GET, "/plugins") => reply(StatusCode::OK, &plugins::list(reloader)),
        (&Method::POST, path) if path.starts_with("/plugins/") => {
            let (status, body) = plugins::act(reloader, path);
            reply(status, &body)
        }
        (&Method::POST, "/reload") => match reloader.reload(Trigger::Admin).await {
            Ok(version) => reply(
                StatusCode::OK,
                &json!({"status": "reloaded", "version": version}),
            ),
            Err(refused) => reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({
                    "status": "refused",
                    "version": reloader.current().load().version,
                    "errors": refused.errors(),
                }),
            ),
        },
        (
            _,
            "/status" | "/reload" | "/metrics" | "/routes" | "/upstreams" | "/plugins"
            | "/manifest" | "/stats",
        ) => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({
                "error": "method_not_allowed",
                "detail": "GET /status, POST /reload, GET /metrics, GET /routes, \
                           GET /upstreams, GET /plugins, GET /manifest, GET /stats, \
                           POST /plugins/<route>/<name>/canary/<promote|abort|reset>, \
                           POST /plugins/<route>/<name>/breaker/reset",
            }),
        ),
        (_, path) => reply(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "detail": format!("no admin endpoint `{path}`")}),
        ),
    }
}

impl Access {
    /// The answer to a request that may not reach an endpoint: without a token, a `Host` that
    /// is not the admin API's (DNS rebinding); a token missing or wrong; a state-changing
    /// request from a browser page of another origin (CSRF).
    fn refuse<B>(&self, request: &Request<B>) -> Option<Response<Full<Bytes>>> {
        if let Some(refusal) = self.foreign_host(request) {
            return Some(refusal);
        }
        let host = request_host(request);
        if let Some(token) = &self.token
            && !authorized(request, token)
        {
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "unauthorized", "detail": "send `Authorization: Bearer <token>`"}),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
            );
            return Some(response);
        }
        cross_origin(request, host).map(|why| {
            forbidden(&format!(
                "cross-origin requests may not change the gateway ({why}); \
                 call the admin API from a tool such as curl, not from a web page"
            ))
        })
    }

    /// Without a token, the answer to a request whose `Host` does not name the admin API (DNS
    /// rebinding); with one, the token decides and this is `None`.
    fn foreign_host<B>(&self, request: &Request<B>) -> Option<Response<Full<Bytes>>> {
        let host = request_host(request)?;
        if self.token.is_some() || self.is_own_host(host) {
            return None;
        }
        let detail = format!(
            "the admin API is not served as `{host}`: use localhost or its address, \
             or list the name in `[admin] hosts`"
        );
        Some(forbidden(&detail))
    }

    /// Whether `host` (a `Host` value, port optional) names this admin API: `localhost`, a
    /// loopback address, its own address, or a name in `[admin] hosts`.
    fn is_own_host(&self, host: &str) -> bool {
        let Some(name) = host_without_port(host) else {
            return false;
        };
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback() || ip == self.address.ip();
        }
        self.hosts.contains(&name)
    }
}

/// The authority the request was sent to: `:authority` (HTTP/2) or `Host`.
fn request_host<B>(request: &Request<B>) -> Option<&str> {
    match request.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => request.headers().get(header::HOST)?.to_str().ok(),
    }
}

/// The host of a `Host` value, lowercase, without port, brackets or trailing dot.
fn host_without_port(host: &str) -> Option<String> {
    let authority: http::uri::Authority = host.parse().ok()?;
    let name = authority.host();
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    Some(name.to_ascii_lowercase())
}

/// Why a state-changing request comes from another origin, if it does: a browser says so in
/// `Sec-Fetch-Site`, or sends an `Origin` other than the admin API's own. Safe methods pass
/// (a page of another origin cannot read their answers).
fn cross_origin<B>(request: &Request<B>, host: Option<&str>) -> Option<String> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let headers = request.headers();
    if let Some(site) = headers.get(&SEC_FETCH_SITE) {
        let site = String::from_utf8_lossy(site.as_bytes()).to_ascii_lowercase();
        if site != "same-origin" && site != "none" {
            return Some(format!("Sec-Fetch-Site: {site}"));
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes());
    let own = host.map(|h| format!("http://{h}"));
    match own {
        Some(own) if origin.eq_ignore_ascii_case(&own) => None,
        _ => Some(format!("Origin: {origin}")),
    }
}

fn forbidden(detail: &str) -> Response<Full<Bytes>> {
    reply(
        StatusCode::FORBIDDEN,
        &json!({"error": "forbidden", "detail": detail}),
    )
}

/// Compares the bearer token in constant time (the token is a secret; its length is not).
fn authorized<B>(request: &Request<B>, token: &str) -> bool {
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
    let started = reloader.started();
    let uptime = SystemTime::now()
        .duration_since(started)
        .map_or(0, |d| d.as_secs());
    json!({
        "pid": std::process::id(),
        "gateway": env!("CARGO_PKG_VERSION"),
        "manifest": reloader.path().display().to_string(),
        "source": reloader.source_status(),
        "version": snapshot.version,
        "loaded_at": loaded_at,
        "started_at": unix_millis(started) / 1000,
        "uptime_s": uptime,
        "plugins": plugins,
        "state": {
            "backend": snapshot.state.label(),
            "available": snapshot.state.available(),
        },
        "reloads": reloader.history(),
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

/// Milliseconds since the Unix epoch (0 before it).
fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

mod dashboard;
mod inventory;
mod plugins;
#[cfg(test)]
mod tests;
