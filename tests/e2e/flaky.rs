//! An upstream that tests can break: its `/healthz` answers 200 or 503 as the test says, it can
//! listen on a chosen port (to come back where it was), and dropping it closes every connection
//! at once (a killed process, unlike `EchoUpstream`, whose open connections outlive it).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub(crate) struct Flaky {
    address: SocketAddr,
    healthy: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Flaky {
    /// On an ephemeral port.
    pub(crate) async fn start(name: &str) -> Self {
        Self::start_on(name, "127.0.0.1:0".parse().expect("an address")).await
    }

    /// On `address`.
    pub(crate) async fn start_on(name: &str, address: SocketAddr) -> Self {
        let listener = TcpListener::bind(address).await.expect("bind");
        let address = listener.local_addr().expect("address");
        let healthy = Arc::new(AtomicBool::new(true));
        let name: Arc<str> = name.into();
        let flag = healthy.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let name = name.clone();
                let flag = flag.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let ok = flag.load(Ordering::Relaxed);
                        let name = name.clone();
                        async move {
                            let status = if request.uri().path() == "/healthz" && !ok {
                                503
                            } else {
                                200
                            };
                            let body = format!("{{\"upstream\":\"{name}\"}}");
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .header("x-upstream", &*name)
                                    .body(Full::new(Bytes::from(body)))
                                    .expect("a response"),
                            )
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            healthy,
            task,
        }
    }

    pub(crate) fn authority(&self) -> String {
        self.address.to_string()
    }

    /// What `/healthz` answers from now on: 200 or 503.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

impl Drop for Flaky {
    fn drop(&mut self) {
        // Aborting the accept task drops its `JoinSet`, which aborts every connection.
        self.task.abort();
    }
}

/// A port nothing listens on (bound, then freed).
pub(crate) fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
}
