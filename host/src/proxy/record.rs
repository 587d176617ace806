//! The record of one request: who asked what (taken when it arrives), what its walk met on the
//! way (the route, the upstream's target, the time in plugins and upstream calls, the spans),
//! and, at the end, the metrics, the span tree and the access line written from it. The access
//! line waits for the response body to end or stop, so its byte counts are exact.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request, Response, StatusCode, Version};

use crate::message::body::{self, Ending, ProxyBody};
use crate::message::request_id;
use crate::message::{Context, ServedVersions};
use crate::observe::access_log::{Entry, Tried};
use crate::observe::otlp::{RequestSpans, Served, Tracer, UpstreamCall};
use crate::observe::trace::TraceContext;
use crate::snapshot::{Current, Snapshot};

/// What the proxy knows of one request, for the metrics, the spans and the access log.
pub(super) struct Record {
    /// When the request arrived.
    started: Instant,
    /// Its id: the client's `x-request-id` if valid, else a new one.
    pub id: Arc<str>,
    /// Its W3C trace context, continued from the client's or started here.
    pub trace: TraceContext,
    client: IpAddr,
    method: Method,
    version: Version,
    path: String,
    /// The request body's bytes, counted as they pass.
    received: Arc<AtomicU64>,
    /// The matched route's index in the snapshot.
    pub route: Option<usize>,
    /// The upstream and the target of the last try.
    pub upstream: Option<Tried>,
    /// The time for the upstream's response headers.
    pub upstream_duration: Option<Duration>,
    /// The time spent in plugin calls.
    pub plugin_duration: Duration,
    /// When the first try to the upstream started.
    pub upstream_sent: Option<Instant>,
    /// The request's spans, when it is traced; lent to the exchange while plugins run.
    pub spans: Option<Box<RequestSpans>>,
    /// Which version served each plugin entry with a canary.
    pub versions: ServedVersions,
}

impl Record {
    /// Starts the record of `request`, which arrived at `started` from `client` and whose body
    /// counts its bytes into `received`; `tracer` is the snapshot's span exporter, if any. A
    /// trace that starts here is sampled at `[tracing] sample-ratio`; one continued from the
    /// caller keeps the caller's decision.
    pub(super) fn begin(
        started: Instant,
        tracer: Option<&Arc<Tracer>>,
        request: &Request<ProxyBody>,
        client: IpAddr,
        received: Arc<AtomicU64>,
    ) -> Self {
        let id = request_id::from_request(request.headers());
        let mut trace = TraceContext::from_headers(request.headers());
        if let Some(tracer) = tracer
            && trace.parent_id.is_none()
        {
            trace.flags = u8::from(tracer.sample_new_trace());
        }
        let spans = tracer.filter(|_| trace.flags & 1 == 1).map(|tracer| {
            let state = request.headers().get("tracestate");
            let state = state.and_then(|v| v.to_str().ok());
            tracer.begin(&trace, state, started)
        });
        Self {
            started,
            id,
            trace,
            client,
            method: request.method().clone(),
            version: request.version(),
            path: request.uri().path().to_owned(),
            received,
            route: None,
            upstream: None,
            upstream_duration: None,
            plugin_duration: Duration::ZERO,
            upstream_sent: None,
            spans,
            versions: ServedVersions::default(),
        }
    }

    /// Counts the answered request in the metrics, and returns `response` with a body that
    /// ends the spans and writes the access line when it ends.
    pub(super) fn finish(
        self,
        mut response: Response<ProxyBody>,
        snapshot: &Snapshot,
        current: &Current,
    ) -> Response<ProxyBody> {
        let metrics = current.metrics();
        // Put there by the plugin branch, for this line only.
        let context = response
            .extensions_mut()
            .remove::<Context>()
            .unwrap_or_default();
        let elapsed = self.started.elapsed();
        let status = response.status().as_u16();
        let route = self.route.and_then(|i| snapshot.routes.get(i));
        let route_metrics = route.map_or_else(|| metrics.unmatched(), |r| r.metrics(metrics));
        route_metrics.answered(&self.method, status, elapsed);
        if let Some(upstream) = self.upstream_duration {
            route_metrics.upstream(upstream);
        }
        let mut spans = self.spans;
        if let (Some(spans), Some(sent), Some(route)) = (spans.as_mut(), self.upstream_sent, route)
        {
            spans.upstream(UpstreamCall {
                upstream: route.upstream.name(),
                target: self.upstream.as_ref().map(|t| t.target.to_string()),
                sent,
                elapsed: self.upstream_duration.unwrap_or_default(),
            });
        }
        let spans_dropped = spans
            .as_ref()
            .map(|_| metrics.trace_spans_dropped_counter());
        let bodiless = self.method == Method::HEAD
            || response.status() == StatusCode::NO_CONTENT
            || response.status() == StatusCode::NOT_MODIFIED
            || response.status().is_informational();
        let mut entry = Entry {
            time: SystemTime::now(),
            request_id: self.id,
            trace_id: self.trace.trace_id,
            client: self.client,
            method: self.method,
            path: self.path,
            version: self.version,
            route: route.map(|r| r.id.clone()),
            upstream: self.upstream,
            status,
            bytes: 0,
            bytes_received: 0,
            aborted: false,
            duration: elapsed,
            upstream_duration: self.upstream_duration,
            plugin_duration: self.plugin_duration,
            context,
            versions: self.versions,
        };
        let received = self.received;
        let access_log = current.access_log();
        let dropped = metrics.access_log_dropped_counter();
        response.map(|body| {
            body::observed(body, bodiless, move |sent, ending| {
                entry.bytes = sent;
                entry.bytes_received = received.load(Ordering::Relaxed);
                entry.aborted = ending == Ending::Aborted;
                if let (Some(spans), Some(spans_dropped)) = (spans, spans_dropped) {
                    let served = Served {
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
}
