//! The watchdog's deadlines as specifications: when a connection is closed, and when it is let go
//! to give its buffers back.

use super::*;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(60),
        ..ConnectionLimits::default()
    }
}

fn seen(in_flight: usize, requests: u64, idle_since: u64, first: Option<u64>) -> Observed {
    Observed {
        in_flight,
        requests,
        idle_since: Duration::from_secs(idle_since),
        first_byte_while_idle: first.map(Duration::from_secs),
    }
}

fn at(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn a_connection_without_a_request_closes_at_the_header_timeout() {
    let silent = seen(0, 0, 0, None);
    assert_eq!(verdict(silent, at(3), &limits()), Verdict::CheckAt(at(10)));
    assert_eq!(
        verdict(silent, at(10), &limits()),
        Verdict::Close(Expired::Header)
    );
    // Trickling bytes do not extend it.
    let trickling = seen(0, 0, 0, Some(9));
    assert_eq!(
        verdict(trickling, at(10), &limits()),
        Verdict::Close(Expired::Header)
    );
}

#[test]
fn an_idle_connection_closes_at_the_keepalive_timeout_after_its_last_request() {
    let idle = seen(0, 3, 100, None);
    assert_eq!(verdict(idle, at(120), &limits()), Verdict::CheckAt(at(160)));
    assert_eq!(
        verdict(idle, at(160), &limits()),
        Verdict::Close(Expired::KeepAlive)
    );
}

#[test]
fn a_request_begun_late_in_the_idle_time_gets_the_header_timeout_to_finish() {
    let late = seen(0, 3, 100, Some(155));
    assert_eq!(verdict(late, at(160), &limits()), Verdict::CheckAt(at(165)));
    assert_eq!(
        verdict(late, at(165), &limits()),
        Verdict::Close(Expired::Header)
    );
    let early = seen(0, 3, 100, Some(101));
    assert_eq!(
        verdict(early, at(120), &limits()),
        Verdict::CheckAt(at(160))
    );
}

/// A connection that served one request, whose server now waits to read.
fn served_one(at: Instant) -> Arc<Activity> {
    let activity = Activity::new(at);
    drop(activity.request());
    activity.note_read(&Poll::<()>::Pending);
    activity
}

/// Serves a connection that never ends under a watchdog asking for `QUIET`; `Some(true)`
/// when it is let go as idle, `None` when it is still served after the keep-alive timeout.
async fn let_go(activity: &Activity) -> Option<bool> {
    const QUIET: Duration = Duration::from_secs(1);
    let limits = limits();
    let (_listener, draining) = watch::channel(false);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut watchdog = Watchdog::new(activity, &limits, draining, |_| {}, timer);
    let conn = std::future::pending::<Result<(), ()>>();
    tokio::pin!(conn);
    let served = watchdog.serve(conn.as_mut(), |_| {}, Some(QUIET));
    let within = limits.keepalive_timeout - Duration::from_secs(1);
    let served = tokio::time::timeout(within, served).await.ok()?;
    Some(matches!(served, Served::Idle))
}

#[tokio::test(start_paused = true)]
async fn a_quiet_connection_is_let_go_to_give_its_buffers_back() {
    let start = Instant::now();
    assert_eq!(let_go(&served_one(start)).await, Some(true));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connection_with_a_request_in_flight_bytes_read_or_writes_waiting_is_kept() {
    let busy = served_one(Instant::now());
    let _in_flight = busy.request();
    assert_eq!(let_go(&busy).await, None);

    let reading = served_one(Instant::now());
    reading.read_some();
    assert_eq!(let_go(&reading).await, None);

    let writing = served_one(Instant::now());
    writing.note_write(&Poll::<()>::Pending);
    assert_eq!(let_go(&writing).await, None);

    let fresh = Activity::new(Instant::now());
    fresh.note_read(&Poll::<()>::Pending);
    assert_eq!(
        let_go(&fresh).await,
        Some(false),
        "no request yet: closed at the header timeout"
    );
}

#[test]
fn requests_in_flight_are_never_cut_by_the_watchdog() {
    let busy = seen(2, 2, 0, None);
    assert_eq!(verdict(busy, at(500), &limits()), Verdict::CheckAt(at(560)));
}
