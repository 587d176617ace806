//! A plugin's stdout and stderr: each complete line goes to the gateway's log, tagged with the
//! plugin and route, and the last few KiB of stderr are kept so that a trap can be explained
//! ("panicked at src/lib.rs:12: index out of bounds") in the same log record.
//!
//! It knows the plugin by the names its lines are tagged with, not by the store's types, so it
//! sits below `store` (which gives each instance its two streams).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much recent stderr is kept per instance.
const TAIL_BYTES: usize = 4096;
/// Longest line forwarded to the log; longer ones are cut.
const MAX_LINE: usize = 4096;
/// Most lines forwarded to the log per call, so a chatty plugin cannot flood it.
const MAX_LINES_PER_CALL: usize = 100;

/// One of a plugin instance's output streams.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    /// The plugin's display name, for the log.
    plugin: Arc<str>,
    /// Its route, or `*` for a global plugin.
    route: Arc<str>,
    is_stderr: bool,
    /// The unfinished last line.
    line: Vec<u8>,
    /// Recent stderr output since the last `take_tail`.
    tail: Vec<u8>,
    /// Lines logged since the last `clear_tail`.
    lines: usize,
}

impl GuestOutput {
    /// A stream of the plugin `plugin` on `route`: stderr, or else stdout.
    pub(crate) fn new(plugin: Arc<str>, route: Arc<str>, is_stderr: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                plugin,
                route,
                is_stderr,
                line: Vec::new(),
                tail: Vec::new(),
                lines: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain bytes behind: still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes what was written since the last call as one line (for a log record), flushing a
    /// partial line to the log. Rust's "run with RUST_BACKTRACE" hint is dropped: it cannot
    /// apply to a plugin.
    pub(crate) fn take_tail(&self) -> String {
        let mut inner = self.lock();
        inner.flush_line();
        let tail = std::mem::take(&mut inner.tail);
        String::from_utf8_lossy(&tail)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Forgets earlier output, so the tail describes the next call only.
    pub(crate) fn clear_tail(&self) {
        let mut inner = self.lock();
        inner.tail.clear();
        inner.lines = 0;
    }
}

impl Inner {
    fn write(&mut self, buf: &[u8]) {
        if self.is_stderr {
            self.tail.extend_from_slice(buf);
            if self.tail.len() > TAIL_BYTES {
                let cut = self.tail.len() - TAIL_BYTES;
                self.tail.drain(..cut);
            }
        }
        for chunk in buf.split_inclusive(|b| *b == b'\n') {
            if self.line.len() < MAX_LINE {
                let room = MAX_LINE - self.line.len();
                self.line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            if chunk.ends_with(b"\n") {
                self.flush_line();
            }
        }
    }

    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if text.is_empty() {
            self.line.clear();
            return;
        }
        let (plugin, route) = (&*self.plugin, &*self.route);
        self.lines += 1;
        if self.lines > MAX_LINES_PER_CALL {
            if self.lines == MAX_LINES_PER_CALL + 1 {
                tracing::warn!(target: "plugin", plugin, route, "more than {MAX_LINES_PER_CALL} lines of output in one call: the rest is dropped");
            }
            self.line.clear();
            return;
        }
        if self.is_stderr {
            tracing::warn!(target: "plugin", plugin, route, stream = "stderr", "{text}");
        } else {
            tracing::info!(target: "plugin", plugin, route, stream = "stdout", "{text}");
        }
        self.line.clear();
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// Writes synchronously (the default adapter buffers in a background task), so a panic
    /// message is in the tail before the trap that follows it is reported.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.lock().write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.lock().write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.lock().flush_line();
        Poll::Ready(Ok(()))
    }
}
