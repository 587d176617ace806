//! Behaviour on a machine whose cores are all busy, made busy on purpose: a binary of its own,
//! so that cargo runs it after the other test binaries, never beside them (the load would slow
//! their timed waits).
//!
//! While a canary's guard judges, its calls are timed by the thread's CPU clock: a call the
//! kernel preempted half way is not counted slow, so an equal candidate keeps its place however
//! loaded the machine is (docs/rollouts.md, "How CPU time is measured").

use portcullis_tests::manifest::one_route_with_admin;
use portcullis_tests::{EchoUpstream, TestGateway};

/// As many busy threads as the process may run on, and one more.
fn every_core() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}

/// Threads that keep every core busy until dropped: a loaded machine, whose scheduler
/// preempts the gateway's thread in the middle of plugin calls.
struct BusyCores {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyCores {
    fn start(threads: usize) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut spins = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        spins = std::hint::black_box(spins.wrapping_add(1));
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[tokio::test]
async fn a_canary_as_fast_as_the_stable_version_is_not_rolled_back_on_a_busy_machine() {
    // By the polls' wall time, a few preempted calls made an equal candidate's p99 look twice
    // the stable version's and more (rolled back in 1 of 3 runs on a 2-core machine).
    let upstream = EchoUpstream::start("echo").await;
    let plugins = r#"
[[routes.api.plugins]]
name = "even"
wasm = "@MISBEHAVE@"
config = { mode = "burn", micros = 1000 }
canary = { config = { mode = "burn", micros = 1000 }, weight = 50, guard = { min-calls = 20, max-p99-ratio = 1.5 } }
"#;
    let gateway = TestGateway::start(&one_route_with_admin(&upstream, plugins)).await;
    let client = gateway.client();
    let busy = BusyCores::start(every_core());
    for _ in 0..200 {
        assert_eq!(client.get("/").await.status, 200);
    }
    drop(busy);
    let canary = gateway.plugin_entry("even").await["canary"].clone();
    assert_eq!(canary["state"], "active", "{canary}");
}
