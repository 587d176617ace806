//! One request's call to its route's upstream, to the response headers: admitted by the
//! upstream's circuit breaker, then tried, and retried, within the route's `timeout`.
//!
//! Each try picks a target (another one than those tried, where possible, and never one that
//! refused a connection), waits at most `try-timeout`, and reports its outcome to passive
//! health, unless the failure was the client's (its request body broke, stopped or stalled: see
//! `body::ClientBodyWatch`), which is answered as the client's and never retried. When a failed
//! try is tried again is `retry`'s concern.
//!
//! The request stays counted (breaker, least-request) until the response body ends, or, for an
//! upgrade, until the tunnel closes.
//!
//! One timer at a time: the route's `timeout` is a deadline fixed when the call starts, and each
//! try (and each wait between tries) sleeps only until the nearer of its own limit and that
//! deadline, then tells which of the two passed (see [`Limit`]). Two nested timers per try
//! cost a timer-wheel entry and a clock read each on every request, for one of them to fire.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as Deadline;

use http::{Request, Response, StatusCode};

use self::retry::Tried;
use super::error::{ErrorKind, ProxyError};
use super::record::Record;
use super::upgrade::UpstreamUpgrade;
use crate::config::RetryPolicy;
use crate::message::body::{self, ClientBodyError, ClientBodyWatch, ProxyBody};
use crate::message::{error_text, forward};
use crate::observe::metrics::{Metrics, RouteMetrics};
use crate::snapshot::RouteRuntime;
use crate::upstream::breaker::InFlight;
use crate::upstream::{NoTarget, Upstream, UpstreamBody};

mod retry;
pub use retry::MAX_REPLAY_BODY;

/// What one request's call to its upstream needs: the route's rules for it, where it is counted,
/// and who it is for.
pub(super) struct Call<'a> {
    /// The route's upstream.
    pub upstream: &'a Upstream,
    /// The route's `timeout`: every try, to the response headers.
    pub timeout: Duration,
    /// The route's `try-timeout`: one try, to the response headers.
    pub try_timeout: Duration,
    /// The route's `retry`, if it has one.
    pub retry: Option<&'a RetryPolicy>,
    /// The route's `idle-timeout`: the longest pause in the response body.
    pub idle_timeout: Option<Duration>,
    /// Where the breaker's refusals are counted.
    pub metrics: &'a Metrics,
    /// Where the route's retries are counted.
    pub route_metrics: &'a RouteMetrics,
    /// The request's id, in the log lines of failed tries.
    pub request_id: &'a str,
    /// The client's address (the key of `hash-on = "client-ip"`).
    pub client: IpAddr,
    /// The client's request body: a failure while it fails or stalls is the client's.
    pub client_body: &'a Arc<ClientBodyWatch>,
}

impl<'a> Call<'a> {
    /// The call to `route`'s upstream for the request `request_id` from `client`.
    pub(super) fn new(
        route: &'a RouteRuntime,
        metrics: &'a Metrics,
        route_metrics: &'a RouteMetrics,
        request_id: &'a str,
        client: IpAddr,
        client_body: &'a Arc<ClientBodyWatch>,
    ) -> Self {
        Self {
            upstream: &route.upstream,
            timeout: route.timeout,
            try_timeout: route.try_timeout,
            retry: route.retry.as_ref(),
            idle_timeout: route.idle_timeout,
            metrics,
            route_metrics,
            request_id,
            client,
            client_body,
        }
    }

    /// Sends `request` (ready to go: see `service::Forward`) and waits for the response
    /// headers; `upgrade` says the client asked to switch protocols. What the call saw (the
    /// target, the time) goes in `record`.
    pub(super) async fn send(
        &self,
        request: Request<ProxyBody>,
        upgrade: bool,
        record: &mut Record,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let upstream = self.upstream;
        let Some(admitted) = upstream.enter() else {
            self.metrics.breaker_rejected(upstream.name());
            return Err(ProxyError::new(
                ErrorKind::UpstreamOverloaded,
                "the upstream is at its request limit",
            )
            .detail(format!(
                "upstream `{}` is at its request limit",
                upstream.name()
            )));
        };
        let key = upstream.hash_key(request.headers(), self.client);
        let sent = Instant::now();
        record.upstream_sent = Some(sent);
        let deadline = Deadline::from_std(sent) + self.timeout;
        let tried = self.tries(request, key, deadline).await;
        record.upstream_duration = Some(sent.elapsed());
        let answer = tried?;
        let Answer {
            mut response,
            on_target,
            target,
        } = answer;
        record.upstream = upstream.tried(target);
        let held = (admitted, on_target);
        if upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let tunnel = UpstreamUpgrade::take(&mut response, held);
            response.extensions_mut().insert(tunnel);
            return Ok(response.map(|_| body::empty()));
        }
        Ok(response.map(|incoming| body::tracked(incoming, held, self.idle_timeout)))
    }

    fn pick(&self, key: Option<u64>, tried: Tried) -> Result<usize, ProxyError> {
        let name = self.upstream.name();
        self.upstream
            .pick(key, tried.any, tried.refused)
            .map_err(|e| match e {
                NoTarget::Empty => {
                    ProxyError::new(ErrorKind::UpstreamUnavailable, "the upstream has no target")
                        .detail(format!("upstream `{name}` has no target"))
                }
                NoTarget::NoneHealthy => ProxyError::new(
                    ErrorKind::NoHealthyUpstream,
                    "the upstream has no healthy target",
                )
                .detail(format!("upstream `{name}` has no healthy target")),
            })
    }

    /// One try on target `index`, within the route's `try-timeout`, recorded for passive
    /// health unless the client's body is to blame.
    async fn try_once(
        &self,
        parts: http::request::Parts,
        body: ProxyBody,
        index: usize,
        deadline: Deadline,
    ) -> Outcome {
        let upstream = self.upstream;
        let client = self.client_body;
        let Some(target) = upstream.target(index) else {
            return Outcome::ConnectFailed(None);
        };
        let mut request = Request::from_parts(parts, body);
        match forward::upstream_uri(upstream.scheme(), target, request.uri().path_and_query()) {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return Outcome::ConnectFailed(None),
        }
        let limit = Limit::of_try(self.try_timeout, deadline);
        let on_target = upstream.begin(index);
        // Pinned where it is made: the timeout then holds a reference, not a copy of the future.
        let sending = std::pin::pin!(upstream.client().request(index, request));
        let outcome = match tokio::time::timeout_at(limit.at, sending).await {
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
                        request_id = self.request_id,
                        error = %error_text::chain(&e),
                        "upstream request failed"
                    );
                    if e.is_connect() {
                        Outcome::ConnectFailed(Some(e))
                    } else {
                        Outcome::Reset(e)
                    }
                }
            },
            // The route's deadline cut the try: the call ends here, as if its timer had
            // cancelled the try, and the target's health is not touched.
            Err(_) if limit.route => return Outcome::Expired,
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
                    request_id = self.request_id,
                    client_error = %fault,
                    "the request failed on the client's side; the target is not blamed"
                );
                return outcome;
            }
            // The upstream broke off while the client was still sending: whose doing is
            // unknown.
            Outcome::Reset(_) if client.waiting() => return outcome,
            _ => true,
        };
        upstream.record(index, failed);
        outcome
    }

    /// The client's answer for the last try.
    fn answer(&self, outcome: Outcome) -> Result<Answer, ProxyError> {
        let name = self.upstream.name();
        match outcome {
            Outcome::Response(answer) => Ok(answer),
            Outcome::ConnectFailed(cause) => {
                let error = ProxyError::new(
                    ErrorKind::UpstreamUnavailable,
                    "the upstream refused the connection",
                );
                Err(match cause {
                    Some(cause) => error.caused_by(Refused(name.to_owned(), cause)),
                    None => error.detail(format!("upstream `{name}` refused the connection")),
                })
            }
            Outcome::Reset(cause) => Err(ProxyError::new(
                ErrorKind::UpstreamUnavailable,
                "the upstream closed the connection",
            )
            .caused_by(Closed(name.to_owned(), cause))),
            Outcome::ClientFailed(fault) => Err(fault.into()),
            Outcome::TimedOut => Err(self.timed_out(self.try_timeout)),
            Outcome::Expired => Err(self.expired()),
        }
    }

    /// The answer when the route's `timeout` passed: the client's fault if its body was still
    /// coming, else a timeout of the upstream.
    fn expired(&self) -> ProxyError {
        match self.client_body.blame(true) {
            Some(fault) => fault.into(),
            None => self.timed_out(self.timeout),
        }
    }

    fn timed_out(&self, limit: Duration) -> ProxyError {
        ProxyError::new(
            ErrorKind::UpstreamTimeout,
            format!("the upstream did not answer within {limit:?}"),
        )
        .detail(format!(
            "upstream `{}` did not answer within {limit:?}",
            self.upstream.name()
        ))
    }
}

/// The upstream's connection failed: its name and hyper's error.
#[derive(Debug, thiserror::Error)]
#[error("upstream `{0}` refused the connection")]
struct Refused(String, #[source] crate::upstream::ClientError);

/// The upstream's connection broke before its response headers: its name and hyper's error.
#[derive(Debug, thiserror::Error)]
#[error("upstream `{0}` closed the connection")]
struct Closed(String, #[source] crate::upstream::ClientError);

/// An upstream's answer, with the count of the request on its target (for least-request),
/// which the caller keeps until the response body ends.
struct Answer {
    response: Response<UpstreamBody>,
    on_target: Option<InFlight>,
    /// The index of the target that answered.
    target: usize,
}

/// How one try ended.
enum Outcome {
    Response(Answer),
    /// No connection (hyper's error, when it got that far).
    ConnectFailed(Option<crate::upstream::ClientError>),
    /// The connection broke before the response headers.
    Reset(crate::upstream::ClientError),
    TimedOut,
    /// The route's `timeout` passed during the try: no more tries.
    Expired,
    /// The client's body failed or stalled: the client's doing, not the upstream's.
    ClientFailed(ClientBodyError),
}

/// When a try stops waiting, and whether that is the route's deadline rather than its own
/// `try-timeout`.
struct Limit {
    at: Deadline,
    route: bool,
}

impl Limit {
    /// The try's limit, started now. Its own `try-timeout` wins a tie with the route's deadline
    /// (within the timer's 1 ms resolution), as the try's own timer did when each had one: by
    /// default the two are equal, and such a try is a timed-out try, recorded by passive
    /// health.
    fn of_try(try_timeout: Duration, deadline: Deadline) -> Self {
        let own = Deadline::now() + try_timeout;
        if own <= deadline + TIMER_RESOLUTION {
            Self {
                at: own.min(deadline),
                route: false,
            }
        } else {
            Self {
                at: deadline,
                route: true,
            }
        }
    }
}

/// The resolution of tokio's timer: two deadlines closer than this fired together.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// The client's failure that `error`, from reading the client's body, stands for.
pub(super) fn client_body_error(error: body::BoxError) -> ProxyError {
    match error.downcast_ref::<ClientBodyError>() {
        Some(fault) => (*fault).into(),
        None => ProxyError::new(
            ErrorKind::BadRequestBody,
            "the request body could not be read",
        )
        .caused_by(error),
    }
}

#[cfg(test)]
mod tests;
