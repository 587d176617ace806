//! Listeners: accept TCP connections and serve HTTP/1.1 and HTTP/2 (h2c with prior knowledge)
//! on the same port, detecting the protocol from the connection preface.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::{self, ConnInfo};
use crate::snapshot::Current;

/// A bound listener, not yet serving.
pub struct Listener {
    name: String,
    socket: TcpListener,
}

impl Listener {
    /// Binds `address`.
    pub async fn bind(name: &str, address: SocketAddr) -> std::io::Result<Self> {
        let socket = TcpListener::bind(address).await?;
        Ok(Self {
            name: name.to_owned(),
            socket,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Accepts and serves connections until `shutdown` changes.
    pub async fn serve(self, current: Arc<Current>, mut shutdown: watch::Receiver<bool>) {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        loop {
            let accepted = tokio::select! {
                accepted = self.socket.accept() => accepted,
                _ = shutdown.changed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(listener = %self.name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = ConnInfo { peer, tls: false };
            let current = current.clone();
            let builder = builder.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let current = current.clone();
                    async move { Ok::<_, Infallible>(proxy::handle(&current, request, conn).await) }
                });
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}
