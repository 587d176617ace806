//! The snapshot in service, swapped atomically by a reload, with what outlives snapshots: the
//! metrics and the access log.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Snapshot;
use crate::observe::access_log::AccessLog;
use crate::observe::metrics::Metrics;

/// The snapshot in service, swapped atomically on reload.
/// It also holds the metrics, which outlive every snapshot.
pub struct Current {
    snapshot: ArcSwap<Snapshot>,
    metrics: Metrics,
    /// Swapped when a reload changes `[access-log]`; a request keeps the one it started with.
    access_log: ArcSwap<AccessLog>,
}

impl Current {
    /// Starts serving `snapshot`, with fresh metrics and access lines on the `access` log
    /// target.
    pub fn new(snapshot: Snapshot) -> Self {
        Self::with_access_log(snapshot, AccessLog::default())
    }

    /// Starts serving `snapshot`, writing access lines to `access_log`.
    pub fn with_access_log(snapshot: Snapshot, access_log: AccessLog) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics: Metrics::new(),
            access_log: ArcSwap::from_pointee(access_log),
        }
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where access lines go now.
    pub fn access_log(&self) -> Arc<AccessLog> {
        self.access_log.load_full()
    }

    /// Sends access lines to `access_log` from now on. The writer of the previous one finishes
    /// the lines already queued (and those of requests still in flight), then closes.
    pub fn set_access_log(&self, access_log: AccessLog) {
        self.access_log.store(Arc::new(access_log));
    }

    /// The snapshot for a new request.
    pub fn load(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Publishes `snapshot` for every request that starts from now on.
    pub fn swap(&self, snapshot: Arc<Snapshot>) {
        self.snapshot.store(snapshot);
    }
}
