//! The upstream call, driven in-process against real upstreams on 127.0.0.1 (one that answers
//! a scripted status per request, one that stalls, a port that refuses): retries go to another
//! target, for idempotent methods only, within the retry budget; `try-timeout` cuts one try and
//! `timeout` all of them; the breaker admits `max-requests` and frees each when its response
//! body ends; the client's error says nothing of the upstream's name or hyper's errors.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Call;
use crate::config::{Manifest, Route};
use crate::message::body::{self, ClientBodyWatch, ProxyBody};
use crate::message::error_text;
use crate::observe::metrics::{Metrics, Readings, RouteMetrics};
use crate::proxy::error::{ErrorKind, ProxyError};
use crate::proxy::record::Record;
use crate::upstream::Upstream;

/// An upstream on 127.0.0.1, answering its requests in order as a script says.
struct Server {
    address: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    /// Answers its `n`-th request (from 0) with `answer(n)`.
    async fn start<F, Fut>(answer: F) -> Self
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (hits, answer) = (counted.clone(), answer.clone());
                let service = service_fn(move |_: Request<Incoming>| {
                    let answered = answer(hits.fetch_add(1, Ordering::SeqCst));
                    async move { Ok::<_, Infallible>(answered.await) }
                });
                tokio::spawn(async move {
                    let io = TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Self {
            address,
            hits,
            task,
        }
    }

    /// Answers with `statuses` in turn, the last one from then on; the body names the server.
    async fn answering(name: &'static str, statuses: &'static [u16]) -> Self {
        Self::start(move |n| async move {
            let status = statuses[n.min(statuses.len() - 1)];
            let mut response = Response::new(Full::new(Bytes::from(name)));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            response
        })
        .await
    }

    /// Accepts requests and never answers them (within any test).
    async fn stalling() -> Self {
        Self::start(|_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Response::new(Full::new(Bytes::new()))
        })
        .await
    }

    fn target(&self) -> String {
        self.address.to_string()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A target that refuses connections: a port bound, then closed.
async fn refusing() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The upstream `pool` of `targets` and the route `all` to it, as built from a manifest with
/// `upstream` and `route` lines, and the metrics they count into.
struct Setup {
    upstream: Upstream,
    route: Route,
    metrics: Metrics,
    route_metrics: RouteMetrics,
    client_body: Arc<ClientBodyWatch>,
}

fn setup(targets: &[String], upstream: &str, route: &str) -> Setup {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    let text = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.pool]
targets = [{}]
{upstream}

[routes.all]
upstream = "pool"
match.path-prefix = "/"
{route}
"#,
        targets.join(", ")
    );
    let no_plugins: [&str; 0] = [];
    let manifest = Manifest::parse(Path::new("portcullis.toml"), &text, &no_plugins)
        .unwrap_or_else(|e| panic!("{}", e.render_each().join("\n")));
    let upstream = Upstream::new(&manifest.upstreams[0]).unwrap();
    let metrics = Metrics::new();
    let route_metrics = metrics.route("all", std::iter::empty());
    Setup {
        upstream,
        route: manifest.routes[0].clone(),
        metrics,
        route_metrics,
        client_body: Arc::default(),
    }
}

impl Setup {
    /// The call of one request, as the proxy makes it for route `all`.
    fn call(&self) -> Call<'_> {
        Call {
            upstream: &self.upstream,
            timeout: self.route.timeout,
            try_timeout: self.route.try_timeout.unwrap_or(self.route.timeout),
            retry: self.route.retry.as_ref(),
            idle_timeout: self.route.idle_timeout,
            metrics: &self.metrics,
            route_metrics: &self.route_metrics,
            request_id: "test-request",
            client: IpAddr::from([127, 0, 0, 1]),
            client_body: &self.client_body,
        }
    }

    /// Sends `method /work` with `body` and returns the answer (its body not read yet).
    async fn send(
        &self,
        method: Method,
        body: &'static str,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let request = Request::builder()
            .method(method)
            .uri("/work")
            .body(body::full(Bytes::from(body), None))
            .unwrap();
        let client = IpAddr::from([127, 0, 0, 1]);
        let mut record = Record::begin(Instant::now(), None, &request, client, Arc::default());
        self.call().send(request, false, &mut record).await
    }

    /// The answer's status and body, read to the end.
    async fn exchange(&self, method: Method) -> (StatusCode, Bytes) {
        let response = self.send(method, "").await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }

    /// Whether the metrics, as scraped, have the sample `line`.
    fn counted(&self, line: &str) -> bool {
        let state: std::sync::Weak<crate::state::StateStore> = std::sync::Weak::new();
        let readings = Readings {
            targets: Vec::new(),
            plugin_memory_used: 0,
            plugin_memory_limit: 0,
            state,
            plugins: Default::default(),
        };
        let text = self.metrics.encode(readings);
        text.lines().any(|l| l == line)
    }
}

const RETRY_503: &str =
    r#"retry = { attempts = 1, on = [503], backoff = "1ms", max-backoff = "1ms" }"#;

#[tokio::test]
async fn a_get_answered_503_is_retried_once_on_another_target_and_the_retry_counted() {
    let failing = Server::answering("a", &[503]).await;
    let working = Server::answering("b", &[200]).await;
    let setup = setup(&[failing.target(), working.target()], "", RETRY_503);

    let (status, body) = setup.exchange(Method::GET).await;

    assert_eq!((status, &body[..]), (StatusCode::OK, &b"b"[..]));
    assert_eq!((failing.hits(), working.hits()), (1, 1));
    assert!(setup.counted(r#"portcullis_upstream_retries_total{route="all"} 1"#));
}

#[tokio::test]
async fn a_post_is_not_retried_unless_the_route_allows_non_idempotent_retries() {
    let failing = Server::answering("a", &[503]).await;
    let working = Server::answering("b", &[200]).await;
    let targets = [failing.target(), working.target()];

    let (status, _) = setup(&targets, "", RETRY_503).exchange(Method::POST).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the first try's answer"
    );
    assert_eq!((failing.hits(), working.hits()), (1, 0));

    let allowed = r#"retry = { attempts = 1, on = [503], backoff = "1ms", max-backoff = "1ms", non-idempotent = true }"#;
    let (status, _) = setup(&targets, "", allowed).exchange(Method::POST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((failing.hits(), working.hits()), (2, 1));
}

#[tokio::test]
async fn one_target_answering_503_then_200_is_retried_on_itself_up_to_the_attempts() {
    let flaky = Server::answering("a", &[503, 503, 200]).await;
    let twice = r#"retry = { attempts = 2, on = [503], backoff = "1ms", max-backoff = "1ms" }"#;
    let setup = setup(&[flaky.target()], "", twice);

    let (status, _) = setup.exchange(Method::GET).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(flaky.hits(), 3);
    assert!(setup.counted(r#"portcullis_upstream_retries_total{route="all"} 2"#));
}

#[tokio::test]
async fn a_retry_needs_room_in_the_retry_budget() {
    let failing = Server::answering("a", &[503]).await;
    let working = Server::answering("b", &[200]).await;
    let spent = "retry-budget = { percent = 0, min-per-second = 0 }";
    let setup = setup(&[failing.target(), working.target()], spent, RETRY_503);

    let (status, _) = setup.exchange(Method::GET).await;

    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the failed try's answer"
    );
    assert_eq!(working.hits(), 0);
    assert!(setup.counted(r#"portcullis_upstream_retries_total{route="all"} 0"#));
}

#[tokio::test]
async fn a_refused_connection_is_retried_at_once_on_another_target_outside_the_budget() {
    let refused = refusing().await;
    let working = Server::answering("b", &[200]).await;
    let spent = "retry-budget = { percent = 0, min-per-second = 0 }";
    let slow_backoff = r#"retry = { attempts = 1, on = ["connect-failure"], backoff = "10s", max-backoff = "10s" }"#;
    let setup = setup(&[refused, working.target()], spent, slow_backoff);

    let started = Instant::now();
    let (status, body) = setup.exchange(Method::GET).await;

    assert_eq!((status, &body[..]), (StatusCode::OK, &b"b"[..]));
    assert!(started.elapsed() < Duration::from_secs(5), "no backoff");
}

#[tokio::test]
async fn a_refused_connection_is_a_502_that_names_neither_upstream_nor_address() {
    let refused = refusing().await;
    let setup = setup(std::slice::from_ref(&refused), "", "");

    let error = setup.send(Method::GET, "").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::UpstreamUnavailable);
    assert_eq!(error.message, "the upstream refused the connection");
    let logged = error_text::chain(&error);
    assert!(
        logged.contains("upstream `pool` refused the connection"),
        "{logged}"
    );
    assert!(!error.message.contains(&refused));
}

#[tokio::test]
async fn a_stalled_try_is_cut_by_try_timeout_and_retried_on_another_target() {
    let stalled = Server::stalling().await;
    let working = Server::answering("b", &[200]).await;
    let retry = r#"timeout = "10s"
try-timeout = "200ms"
retry = { attempts = 1, on = ["timeout"], backoff = "1ms", max-backoff = "1ms" }"#;
    let setup = setup(&[stalled.target(), working.target()], "", retry);

    let started = Instant::now();
    let (status, _) = setup.exchange(Method::GET).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(stalled.hits(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_try_timeout_not_retried_is_a_504() {
    let stalled = Server::stalling().await;
    let setup = setup(&[stalled.target()], "", r#"try-timeout = "200ms""#);

    let error = setup.send(Method::GET, "").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::UpstreamTimeout);
    assert_eq!(error.message, "the upstream did not answer within 200ms");
}

#[tokio::test]
async fn the_timeout_bounds_every_try_and_backoff_together() {
    let stalled = Server::stalling().await;
    let other = Server::stalling().await;
    let retry = r#"timeout = "600ms"
try-timeout = "400ms"
retry = { attempts = 3, on = ["timeout"], backoff = "1ms", max-backoff = "1ms" }"#;
    let setup = setup(&[stalled.target(), other.target()], "", retry);

    let started = Instant::now();
    let error = setup.send(Method::GET, "").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::UpstreamTimeout);
    assert_eq!(error.message, "the upstream did not answer within 600ms");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        stalled.hits() + other.hits(),
        2,
        "the second try was cut short"
    );
}

#[tokio::test]
async fn the_breaker_admits_max_requests_and_frees_each_when_its_response_body_ends() {
    let server = Server::answering("a", &[200]).await;
    let setup = setup(&[server.target()], "limits = { max-requests = 1 }", "");

    let held = setup.send(Method::GET, "").await.unwrap();
    assert_eq!(setup.upstream.active(), 1, "counted until its body ends");

    let refused = setup.send(Method::GET, "").await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::UpstreamOverloaded);
    assert_eq!(refused.message, "the upstream is at its request limit");
    assert!(setup.counted(r#"portcullis_circuit_breaker_rejections_total{upstream="pool"} 1"#));
    assert_eq!(setup.upstream.active(), 1, "a refusal holds nothing");

    held.into_body().collect().await.unwrap();
    assert_eq!(setup.upstream.active(), 0, "released when the body ended");

    let dropped = setup.send(Method::GET, "").await.unwrap();
    drop(dropped);
    assert_eq!(
        setup.upstream.active(),
        0,
        "released when the body is dropped"
    );
    let (status, _) = setup.exchange(Method::GET).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.hits(), 3);
}
