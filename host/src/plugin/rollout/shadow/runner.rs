//! The thread shadow runs take turns on: one per process, started with the first shadow, with
//! a current-thread tokio runtime of its own and a bounded queue in front. One run at a time,
//! so shadows together use at most one core's worth of time and never a serving thread.

use std::sync::Mutex;

use tokio::sync::mpsc;

use super::Job;

/// Runs waiting at most; beyond, new ones are dropped and counted.
pub(crate) const QUEUE: usize = 256;

/// The queue to the runner thread.
pub struct Runner {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Runner {
    /// The process's runner (its thread starts with the first run).
    pub fn global() -> &'static Runner {
        static RUNNER: Runner = Runner {
            queue: Mutex::new(None),
        };
        &RUNNER
    }

    /// Queues `job`; `false` when the queue is full (or the thread could not start).
    pub(crate) fn submit(&self, job: Job) -> bool {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if queue.is_none() {
            *queue = start();
        }
        match queue.as_ref() {
            Some(sender) => sender.try_send(job).is_ok(),
            None => false,
        }
    }
}

/// Starts the runner thread; `None` (logged) when the system refuses a thread.
fn start() -> Option<mpsc::Sender<Job>> {
    let (sender, mut receiver) = mpsc::channel::<Job>(QUEUE);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the shadow runner's runtime: {error}");
            return None;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("portcullis-shadow".into())
        .spawn(move || {
            runtime.block_on(async move {
                while let Some(job) = receiver.recv().await {
                    job.run().await;
                }
            });
        });
    match spawned {
        Ok(_) => Some(sender),
        Err(error) => {
            tracing::error!("cannot start the shadow runner thread: {error}");
            None
        }
    }
}
