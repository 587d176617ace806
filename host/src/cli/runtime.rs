//! The async runtime the gateway runs on: tokio's current-thread scheduler when it has one
//! thread to run on, the multi-thread scheduler otherwise.
//!
//! With one worker the multi-thread scheduler pays for what it cannot use: work-stealing queues,
//! a local run queue of 256 tasks that spills into a global queue polled only every few dozen
//! tasks (a proxy at 256 connections has over 500 tasks: client and upstream connections), the
//! atomics of cross-thread wake-ups. Measured on one pinned CPU at 256 connections
//! (docs/benchmarks.md): the current-thread scheduler served a request without plugins for 17 %
//! less CPU and the key-auth + rate-limit + headers chain for 35 % less, with a p99 of 8.7 ms
//! and 16.9 ms instead of 50 ms and 66 ms. One thread is what a container with one CPU gets,
//! and what the benchmarks give every proxy.

use std::num::NonZeroUsize;

use tokio::runtime::{Builder, Runtime};

/// The runtime for `threads` worker threads, or as many as the process may run on (its CPU
/// affinity and cgroup quota, as the standard library reads them).
pub(super) fn build(threads: Option<NonZeroUsize>) -> std::io::Result<Runtime> {
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    if threads == 1 {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_gets_the_current_thread_scheduler_and_more_the_multi_thread_one() {
        use tokio::runtime::RuntimeFlavor;
        let one = build(NonZeroUsize::new(1)).expect("a runtime");
        assert_eq!(one.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        let two = build(NonZeroUsize::new(2)).expect("a runtime");
        assert_eq!(two.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(two.metrics().num_workers(), 2);
    }
}
