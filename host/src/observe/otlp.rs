//! Trace export over OTLP/HTTP (protobuf), off unless the manifest's `[tracing]` names a
//! collector. A sampled request yields one server span (the request as the gateway served it),
//! one internal span per plugin call and one client span for the upstream call, in the trace of
//! the `traceparent` handled in `proxy::trace`: the client span's id is the parent id the
//! upstream receives, so the upstream's own spans hang under it.
//!
//! Why our own exporter rather than the OpenTelemetry SDK: the gateway already has the trace
//! context and the timings, and needs only to send a few spans; the SDK would bring a second
//! context model to keep in step with ours, and a global tracer provider (which a reload could
//! not replace). The cost when tracing is off is one `Option` test per request: nothing is
//! allocated. When on, spans are built after the call they describe and handed to a bounded
//! queue; a task batches them and posts them off the request path. A full queue drops spans
//! (counted in `portcullis_trace_spans_dropped_total`); a collector that is down or slow costs
//! failed exports, logged, never a failed or slower request.

pub mod proto;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use tokio::sync::mpsc;

use crate::config::TracingConfig;
use crate::contract::Phase;
use crate::observe::trace::TraceContext;

/// Requests' spans waiting for the exporter before new ones are dropped.
const QUEUE: usize = 4096;
/// Most spans in one export.
const MAX_BATCH: usize = 512;
/// How long a batch waits for more spans before it is sent.
const LINGER: Duration = Duration::from_millis(200);

/// The exporter of one `[tracing]` configuration, shared by the snapshots that have it.
pub struct Tracer {
    sender: mpsc::Sender<Vec<proto::Span>>,
    sample_ratio: f64,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("sample_ratio", &self.sample_ratio)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// Starts the exporter task for `config` (in the current tokio runtime), or `None` when it
    /// names no collector.
    pub fn start(config: &TracingConfig) -> Option<Arc<Self>> {
        let otlp = config.otlp.clone()?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let resource = proto::Resource {
            attributes: vec![
                proto::KeyValue::string("service.name", config.service_name.clone()),
                proto::KeyValue::string("service.version", env!("CARGO_PKG_VERSION")),
                proto::KeyValue::string("telemetry.sdk.name", "portcullis"),
            ],
        };
        tokio::spawn(export(receiver, otlp.endpoint, otlp.timeout, resource));
        Some(Arc::new(Self {
            sender,
            sample_ratio: config.sample_ratio,
        }))
    }

    /// Whether a trace that starts here is sampled (`sample-ratio`).
    pub fn sample_new_trace(&self) -> bool {
        self.sample_ratio >= 1.0 || rand::random::<f64>() < self.sample_ratio
    }

    /// Starts recording the spans of a request whose trace is `trace`, arrived at `started`.
    pub fn begin(
        self: &Arc<Self>,
        trace: &TraceContext,
        trace_state: Option<&str>,
        started: Instant,
    ) -> Box<RequestSpans> {
        Box::new(RequestSpans {
            tracer: self.clone(),
            trace: *trace,
            trace_state: trace_state.unwrap_or_default().to_owned(),
            server_span: random_span_id(),
            started,
            started_nanos: unix_nanos(SystemTime::now()),
            spans: Vec::new(),
        })
    }
}

/// The spans of one sampled request, finished as the request goes.
pub struct RequestSpans {
    tracer: Arc<Tracer>,
    trace: TraceContext,
    trace_state: String,
    /// The request's own span (its parent is the caller's span, when it sent one).
    server_span: [u8; 8],
    started: Instant,
    started_nanos: u64,
    spans: Vec<proto::Span>,
}

impl std::fmt::Debug for RequestSpans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSpans")
            .field("spans", &self.spans.len())
            .finish_non_exhaustive()
    }
}

/// The upstream call, for its span.
pub struct UpstreamCall<'a> {
    /// The upstream's name.
    pub upstream: &'a str,
    /// The target of the last try, when one answered.
    pub target: Option<String>,
    /// When the first try started.
    pub sent: Instant,
    /// Until the upstream's response headers, all tries.
    pub elapsed: Duration,
}

/// The request, for the server span.
pub struct Served<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as received.
    pub path: &'a str,
    /// The matched route.
    pub route: Option<&'a str>,
    /// The status sent.
    pub status: u16,
    /// The request id.
    pub request_id: &'a str,
    /// The client's address.
    pub client: String,
    /// The body stopped early.
    pub aborted: bool,
}

impl RequestSpans {
    fn at(&self, instant: Instant) -> u64 {
        let offset = instant.saturating_duration_since(self.started);
        self.started_nanos
            .saturating_add(u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX))
    }

    fn span(
        &self,
        span_id: [u8; 8],
        parent: Option<[u8; 8]>,
        name: String,
        kind: i32,
        (start, end): (Instant, Instant),
        attributes: Vec<proto::KeyValue>,
    ) -> proto::Span {
        proto::Span {
            trace_id: self.trace.trace_id.to_vec(),
            span_id: span_id.to_vec(),
            trace_state: self.trace_state.clone(),
            parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
            name,
            kind,
            start_time_unix_nano: self.at(start),
            end_time_unix_nano: self.at(end),
            attributes,
            status: None,
            flags: u32::from(self.trace.flags),
        }
    }

    /// Records a plugin call: `outcome` is `continue`, `respond`, `ok` (on-response) or the
    /// failure's kind.
    pub fn plugin(
        &mut self,
        plugin: &str,
        route: &str,
        phase: Phase,
        started: Instant,
        elapsed: Duration,
        outcome: &str,
    ) {
        let attributes = vec![
            proto::KeyValue::string("portcullis.plugin", plugin),
            proto::KeyValue::string("portcullis.route", route),
            proto::KeyValue::string("portcullis.phase", phase.as_str()),
            proto::KeyValue::string("portcullis.outcome", outcome),
        ];
        let mut span = self.span(
            random_span_id(),
            Some(self.server_span),
            format!("plugin {plugin} {}", phase.as_str()),
            proto::kind::INTERNAL,
            (started, started + elapsed),
            attributes,
        );
        if !matches!(outcome, "continue" | "respond" | "ok") {
            span.status = Some(proto::Status {
                message: format!("plugin `{plugin}` failed in {}: {outcome}", phase.as_str()),
                code: proto::STATUS_ERROR,
            });
        }
        self.spans.push(span);
    }

    /// Records the upstream call, whose span id is the parent id the upstream received.
    pub fn upstream(&mut self, call: UpstreamCall<'_>) {
        let mut attributes = vec![proto::KeyValue::string(
            "portcullis.upstream",
            call.upstream,
        )];
        if let Some(target) = call.target {
            attributes.push(proto::KeyValue::string("server.address", target));
        }
        let span = self.span(
            self.trace.span_id,
            Some(self.server_span),
            format!("upstream {}", call.upstream),
            proto::kind::CLIENT,
            (call.sent, call.sent + call.elapsed),
            attributes,
        );
        self.spans.push(span);
    }

    /// Ends the request's span now and hands every span to the exporter; spans that find its
    /// queue full are counted in `dropped`.
    pub fn finish(mut self, served: Served<'_>, dropped: &Counter) {
        let mut attributes = vec![
            proto::KeyValue::string("http.request.method", served.method),
            proto::KeyValue::string("url.path", served.path),
            proto::KeyValue::int("http.response.status_code", i64::from(served.status)),
            proto::KeyValue::string("portcullis.request_id", served.request_id),
            proto::KeyValue::string("client.address", served.client),
        ];
        if let Some(route) = served.route {
            attributes.push(proto::KeyValue::string("portcullis.route", route));
        }
        if served.aborted {
            attributes.push(proto::KeyValue::string("portcullis.body", "aborted"));
        }
        let name = match served.route {
            Some(route) => format!("{} {route}", served.method),
            None => served.method.to_owned(),
        };
        let mut span = self.span(
            self.server_span,
            self.trace.parent_id,
            name,
            proto::kind::SERVER,
            (self.started, Instant::now()),
            attributes,
        );
        if served.status >= 500 {
            span.status = Some(proto::Status {
                message: format!("answered {}", served.status),
                code: proto::STATUS_ERROR,
            });
        }
        self.spans.push(span);
        let spans = std::mem::take(&mut self.spans);
        let count = spans.len() as u64;
        if self.tracer.sender.try_send(spans).is_err() {
            dropped.inc_by(count);
        }
    }
}

fn random_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The exporter: gathers spans for up to [`LINGER`] or [`MAX_BATCH`], posts them, repeats;
/// when every sender is gone (the configuration was replaced and its requests are done), it
/// sends what is left and ends.
async fn export(
    mut receiver: mpsc::Receiver<Vec<proto::Span>>,
    endpoint: http::Uri,
    timeout: Duration,
    resource: proto::Resource,
) {
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut failing = false;
    let mut open = true;
    while open {
        let Some(first) = receiver.recv().await else {
            break;
        };
        let mut batch = first;
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < MAX_BATCH {
            tokio::select! {
                more = receiver.recv() => match more {
                    Some(more) => batch.extend(more),
                    None => {
                        open = false;
                        break;
                    }
                },
                () = &mut linger => break,
            }
        }
        let request = proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![proto::ScopeSpans {
                    scope: Some(proto::InstrumentationScope {
                        name: "portcullis".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                    }),
                    spans: batch,
                }],
            }],
        };
        let body = Bytes::from(request.encode_to_vec());
        let result = post(&client, &endpoint, body, timeout).await;
        match (result, failing) {
            (Ok(()), true) => {
                tracing::info!(%endpoint, "span export works again");
                failing = false;
            }
            (Ok(()), false) => {}
            (Err(why), false) => {
                tracing::warn!(%endpoint, "span export failed, spans dropped: {why}");
                failing = true;
            }
            (Err(why), true) => tracing::debug!(%endpoint, "span export failed: {why}"),
        }
    }
}

/// Why one batch did not reach the collector (logged, never returned to a client).
#[derive(Debug, thiserror::Error)]
enum ExportError {
    /// The request could not be built from the endpoint.
    #[error("{0}")]
    Request(#[from] http::Error),
    /// The collector did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection or the exchange failed; the text carries hyper's chain of causes, whose
    /// top alone says little ("client error (Connect)").
    #[error("{}", crate::message::error_text::chain(.0))]
    Send(hyper_util::client::legacy::Error),
    /// The collector answered with an error status.
    #[error("the collector answered {0}")]
    Status(http::StatusCode),
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    endpoint: &http::Uri,
    body: Bytes,
    timeout: Duration,
) -> Result<(), ExportError> {
    let request = http::Request::post(endpoint.clone())
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(body))?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| ExportError::Timeout(timeout))?
        .map_err(ExportError::Send)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(ExportError::Status(response.status()))
    }
}
