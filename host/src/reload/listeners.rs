//! The listeners a reloader serves: binding those a new manifest adds, starting them after the
//! swap, and draining those it removes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch as signal;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config;
use crate::listener::{ConnectionCap, Listener};
use crate::snapshot::Current;

/// The listeners serving now, and those still draining after a reload removed them.
#[derive(Default)]
pub(super) struct Listeners {
    active: Vec<ActiveListener>,
    draining: Vec<JoinHandle<()>>,
    /// Client connections open on every listener, against `[limits] max-connections`.
    pub(super) cap: Arc<ConnectionCap>,
}

struct ActiveListener {
    name: String,
    /// The address in the manifest (port 0 stays 0 here).
    requested: SocketAddr,
    bound: SocketAddr,
    stop: signal::Sender<Option<Instant>>,
    task: JoinHandle<()>,
}

/// A listener bound for a new snapshot, not yet serving.
pub(super) struct Bound {
    name: String,
    requested: SocketAddr,
    listener: Listener,
}

impl Listeners {
    /// Binds the listeners of `specs` that are not serving yet (same name, same address).
    /// Nothing is kept when one fails.
    pub(super) async fn bind_new<'a>(
        &self,
        specs: &'a [config::Listener],
    ) -> Result<Vec<Bound>, (&'a config::Listener, std::io::Error)> {
        let mut bound = Vec::new();
        for spec in specs {
            if self.find(spec).is_some() {
                continue;
            }
            let listener = Listener::bind(&spec.name, spec.address)
                .await
                .map_err(|e| (spec, e))?;
            bound.push(Bound {
                name: spec.name.clone(),
                requested: spec.address,
                listener,
            });
        }
        Ok(bound)
    }

    fn find(&self, spec: &config::Listener) -> Option<usize> {
        self.active
            .iter()
            .position(|l| l.name == spec.name && l.requested == spec.address)
    }

    /// Starts the newly bound listeners and drains those `specs` no longer has (when `specs`
    /// is empty, nothing is removed: the first start).
    pub(super) fn apply(
        &mut self,
        bound: Vec<Bound>,
        specs: &[config::Listener],
        current: &Arc<Current>,
        drain_timeout: Duration,
    ) {
        if !specs.is_empty() {
            let (kept, removed): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.active).into_iter().partition(|l| {
                    specs
                        .iter()
                        .any(|s| s.name == l.name && s.address == l.requested)
                });
            self.active = kept;
            for listener in removed {
                tracing::info!(listener = %listener.name, "listener removed; draining");
                let _ = listener.stop.send(Some(Instant::now() + drain_timeout));
                self.draining.push(listener.task);
            }
        }
        self.draining.retain(|task| !task.is_finished());
        for Bound {
            name,
            requested,
            listener,
        } in bound
        {
            let Ok(address) = listener.local_addr() else {
                continue;
            };
            tracing::info!(listener = %name, %address, "listening");
            let (stop, stopped) = signal::channel(None);
            let task = tokio::spawn(listener.serve(current.clone(), self.cap.clone(), stopped));
            self.active.push(ActiveListener {
                name,
                requested,
                bound: address,
                stop,
                task,
            });
        }
    }

    pub(super) fn addresses(&self) -> Vec<(String, SocketAddr)> {
        self.active
            .iter()
            .map(|l| (l.name.clone(), l.bound))
            .collect()
    }

    /// Stops every listener (active and draining): no new connections, requests in flight get
    /// until `deadline`; returns when all are done.
    pub(super) async fn stop(&mut self, deadline: Instant) {
        for listener in &self.active {
            let _ = listener.stop.send(Some(deadline));
        }
        let tasks: Vec<_> = (self.active.drain(..).map(|l| l.task))
            .chain(self.draining.drain(..))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Drops every listener and connection at once.
    pub(super) fn abort(&mut self) {
        for listener in self.active.drain(..) {
            listener.task.abort();
        }
        for task in self.draining.drain(..) {
            task.abort();
        }
    }
}
