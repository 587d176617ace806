//! The data each plugin instance's `Store` carries: its sandbox (WASI with nothing granted), its
//! limits, and the exchange lent to it for the call in progress.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::budget::Lease;
use super::exchange::Exchange;
use super::field_names::FieldNames;
use super::output::GuestOutput;
use crate::contract::Needs;
use crate::state::Namespace;

/// Which plugin an instance belongs to, for logs and errors.
#[derive(Debug)]
pub(crate) struct PluginTag {
    /// The plugin's display name in the manifest.
    pub plugin: Arc<str>,
    /// The route it is configured on, or `*` for a global plugin.
    pub route: Arc<str>,
}

/// Why a call was cut short by the host rather than by the guest itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The call used up its CPU time.
    CpuLimit,
    /// The instance tried to grow its memory beyond its limit.
    MemoryLimit,
    /// The growth would have taken the gateway's plugin memory beyond its budget.
    MemoryBudget,
}

/// Most entries of an instance's host resource table (WASI pollables, streams and the like):
/// far beyond what a real plugin holds at once (a handful), and small enough that a plugin
/// leaking handles costs the host well under a megabyte before it traps.
pub(crate) const MAX_HOST_HANDLES: usize = 4096;

/// The store data of one plugin instance.
pub(crate) struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The request being handled, lent for one call.
    pub(crate) exchange: Option<Box<Exchange>>,
    /// What the plugin asked for in `init`: gates body access.
    pub(crate) needs: Needs,
    pub(crate) tag: Arc<PluginTag>,
    /// The guest's stderr, kept to explain traps.
    pub(crate) stderr: GuestOutput,
    /// Epoch ticks the call in progress may still run.
    pub(crate) ticks_left: u64,
    /// Set when the host cut the call short.
    pub(crate) fault: Option<Fault>,
    /// The plugin's shared state (its own namespace of the manifest's store).
    pub(crate) state: Namespace,
    memory_limit: usize,
    /// The linear memory this instance holds, reserved from the gateway's budget.
    pub(crate) memory: Lease,
    /// The header names the plugin wrote lately, parsed.
    pub(crate) field_names: FieldNames,
}

impl InstanceState {
    /// A fresh sandbox for `tag`'s plugin with at most `memory_limit` bytes of linear memory
    /// (each growth also reserved through `memory`, from the gateway's budget) and `state` as its
    /// shared state.
    pub(crate) fn new(
        tag: Arc<PluginTag>,
        memory_limit: usize,
        memory: Lease,
        state: Namespace,
    ) -> Self {
        let stdout = GuestOutput::new(tag.plugin.clone(), tag.route.clone(), false);
        let stderr = GuestOutput::new(tag.plugin.clone(), tag.route.clone(), true);
        // No preopened directories, no environment, no arguments, no network: the builder grants
        // nothing unless asked. Clocks and randomness stay, as Rust's std needs them to start.
        let wasi = WasiCtx::builder()
            .stdout(stdout)
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HOST_HANDLES);
        Self {
            wasi,
            table,
            exchange: None,
            needs: Needs::empty(),
            tag,
            stderr,
            ticks_left: 0,
            fault: None,
            state,
            memory_limit,
            memory,
            field_names: FieldNames::default(),
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Most tables a plugin may grow to; generous for any real guest, small enough to stop a bomb.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for InstanceState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            // An error (not `Ok(false)`) traps at once with a reason we can name, instead of
            // letting the guest's allocator abort with a bare `unreachable`.
            self.fault = Some(Fault::MemoryLimit);
            wasmtime::bail!(
                "memory limit of {} bytes reached (the plugin asked for {desired})",
                self.memory_limit
            );
        }
        // Beyond the memory's own declared maximum wasmtime refuses the growth after asking
        // us: refuse it first, so that nothing is reserved for a growth that never happens.
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        if !self.memory.grow(current, desired) {
            self.fault = Some(Fault::MemoryBudget);
            wasmtime::bail!(
                "the gateway's plugin memory budget of {} bytes is spent (the plugin asked for {} more)",
                self.memory.limit(),
                desired.saturating_sub(current)
            );
        }
        Ok(true)
    }

    // A growth we allowed that the system then failed (mmap) stays reserved until the instance
    // is dropped, which follows shortly: a guest whose allocation failed traps. Counting it
    // a little longer is the safe side of the budget.

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
