//! Tries and retries of one request on an upstream: each try picks a target (another one than
//! those tried, where possible, and never one that refused a connection), waits at most
//! `try-timeout`, and reports its outcome to passive health, unless the failure was the
//! client's (its request body broke, stopped or stalled: see `body::ClientBodyWatch`), which is
//! answered as the client's and never retried. A failed try is retried when the route's `retry`
//! allows it, the method is idempotent (or `non-idempotent = true`) and the body can be sent
//! again. A connection failure reached no server, so its retry goes to another target at once,
//! outside the retry budget; any other retry waits a backoff with full jitter, then needs room
//! in the upstream's retry budget, which it holds only while its try is in flight.
//!
//! A body can be sent again when it is empty, was buffered for a plugin, or declares a
//! `content-length` of at most [`MAX_REPLAY_BODY`] (then it is read into memory first); any
//! other body is streamed once and never retried.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rand::Rng;

use super::error::{ErrorKind, ProxyError};
use crate::config::RetryPolicy;
use crate::message::body::{self, ClientBodyError, ClientBodyWatch, ProxyBody};
use crate::message::forward;
use crate::snapshot::RouteRuntime;
use crate::upstream::breaker::InFlight;
use crate::upstream::{NoTarget, Upstream};

/// The largest request body buffered so that it can be retried.
pub const MAX_REPLAY_BODY: u64 = 64 << 10;

/// An upstream's answer, with the count of the request on its target (for least-request),
/// which the caller keeps until the response body ends.
pub struct Answer {
    pub response: Response<Incoming>,
    pub on_target: Option<InFlight>,
    /// The index of the target that answered.
    pub target: usize,
}

/// How one try ended.
enum Outcome {
    Response(Answer),
    ConnectFailed,
    Reset,
    TimedOut,
    /// The client's body failed or stalled: the client's doing, not the upstream's.
    ClientFailed(ClientBodyError),
}

/// The targets a request has tried, and those that refused its connection (one bit per
/// index; targets beyond 64 are not tracked).
#[derive(Clone, Copy, Default)]
struct Tried {
    any: u64,
    refused: u64,
}

impl Tried {
    fn add(&mut self, target: usize, outcome: &Outcome) {
        if target >= 64 {
            return;
        }
        let bit = 1u64 << target;
        self.any |= bit;
        if matches!(outcome, Outcome::ConnectFailed) {
            self.refused |= bit;
        }
    }
}

/// Sends the request, retrying as the route allows. `client` watches the client's request
/// body, so that its failures are not blamed on the upstream.
pub async fn send(
    route: &RouteRuntime,
    request: Request<ProxyBody>,
    key: Option<u64>,
    client: &ClientBodyWatch,
) -> Result<Answer, ProxyError> {
    let upstream = &route.upstream;
    let policy = route
        .retry
        .as_ref()
        .filter(|p| p.non_idempotent || idempotent(request.method()));
    let (parts, body) = request.into_parts();
    let Some(policy) = policy else {
        let target = pick(upstream, key, Tried::default())?;
        return finish(
            upstream,
            try_once(route, parts, body, target, client).await,
            route,
        );
    };
    let replay = match replayable(body).await? {
        Ok(bytes) => bytes,
        Err(body) => {
            let target = pick(upstream, key, Tried::default())?;
            return finish(
                upstream,
                try_once(route, parts, body, target, client).await,
                route,
            );
        }
    };
    let mut tried = Tried::default();
    let mut retries = 0u32;
    let mut target = pick(upstream, key, tried)?;
    let mut permit: Option<InFlight> = None;
    loop {
        let body = body::full(replay.data.clone(), replay.trailers.clone());
        let outcome = try_once(route, parts.clone(), body, target, client).await;
        // A retry holds its share of the budget only while its try is in flight.
        drop(permit.take());
        tried.add(target, &outcome);
        if retries >= policy.attempts || !should_retry(policy, &outcome) {
            return finish(upstream, outcome, route);
        }
        // Every target refused, or none is healthy: the last failure is the answer.
        let Ok(next) = pick(upstream, key, tried) else {
            return finish(upstream, outcome, route);
        };
        // A refused connection reached no server, so its retry adds no load to the upstream:
        // it goes at once, outside the budget. Any other retry waits, then needs the budget.
        if !matches!(outcome, Outcome::ConnectFailed) {
            tokio::time::sleep(backoff(policy, retries + 1)).await;
            let Some(granted) = upstream.try_retry() else {
                tracing::warn!(
                    upstream = upstream.name(),
                    "retry budget spent; not retrying"
                );
                return finish(upstream, outcome, route);
            };
            permit = Some(granted);
        }
        drop(outcome);
        retries += 1;
        if let Some(metrics) = route.resolved_metrics() {
            metrics.retried();
        }
        target = next;
    }
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A request body held in memory so that it can be sent again, trailers included.
#[derive(Clone)]
struct Replay {
    data: Bytes,
    trailers: Option<http::HeaderMap>,
}

/// The body in memory when it can be sent again, else the body itself.
async fn replayable(body: ProxyBody) -> Result<Result<Replay, ProxyBody>, ProxyError> {
    if body.is_end_stream() {
        return Ok(Ok(Replay {
            data: Bytes::new(),
            trailers: None,
        }));
    }
    match body.size_hint().exact() {
        Some(n) if n <= MAX_REPLAY_BODY => match body.collect().await {
            Ok(collected) => Ok(Ok(Replay {
                trailers: collected.trailers().cloned(),
                data: collected.to_bytes(),
            })),
            Err(e) => Err(client_body_error(&e)),
        },
        _ => Ok(Err(body)),
    }
}

/// The client's failure that `error`, from reading the client's body, stands for.
pub(super) fn client_body_error(error: &body::BoxError) -> ProxyError {
    match error.downcast_ref::<ClientBodyError>() {
        Some(fault) => (*fault).into(),
        None => ProxyError::new(
            ErrorKind::BadRequestBody,
            format!("the request body could not be read: {error}"),
        ),
    }
}

fn should_retry(policy: &RetryPolicy, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Response(a) => policy.statuses.contains(&a.response.status().as_u16()),
        Outcome::ConnectFailed => policy.on_connect_failure,
        Outcome::Reset => policy.on_reset,
        Outcome::TimedOut => policy.on_timeout,
        Outcome::ClientFailed(_) => false,
    }
}

/// Full jitter: a random time up to `backoff × 2^(retry-1)`, capped at `max-backoff`.
fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .backoff
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(policy.max_backoff);
    let ceiling = ceiling.as_micros() as u64;
    Duration::from_micros(rand::rng().random_range(0..=ceiling))
}

fn pick(upstream: &Upstream, key: Option<u64>, tried: Tried) -> Result<usize, ProxyError> {
    upstream
        .pick(key, tried.any, tried.refused)
        .map_err(|e| match e {
            NoTarget::Empty => ProxyError::new(
                ErrorKind::UpstreamUnavailable,
                format!("upstream `{}` has no target", upstream.name()),
            ),
            NoTarget::NoneHealthy => ProxyError::new(
                ErrorKind::NoHealthyUpstream,
                format!("upstream `{}` has no healthy target", upstream.name()),
            ),
        })
}

/// One try on target `index`, within the route's `try-timeout`, recorded for passive health
/// unless the client's body (watched by `client`) is to blame.
async fn try_once(
    route: &RouteRuntime,
    parts: http::request::Parts,
    body: ProxyBody,
    index: usize,
    client: &ClientBodyWatch,
) -> Outcome {
    let upstream = &route.upstream;
    let Some(target) = upstream.target(index) else {
        return Outcome::ConnectFailed;
    };
    let mut request = Request::from_parts(parts, body);
    match forward::upstream_uri(upstream.scheme(), target, request.uri().path_and_query()) {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return Outcome::ConnectFailed,
    }
    let on_target = upstream.begin(index);
    let outcome =
        match tokio::time::timeout(route.try_timeout, upstream.client().request(request)).await {
            Ok(Ok(response)) => Outcome::Response(Answer {
                response,
                on_target,
                target: index,
            }),
            Ok(Err(e)) => match client.blame(false) {
                Some(fault) => Outcome::ClientFailed(fault),
                None => {
                    tracing::warn!(
                        upstream = upstream.name(),
                        target = %target,
                        error = %crate::message::error_text::chain(&e),
                        "upstream request failed"
                    );
                    if e.is_connect() {
                        Outcome::ConnectFailed
                    } else {
                        Outcome::Reset
                    }
                }
            },
            Err(_) => match client.blame(true) {
                Some(fault) => Outcome::ClientFailed(fault),
                None => Outcome::TimedOut,
            },
        };
    let failed = match &outcome {
        Outcome::Response(a) => a.response.status().is_server_error(),
        Outcome::ClientFailed(fault) => {
            tracing::info!(
                upstream = upstream.name(),
                target = %target,
                client_error = %fault,
                "the request failed on the client's side; the target is not blamed"
            );
            return outcome;
        }
        // The upstream broke off while the client was still sending: whose doing is unknown.
        Outcome::Reset if client.waiting() => return outcome,
        _ => true,
    };
    upstream.record(index, failed);
    outcome
}

/// The client's answer for the last try.
fn finish(
    upstream: &Upstream,
    outcome: Outcome,
    route: &RouteRuntime,
) -> Result<Answer, ProxyError> {
    let name = upstream.name();
    match outcome {
        Outcome::Response(answer) => Ok(answer),
        Outcome::ConnectFailed => Err(ProxyError::new(
            ErrorKind::UpstreamUnavailable,
            format!("upstream `{name}` refused the connection"),
        )),
        Outcome::Reset => Err(ProxyError::new(
            ErrorKind::UpstreamUnavailable,
            format!("upstream `{name}` closed the connection"),
        )),
        Outcome::ClientFailed(fault) => Err(fault.into()),
        Outcome::TimedOut => Err(ProxyError::new(
            ErrorKind::UpstreamTimeout,
            format!(
                "upstream `{name}` did not answer within {:?}",
                route.try_timeout
            ),
        )),
    }
}
