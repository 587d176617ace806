//! Shadow runs: a candidate version of a plugin entry run on copies of what the live plugin
//! saw (the request before its `on-request`, the response before its `on-response`), after the
//! request is answered, its verdict and edits compared with the live plugin's and never
//! applied.
//!
//! Copies are taken only for sampled requests. They go to one runner thread of the process,
//! with a tokio runtime of its own, through a bounded queue: a full queue drops the run (and
//! counts it) rather than hold a request, and shadow calls never run on the threads that serve
//! traffic. A shadow's instances come from its own configured plugin with its own limits, its
//! memory from a budget of its own, and its state and metrics from namespaces apart (its name
//! is the entry's with `.shadow`), so it takes nothing the live calls need.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::HeaderMap;

use super::super::exchange::{Exchange, ResponseState};
use super::super::instance::{CallError, ConfiguredPlugin, Held, Outcome};
use crate::contract::{Phase, RequestAction};

mod compare;
mod runner;
pub mod state;

pub use compare::{DIVERGENCE_KINDS, Divergence};
pub use runner::Runner;
pub use state::ShadowState;

/// A shadow of one entry.
pub struct Shadow {
    plugin: Arc<ConfiguredPlugin>,
    sample: f64,
    state: Arc<ShadowState>,
}

impl Shadow {
    /// A shadow running `plugin` on `sample` (0 to 1) of requests, on the process's runner.
    pub fn new(plugin: Arc<ConfiguredPlugin>, sample: f64, state: Arc<ShadowState>) -> Self {
        Self {
            plugin,
            sample,
            state,
        }
    }

    /// The candidate.
    pub fn plugin(&self) -> &Arc<ConfiguredPlugin> {
        &self.plugin
    }

    /// The share of requests copied.
    pub fn sample(&self) -> f64 {
        self.sample
    }

    /// What it has compared.
    pub fn state(&self) -> &Arc<ShadowState> {
        &self.state
    }

    /// Whether this request is copied to the shadow.
    pub fn sampled(&self) -> bool {
        self.sample >= 1.0 || (self.sample > 0.0 && rand::random::<f64>() < self.sample)
    }

    /// Queues a finished capture for a run; a full queue drops it.
    pub(crate) fn submit(self: &Arc<Self>, capture: Capture) {
        if !Runner::global().submit(Job {
            shadow: self.clone(),
            capture,
        }) {
            self.state.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the live plugin did in one phase.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// `on-request` let the request through, or `on-response` returned.
    Continue,
    /// `on-request` answered with this status.
    Respond(u16),
    /// The call failed, of this kind.
    Failed(&'static str),
}

impl Verdict {
    pub(crate) fn of(result: &Result<Outcome, CallError>) -> Self {
        match result {
            Ok(Outcome::Request(RequestAction::Respond(reply))) => Verdict::Respond(reply.status),
            Ok(_) => Verdict::Continue,
            Err(error) => Verdict::Failed(error.kind()),
        }
    }
}

/// A message as it stood before or after a plugin's call: the headers and the body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
}

/// Copies of one request's passage through the live plugin, filled as the request goes.
pub(crate) struct Capture {
    /// The exchange as the live plugin's `on-request` got it.
    request: Exchange,
    /// What `on-request` decided, and the request it left.
    request_after: Option<(Verdict, Message)>,
    /// The response as `on-response` got it.
    response: Option<ResponseState>,
    /// What `on-response` decided, and the response it left.
    response_after: Option<(Verdict, Message)>,
}

impl Capture {
    /// Copies the exchange before the live plugin's `on-request`.
    pub(crate) fn before_request(live: &Exchange) -> Self {
        let mut request = Exchange::detached(live.request.clone(), &live.route, &live.id);
        request.request_body = live.request_body.clone();
        request.params = live.params.clone();
        request.client_ip = live.client_ip;
        request.context = live.context.clone();
        Self {
            request,
            request_after: None,
            response: None,
            response_after: None,
        }
    }

    /// Notes what the live `on-request` did.
    pub(crate) fn after_request(&mut self, live: &Exchange, result: &Result<Outcome, CallError>) {
        let message = Message {
            headers: live.request.headers.clone(),
            body: live.request_body.clone(),
        };
        self.request_after = Some((Verdict::of(result), message));
    }

    /// Copies the response before the live plugin's `on-response`.
    pub(crate) fn before_response(&mut self, live: &Exchange) {
        self.response = live.response.as_ref().map(|r| ResponseState {
            parts: r.parts.clone(),
            body: r.body.clone(),
            trailers: r.trailers.clone(),
        });
    }

    /// Notes what the live `on-response` did.
    pub(crate) fn after_response(&mut self, live: &Exchange, result: &Result<Outcome, CallError>) {
        let Some(response) = &live.response else {
            return;
        };
        let message = Message {
            headers: response.parts.headers.clone(),
            body: response.body.clone(),
        };
        self.response_after = Some((Verdict::of(result), message));
    }
}

/// One shadow run waiting in the queue.
pub(crate) struct Job {
    shadow: Arc<Shadow>,
    capture: Capture,
}

impl Job {
    /// Runs the candidate on the copies and compares.
    async fn run(self) {
        let Job { shadow, capture } = self;
        let Capture {
            request,
            request_after: Some((live_request, live_request_after)),
            response,
            response_after,
        } = capture
        else {
            return;
        };
        let (state, plugin) = (&shadow.state, &shadow.plugin);
        state.runs.fetch_add(1, Ordering::Relaxed);
        let id = request.id.clone();
        let mut held = Held::default();
        let mut diverged = false;
        let mut exchange = Box::new(request);

        let request_verdict = if plugin.needs().contains(crate::contract::Needs::ON_REQUEST) {
            exchange.phase = Phase::Request;
            let (back, result) = plugin.call(exchange, Phase::Request, &mut held).await;
            exchange = back;
            Verdict::of(&result)
        } else {
            Verdict::Continue
        };
        let after = Message {
            headers: exchange.request.headers.clone(),
            body: exchange.request_body.clone(),
        };
        for divergence in compare::request(
            &id,
            &live_request,
            &live_request_after,
            &request_verdict,
            &after,
        ) {
            diverged = true;
            state.diverged(divergence);
        }

        let answered = !matches!(request_verdict, Verdict::Failed(_));
        let slot = exchange.slot;
        let calls = plugin.needs().contains(crate::contract::Needs::ON_RESPONSE);
        if let (Some(response), Some((live_verdict, live_after)), true) =
            (response, response_after, answered)
            && (calls || exchange.has_response_edits(slot))
        {
            exchange.phase = Phase::Response;
            exchange.response = Some(response);
            exchange.make_response_edits(slot);
            let verdict = if calls {
                let (back, result) = plugin.call(exchange, Phase::Response, &mut held).await;
                exchange = back;
                Verdict::of(&result)
            } else {
                Verdict::Continue
            };
            let after = exchange.response.as_ref().map(|r| Message {
                headers: r.parts.headers.clone(),
                body: r.body.clone(),
            });
            for divergence in
                compare::response(&id, &live_verdict, &live_after, &verdict, after.as_ref())
            {
                diverged = true;
                state.diverged(divergence);
            }
        }
        plugin.release(&mut held);
        if !diverged {
            state.agreed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
