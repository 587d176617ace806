//! A real OTLP/HTTP trace receiver on 127.0.0.1: it accepts `POST /v1/traces` with a protobuf
//! `ExportTraceServiceRequest`, decoded with `opentelemetry-proto` (the OpenTelemetry project's
//! own types, independent of the gateway's encoder), and keeps every span with its resource.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
pub use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;

/// A span as received, with the resource it came under.
#[derive(Debug, Clone)]
pub struct Received {
    /// The span.
    pub span: Span,
    /// The resource (`service.name`...).
    pub resource: Option<Resource>,
}

impl Received {
    /// The trace id as 32 hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// The span id as 16 hex digits.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// The parent span id as 16 hex digits (empty for a root span).
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// A string or integer attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }

    /// A resource attribute, as text.
    pub fn resource_attribute(&self, key: &str) -> Option<String> {
        attribute(&self.resource.as_ref()?.attributes, key)
    }
}

fn attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    address: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Starts a receiver on an ephemeral port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let address = listener.local_addr().expect("receiver address");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| receive(kept.clone(), request));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            spans,
            task,
        }
    }

    /// `http://host:port` of the receiver.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits (at most about five seconds) until `n` spans of `trace_id` have arrived, and returns
    /// them; panics with what did arrive otherwise.
    pub async fn wait_for_trace(&self, trace_id: &str, n: usize) -> Vec<Received> {
        for _ in 0..250 {
            let found: Vec<_> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id() == trace_id)
                .collect();
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "fewer than {n} spans of trace {trace_id}; received: {:#?}",
            self.spans()
        );
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    kept: Arc<Mutex<Vec<Received>>>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = |status: StatusCode| {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        Ok(response)
    };
    let content_type = request.headers().get("content-type").cloned();
    if request.uri().path() != "/v1/traces"
        || content_type.as_ref().and_then(|v| v.to_str().ok()) != Some("application/x-protobuf")
    {
        return answer(StatusCode::NOT_FOUND);
    }
    let Ok(body) = request.into_body().collect().await else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    if let Ok(mut kept) = kept.lock() {
        for resource_spans in export.resource_spans {
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    kept.push(Received {
                        span,
                        resource: resource_spans.resource.clone(),
                    });
                }
            }
        }
    }
    answer(StatusCode::OK)
}
