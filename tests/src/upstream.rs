//! A real HTTP upstream on 127.0.0.1: it answers every request with a JSON description of what it
//! received, so a test can see exactly what the gateway forwarded.
//!
//! `GET /slow/<ms>` waits before answering; `GET /status/<code>` answers with that status;
//! `GET /drip/<ms>` sends its headers and a first chunk (`first;`), then the description after
//! `ms`. It counts requests, open connections and the most connections open at once.
//!
//! It is as strict as hypercorn about HTTP/2 authority (RFC 9113 8.3.1): a request whose `Host`
//! differs from its `:authority` is answered `400`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// A running echo upstream; stops when dropped.
pub struct EchoUpstream {
    address: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<Connections>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    /// Starts an upstream named `name` (sent back in `x-upstream`) on an ephemeral port.
    pub async fn start(name: &str) -> Self {
        Self::serve(name, None).await
    }

    /// Like `start`, over TLS with `config` (its ALPN decides HTTP/2 or HTTP/1.1). The JSON
    /// tells what TLS gave: `tls.alpn`, `tls.client_certificate`.
    pub async fn start_tls(name: &str, config: rustls::ServerConfig) -> Self {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::serve(name, Some(acceptor)).await
    }

    async fn serve(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the upstream");
        let address = listener.local_addr().expect("upstream address");
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(Connections::default());
        let name: Arc<str> = name.into();
        let counter = requests.clone();
        let open = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let name = name.clone();
                let counter = counter.clone();
                let tls = tls.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    let _open = open.enter();
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let Some(tls) = tls else {
                        let service = service_fn(move |request| {
                            counter.fetch_add(1, Ordering::Relaxed);
                            echo(name.clone(), None, request)
                        });
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        return;
                    };
                    let Ok(stream) = tls.accept(stream).await else {
                        return;
                    };
                    let (_, session) = stream.get_ref();
                    let seen = Arc::new(serde_json::json!({
                        "alpn": session.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()),
                        "client_certificate": session.peer_certificates().is_some_and(|c| !c.is_empty()),
                    }));
                    let service = service_fn(move |request| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        echo(name.clone(), Some(seen.clone()), request)
                    });
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            requests,
            connections,
            task,
        }
    }

    /// `host:port` of the upstream.
    pub fn authority(&self) -> String {
        self.address.to_string()
    }

    /// How many requests reached it.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// The most connections that were open at once.
    pub fn most_connections(&self) -> usize {
        self.connections.most.load(Ordering::Relaxed)
    }
}

/// Open connections, and the most seen at once.
#[derive(Default)]
struct Connections {
    open: AtomicUsize,
    most: AtomicUsize,
}

struct OpenConnection(Arc<Connections>);

impl Connections {
    fn enter(self: &Arc<Self>) -> OpenConnection {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.most.fetch_max(now, Ordering::Relaxed);
        OpenConnection(self.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(
    name: Arc<str>,
    tls: Option<Arc<serde_json::Value>>,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Some(refusal) = authority_mismatch(&parts) {
        return Ok(refusal);
    }
    let path = parts.uri.path().to_owned();
    if let Some(ms) = path.strip_prefix("/slow/").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse().ok())
        .unwrap_or(200);
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &parts.headers {
        headers
            .entry(k.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let description = serde_json::json!({
        "upstream": &*name,
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "authority": parts.uri.authority().map(|a| a.as_str()),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "tls": tls.as_deref(),
    });
    let description = Bytes::from(description.to_string());
    let body = match path.strip_prefix("/drip/").and_then(|ms| ms.parse().ok()) {
        Some(ms) => {
            let chunks = futures_util::stream::unfold(0, move |step| {
                let description = description.clone();
                async move {
                    let chunk = match step {
                        0 => Bytes::from_static(b"first;"),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            description
                        }
                        _ => return None,
                    };
                    Some((Ok(hyper::body::Frame::data(chunk)), step + 1))
                }
            });
            BoxBody::new(StreamBody::new(chunks))
        }
        None => BoxBody::new(Full::new(description)),
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-upstream", &*name)
        .body(body)
        .expect("a valid response");
    Ok(response)
}

/// A `400` when the request carries both `:authority` and a `Host` that differs from it.
fn authority_mismatch(
    parts: &http::request::Parts,
) -> Option<Response<BoxBody<Bytes, Infallible>>> {
    let authority = parts.uri.authority()?.as_str();
    let host = parts.headers.get(hyper::header::HOST)?;
    if host.as_bytes() == authority.as_bytes() {
        return None;
    }
    let text = format!(
        "Host `{}` differs from :authority `{authority}`",
        String::from_utf8_lossy(host.as_bytes())
    );
    let response = Response::builder()
        .status(400)
        .body(BoxBody::new(Full::new(Bytes::from(text))))
        .expect("a valid response");
    Some(response)
}
