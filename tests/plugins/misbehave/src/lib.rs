//! A test-only plugin that misbehaves on purpose, in each of the ways a plugin can, so the tests
//! can prove the gateway contains it: `trap`, `panic`, `error`, `loop`, `memory`,
//! `reject-config`; `stateful` counts requests in plugin memory and sends the count upstream
//! in `x-count` (to tell isolation modes apart); `none` behaves. With `after = N` it misbehaves only on every N-th request.
//!
//! Two more modes serve the plugin-cost benchmark (`tests/benches/plugin_cost.rs`): `read-one`
//! reads one header through the host, `read-all` copies every header into the guest. `bodies`
//! exercises body access: it upper-cases the request body and wraps the response body.
//! `shared` uses the host's state: it counts requests in a shared counter and remembers the
//! previous request's path in the key/value store (`/forget` deletes it), and reports both in
//! `x-shared-count` and `x-previous-path`.
//!
//! `metrics` emits metrics of its own: in `on-request` the counter `requests_seen` (label
//! `method`), the counter `by_label` (label `value` from the `x-metric-label` header, when
//! given: to test the cardinality bound) and a counter named by the `x-metric-name` header
//! (to test invalid names: the host's error comes back in `x-metric-error`); in `on-response`
//! the histogram `path_bytes`, the request path's length. `context` sets the request context
//! keys `consumer` (`alice`) and `internal` (`hidden`), for the access log's `context` filter.
//!
//! Two modes take host resources on purpose: `grow` keeps `mib` more MiB of memory (touched,
//! so resident) on every request, for the gateway's memory budget and idle bounds; `handles`
//! creates `count` WASI pollables (clock subscriptions) on every request and never drops them,
//! for the bound on host handles.
//!
//! Two more serve the roll-out tests: `burn` keeps the CPU busy for `micros` microseconds
//! (by the monotonic clock) on every request, for the cost accounting and a slow canary;
//! `deny` answers `status` (403 by default) to every request, for a shadow that disagrees.

// Only the component is ever used; a native build (clippy, `cargo test --workspace`) sees no caller.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use portcullis_sdk::{
    Action, Error, Needs, Plugin, Request, Response, context, export_plugin, metrics, scratch,
    state,
};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    None,
    Trap,
    Panic,
    Error,
    Loop,
    Memory,
    RejectConfig,
    Stateful,
    ReadOne,
    ReadAll,
    Bodies,
    Shared,
    Metrics,
    Context,
    Grow,
    Handles,
    Burn,
    Deny,
    Scratch,
    Early,
    EarlyError,
    Sleep,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
    #[serde(default)]
    after: Option<u64>,
    /// `grow`: MiB kept per request.
    #[serde(default)]
    mib: usize,
    /// `handles`: pollables created per request.
    #[serde(default)]
    count: usize,
    /// `burn`: microseconds of CPU per request.
    #[serde(default)]
    micros: u64,
    /// `deny`: the status of the answer.
    #[serde(default)]
    status: Option<u16>,
}

struct Misbehave {
    mode: Mode,
    after: Option<u64>,
    mib: usize,
    count: usize,
    micros: u64,
    status: u16,
    /// `grow`: what it keeps.
    hoard: RefCell<Vec<Vec<u8>>>,
    requests: Cell<u64>,
    /// `shared`: the counter's value and the previous path, for `on_response`.
    shared: RefCell<Option<(i64, String)>>,
    /// `metrics`: the error the host gave for `x-metric-name`, for `on_response`.
    metric_error: RefCell<Option<String>>,
}

impl Plugin for Misbehave {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        if config.mode == Mode::RejectConfig {
            return Err("mode reject-config always rejects its config".into());
        }
        Ok(Self {
            mode: config.mode,
            after: config.after,
            mib: config.mib,
            count: config.count,
            micros: config.micros,
            status: config.status.unwrap_or(403),
            hoard: RefCell::new(Vec::new()),
            requests: Cell::new(0),
            shared: RefCell::new(None),
            metric_error: RefCell::new(None),
        })
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let n = self.requests.get() + 1;
        self.requests.set(n);
        let now = self
            .after
            .is_none_or(|after| after > 0 && n.is_multiple_of(after));
        if !now {
            return Ok(Action::Continue);
        }
        match self.mode {
            Mode::None | Mode::RejectConfig => Ok(Action::Continue),
            Mode::Stateful => {
                // The count as this instance has it, on the request: a request's `on-response`
                // may be served by another instance.
                req.set_header("x-count", &n.to_string())?;
                Ok(Action::Continue)
            }
            Mode::Shared => {
                let count = state::increment("requests", 1, None)?;
                let previous = state::get("previous-path")?
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                let path = req.path();
                if path == "/forget" {
                    state::delete("previous-path")?;
                } else {
                    state::set(
                        "previous-path",
                        path.as_bytes(),
                        Some(Duration::from_secs(60)),
                    )?;
                }
                *self.shared.borrow_mut() = Some((count, previous.unwrap_or_else(|| "-".into())));
                Ok(Action::Continue)
            }
            Mode::Context => {
                context::set("consumer", "alice");
                context::set("internal", "hidden");
                Ok(Action::Continue)
            }
            Mode::Metrics => {
                metrics::counter("requests_seen", &[("method", &req.method())], 1)?;
                if let Some(value) = req.header("x-metric-label") {
                    metrics::counter("by_label", &[("value", &value)], 1)?;
                }
                if let Some(name) = req.header("x-metric-name") {
                    let refused = metrics::counter(&name, &[], 1).err();
                    *self.metric_error.borrow_mut() = refused.map(|e| e.to_string());
                }
                Ok(Action::Continue)
            }
            Mode::Bodies => {
                let body = req.body().ok_or("the request body was not lent")?;
                req.set_body(&body.to_ascii_uppercase())?;
                Ok(Action::Continue)
            }
            Mode::ReadOne => {
                std::hint::black_box(req.header("x-probe"));
                Ok(Action::Continue)
            }
            Mode::ReadAll => {
                std::hint::black_box(req.headers());
                Ok(Action::Continue)
            }
            Mode::Trap => trap(),
            Mode::Panic => panic!("misbehave asked to panic"),
            Mode::Error => Err("misbehave asked to fail".into()),
            Mode::Loop => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            Mode::Grow => {
                let mut hoard = self.hoard.borrow_mut();
                for _ in 0..self.mib {
                    hoard.push(vec![1u8; 1 << 20]);
                }
                std::hint::black_box(&hoard);
                Ok(Action::Continue)
            }
            Mode::Handles => {
                leak_pollables(self.count);
                Ok(Action::Continue)
            }
            Mode::Burn => {
                burn(self.micros);
                Ok(Action::Continue)
            }
            Mode::Deny => Ok(Action::Respond(portcullis_sdk::Reply::new(self.status))),
            Mode::Sleep => {
                // Blocks in a WASI poll: no guest code runs, so no CPU tick is spent.
                std::thread::sleep(Duration::from_micros(self.micros));
                Ok(Action::Continue)
            }
            Mode::Scratch => {
                scratch::set("path", &req.path());
                Ok(Action::Continue)
            }
            Mode::Early => {
                req.set_response_header("x-early", "1")?;
                Ok(Action::Continue)
            }
            Mode::EarlyError => {
                req.set_response_header("x-early", "1")?;
                Err("misbehave asked to fail after a response edit".into())
            }
            Mode::Memory => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
        }
    }

    fn on_response(&self, req: &Request, resp: &Response) -> Result<(), Error> {
        resp.set_header("x-misbehave", "ok")?;
        if self.mode == Mode::Metrics {
            metrics::histogram("path_bytes", &[], req.path().len() as f64)?;
            if let Some(error) = self.metric_error.borrow_mut().take() {
                resp.set_header("x-metric-error", &error)?;
            }
        }
        if self.mode == Mode::Bodies {
            let body = resp.body().ok_or("the response body was not lent")?;
            let mut wrapped = b"wrapped:".to_vec();
            wrapped.extend_from_slice(&body);
            resp.set_body(&wrapped)?;
        }
        if self.mode == Mode::Scratch
            && let Some(path) = scratch::get("path")
        {
            resp.set_header("x-scratch-path", &path)?;
        }
        if self.mode == Mode::Early {
            if let Some(early) = resp.header("x-early") {
                resp.set_header("x-early-seen", &early)?;
            }
            let refused = match req.set_response_header("x-late", "1") {
                Ok(()) => "accepted".to_owned(),
                Err(error) => error.to_string(),
            };
            resp.set_header("x-late-error", &refused)?;
        }
        if let Some((count, previous)) = self.shared.borrow_mut().take() {
            resp.set_header("x-shared-count", &count.to_string())?;
            resp.set_header("x-previous-path", &previous)?;
        }
        Ok(())
    }

    fn needs(&self) -> Needs {
        match self.mode {
            Mode::None
            | Mode::ReadOne
            | Mode::ReadAll
            | Mode::Burn
            | Mode::Deny
            | Mode::EarlyError
            | Mode::Sleep => Needs::ON_REQUEST,
            Mode::Bodies => {
                Needs::ON_REQUEST | Needs::ON_RESPONSE | Needs::REQUEST_BODY | Needs::RESPONSE_BODY
            }
            _ => Needs::ON_REQUEST | Needs::ON_RESPONSE,
        }
    }
}

/// Subscribes to the clock `count` times and forgets every pollable, so each stays in the
/// host's resource table.
#[cfg(target_arch = "wasm32")]
fn leak_pollables(count: usize) {
    for _ in 0..count {
        let pollable = wasip2::clocks::monotonic_clock::subscribe_duration(1_000_000_000);
        std::mem::forget(pollable);
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn leak_pollables(_count: usize) {}

/// Spins until `micros` microseconds have passed on the monotonic clock.
#[cfg(target_arch = "wasm32")]
fn burn(micros: u64) {
    let until = wasip2::clocks::monotonic_clock::now() + micros * 1_000;
    let mut x: u64 = 0;
    while wasip2::clocks::monotonic_clock::now() < until {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn burn(_micros: u64) {}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

export_plugin!(Misbehave);
