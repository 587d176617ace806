//! Retries of an upstream call: a failed try is tried again when the route's `retry` allows
//! it, the method is idempotent (or `non-idempotent = true`) and the body can be sent again. A
//! connection failure reached no server, so its retry goes to another target at once, outside
//! the retry budget; any other retry waits a backoff with full jitter, then needs room in the
//! upstream's retry budget, which it holds only while its try is in flight.
//!
//! A body can be sent again when it is empty, was buffered for a plugin, or declares a
//! `content-length` of at most [`MAX_REPLAY_BODY`] (then it is read into memory first); any
//! other body is streamed once and never retried.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body::Body as _;
use http_body_util::BodyExt;
use rand::Rng;

use super::{Answer, Call, Deadline, Outcome, client_body_error};
use crate::config::RetryPolicy;
use crate::message::body::{self, ProxyBody};
use crate::proxy::error::ProxyError;
use crate::upstream::breaker::InFlight;

/// The largest request body buffered so that it can be retried.
pub const MAX_REPLAY_BODY: u64 = 64 << 10;

impl Call<'_> {
    /// Tries the request, and retries it as the route allows, until `deadline` (the route's
    /// `timeout`), which bounds every try, the reading of a body to replay, and every backoff.
    pub(super) async fn tries(
        &self,
        request: Request<ProxyBody>,
        key: Option<u64>,
        deadline: Deadline,
    ) -> Result<Answer, ProxyError> {
        let policy = self
            .retry
            .filter(|p| p.non_idempotent || idempotent(request.method()));
        let (parts, body) = request.into_parts();
        let Some(policy) = policy else {
            let target = self.pick(key, Tried::default())?;
            return self.answer(self.try_once(parts, body, target, deadline).await);
        };
        // The retry path, with its replayed body, backoff timers and loop, is boxed: held inline
        // it would make every request's future (and every move of it) kilobytes larger, for
        // routes without retries too.
        Box::pin(self.retrying(parts, body, key, deadline, policy)).await
    }

    /// [`Call::tries`] for a request the route may retry: its body is buffered to be replayed
    /// (up to [`MAX_REPLAY_BODY`]), then tried until an answer may be kept, the attempts are
    /// spent, or `deadline` passes.
    async fn retrying(
        &self,
        parts: http::request::Parts,
        body: ProxyBody,
        key: Option<u64>,
        deadline: Deadline,
        policy: &RetryPolicy,
    ) -> Result<Answer, ProxyError> {
        let upstream = self.upstream;
        let replay = match tokio::time::timeout_at(deadline, replayable(body)).await {
            Ok(replay) => replay?,
            Err(_) => return Err(self.expired()),
        };
        let replay = match replay {
            Ok(bytes) => bytes,
            Err(body) => {
                let target = self.pick(key, Tried::default())?;
                return self.answer(self.try_once(parts, body, target, deadline).await);
            }
        };
        let mut tried = Tried::default();
        let mut retries = 0u32;
        let mut target = self.pick(key, tried)?;
        let mut permit: Option<InFlight> = None;
        loop {
            let body = body::full(replay.data.clone(), replay.trailers.clone());
            let outcome = self.try_once(parts.clone(), body, target, deadline).await;
            // A retry holds its share of the budget only while its try is in flight.
            drop(permit.take());
            tried.add(target, &outcome);
            if retries >= policy.attempts || !should_retry(policy, &outcome) {
                return self.answer(outcome);
            }
            // Every target refused, or none is healthy: the last failure is the answer.
            let Ok(next) = self.pick(key, tried) else {
                return self.answer(outcome);
            };
            // A refused connection reached no server, so its retry adds no load to the
            // upstream: it goes at once, outside the budget. Any other retry waits, then needs
            // the budget.
            if !matches!(outcome, Outcome::ConnectFailed(_)) {
                let wake = Deadline::now() + backoff(policy, retries + 1);
                if wake >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    return Err(self.expired());
                }
                tokio::time::sleep_until(wake).await;
                let Some(granted) = upstream.try_retry() else {
                    tracing::warn!(
                        upstream = upstream.name(),
                        request_id = self.request_id,
                        "retry budget spent; not retrying"
                    );
                    return self.answer(outcome);
                };
                permit = Some(granted);
            }
            drop(outcome);
            retries += 1;
            self.route_metrics.retried();
            target = next;
        }
    }
}

/// The targets a request has tried, and those that refused its connection (one bit per
/// index; targets beyond 64 are not tracked).
#[derive(Clone, Copy, Default)]
pub(super) struct Tried {
    pub(super) any: u64,
    pub(super) refused: u64,
}

impl Tried {
    fn add(&mut self, target: usize, outcome: &Outcome) {
        if target >= 64 {
            return;
        }
        let bit = 1u64 << target;
        self.any |= bit;
        if matches!(outcome, Outcome::ConnectFailed(_)) {
            self.refused |= bit;
        }
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
            Err(e) => Err(client_body_error(e)),
        },
        _ => Ok(Err(body)),
    }
}

fn should_retry(policy: &RetryPolicy, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Response(a) => policy.statuses.contains(&a.response.status().as_u16()),
        Outcome::ConnectFailed(_) => policy.on_connect_failure,
        Outcome::Reset(_) => policy.on_reset,
        Outcome::TimedOut => policy.on_timeout,
        Outcome::ClientFailed(_) | Outcome::Expired => false,
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
