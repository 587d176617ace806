//! Free ports for the servers a test starts (etcd, a registry, Redis): the kernel picks one for
//! a listener that is closed at once, so the server can bind it; and the wait for such a server
//! to come up, which tells a server that died at start from one that is slow.

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

/// A port of 127.0.0.1 free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// Waits until `ready` holds for the server `child` runs (`what`, e.g. "etcd on port 2379"),
/// polling every 20 ms. Fails the test if the process exits first or `ready` does not hold
/// within `within`; a server that never came up is killed first, so no test leaves one behind.
pub fn wait_started(
    child: &mut Child,
    what: &str,
    within: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not come up within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
