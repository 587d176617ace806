//! How many client connections the process holds: the open-file limit raised to its hard
//! ceiling at start, a cap on client connections below it (`[limits] max-connections`), and
//! accept errors (out of file descriptors or buffers) met with a growing pause, not a spin.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// File descriptors kept for everything but client connections: the listeners, the log and
/// access log files, plugin files, Redis, the admin API.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The open-file limit before and after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit the process started with (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub now: Option<u64>,
    /// The hard limit, the most the soft limit may be raised to.
    pub hard: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as nginx's `worker_rlimit_nofile` and
/// Envoy's start scripts do: the default soft limit (often 1,024) is far below what a gateway
/// with thousands of clients and as many upstream connections needs. Logs both values.
#[cfg(unix)]
pub fn raise_open_file_limit() -> OpenFileLimit {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let mut limit = OpenFileLimit {
        before: before.current,
        now: before.current,
        hard: before.maximum,
    };
    if before.current != before.maximum {
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit.now = getrlimit(Resource::Nofile).current,
            Err(e) => tracing::warn!(
                soft = ?before.current,
                hard = ?before.maximum,
                error = %e,
                "could not raise the open-file limit to the hard limit"
            ),
        }
    }
    tracing::info!(
        soft_at_start = %describe(limit.before),
        soft = %describe(limit.now),
        hard = %describe(limit.hard),
        "open-file limit"
    );
    limit
}

/// Without `RLIMIT_NOFILE`, nothing to raise.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> OpenFileLimit {
    OpenFileLimit {
        before: None,
        now: None,
        hard: None,
    }
}

fn describe(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// The soft open-file limit now (`None`: unlimited or unknown).
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The cap when the manifest sets none: half of the descriptors left after the reserve, since
/// each proxied request may hold an upstream connection beside its client's (nginx counts both
/// in `worker_connections`), and at most a million.
pub fn default_max_connections(open_files: Option<u64>) -> u32 {
    const CEILING: u64 = 1_000_000;
    let Some(open_files) = open_files else {
        return CEILING as u32;
    };
    let usable = open_files.saturating_sub(RESERVED_DESCRIPTORS) / 2;
    usable.clamp(16, CEILING) as u32
}

/// Client connections open in the process, against a cap read at each accept (so a reload of
/// `max-connections` applies to the next connection).
pub struct ConnectionCap {
    open: Arc<AtomicUsize>,
    /// The cap when the manifest sets none, from the open-file limit when the cap was made.
    pub default_max: u32,
    refusals: RefusalLog,
}

impl Default for ConnectionCap {
    fn default() -> Self {
        Self::new(default_max_connections(open_file_limit()))
    }
}

impl ConnectionCap {
    /// A cap whose default is `default_max`.
    pub fn new(default_max: u32) -> Self {
        Self {
            open: Arc::default(),
            default_max,
            refusals: RefusalLog::default(),
        }
    }

    /// A slot for one more connection, unless `max` (or the default) are open already.
    pub(crate) fn enter(&self, max: Option<u32>) -> Result<Slot, Refused> {
        let max = max.unwrap_or(self.default_max) as usize;
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            let unlogged = self.refusals.refused();
            return Err(Refused { max, unlogged });
        }
        Ok(Slot(self.open.clone()))
    }

    /// Client connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One open client connection, counted until dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection refused at the cap.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The cap in force.
    pub(crate) max: usize,
    /// When a warning is due (at most one every [`WARN_EVERY`]): the refusals since the last.
    pub(crate) unlogged: Option<u64>,
}

/// How often the "connection cap reached" warning may be logged.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// Counts refusals and says when a warning is due, so a flood logs a line every
/// [`WARN_EVERY`], not one per connection.
struct RefusalLog {
    since_warning: AtomicU64,
    /// Milliseconds since `epoch` of the last warning, plus one (zero: never warned).
    warned_at: AtomicU64,
    epoch: Instant,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self {
            since_warning: AtomicU64::new(0),
            warned_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl RefusalLog {
    /// Counts one refusal; `Some(refusals since the last warning)` when a warning is due.
    fn refused(&self) -> Option<u64> {
        let count = self.since_warning.fetch_add(1, Ordering::AcqRel) + 1;
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.warned_at.load(Ordering::Acquire);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.since_warning.fetch_sub(count, Ordering::AcqRel);
            return Some(count);
        }
        None
    }
}

/// The pause after a failed `accept`, growing while failures last.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    /// The shortest pause, after a first failure.
    const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause: new connections wait in the kernel's backlog meanwhile.
    const LONGEST: Duration = Duration::from_secs(1);

    /// How long to wait after `error`: `None` when the error concerns only the connection
    /// being accepted (reset or aborted before accept), which costs no pause.
    pub(crate) fn failed(&mut self, error: &std::io::Error) -> Option<Duration> {
        if is_per_connection(error) {
            return None;
        }
        let pause = Self::FIRST
            .saturating_mul(1 << self.failures.min(7))
            .min(Self::LONGEST);
        self.failures = self.failures.saturating_add(1);
        Some(pause)
    }

    /// After an accepted connection: the next failure starts short again.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Whether the last failures were resource exhaustion (out of descriptors or memory).
    pub(crate) fn is_exhaustion(error: &std::io::Error) -> bool {
        #[cfg(unix)]
        {
            use rustix::io::Errno;
            let exhausted = [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM];
            error
                .raw_os_error()
                .is_some_and(|code| exhausted.iter().any(|e| e.raw_os_error() == code))
        }
        #[cfg(not(unix))]
        {
            let _ = error;
            false
        }
    }
}

/// Errors of one half-open connection, which `accept` reports but which leave the listener fine.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_keeps_a_reserve_and_room_for_upstream_connections() {
        assert_eq!(default_max_connections(Some(1024)), 384);
        assert_eq!(default_max_connections(Some(65_536)), 32_640);
        assert_eq!(default_max_connections(Some(100)), 16);
        assert_eq!(default_max_connections(Some(u64::MAX)), 1_000_000);
        assert_eq!(default_max_connections(None), 1_000_000);
    }

    #[test]
    fn the_cap_refuses_beyond_its_max_and_frees_slots_on_drop() {
        let cap = ConnectionCap::new(2);
        let first = cap.enter(None).expect("room for one");
        let _second = cap.enter(None).expect("room for two");
        let refused = cap.enter(None).expect_err("the third is refused");
        assert_eq!(refused.max, 2);
        assert_eq!(refused.unlogged, Some(1), "the first refusal is logged");
        assert_eq!(cap.enter(None).expect_err("still full").unlogged, None);
        drop(first);
        let _third = cap.enter(None).expect("a slot freed by the first");
        // A cap from the manifest wins over the default.
        let _fourth = cap.enter(Some(10)).expect("room under a cap of 10");
        assert_eq!(cap.open(), 3);
    }

    #[test]
    fn accept_failures_pause_longer_each_time_until_a_success() {
        let emfile = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(AcceptBackoff::is_exhaustion(&emfile));
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<_> = (0..9).filter_map(|_| backoff.failed(&emfile)).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(pauses[8], Duration::from_secs(1));
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile), Some(Duration::from_millis(10)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.failed(&reset), None);
    }
}
