//! The `[plugin-runtime]` table: the memory budget of all plugin instances together and the
//! size above which a reused instance is not kept idle. The raw table as written, the validated
//! [`PluginRuntimeConfig`], and its check.

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::rollout::{self, BreakerSpec, RawBreaker};
use super::units::{SIZE_HELP, Text, parse_size};

/// The top-level `[plugin-runtime]` table: bounds on all plugin instances together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPluginRuntime {
    pub(super) memory_budget: Option<Spanned<Text>>,
    pub(super) idle_memory: Option<Spanned<Text>>,
    pub(super) breaker: Option<Spanned<RawBreaker>>,
}

/// The `[plugin-runtime]` table (see `docs/plugin-runtime.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRuntimeConfig {
    /// `memory-budget`: the most linear memory all plugin instances together may have; `None`
    /// for half the memory of the machine (or of its container, when it has a cgroup limit).
    pub memory_budget: Option<usize>,
    /// `idle-memory`: a reused instance whose memory grew beyond this size (default 64 MiB), or
    /// beyond its size after `init` when that is larger, is dropped when its request ends
    /// instead of waiting idle in the pool.
    pub idle_memory: usize,
    /// `breaker`: the circuit breaker of every plugin entry that sets none (`None`: no breaker
    /// unless an entry sets one).
    pub breaker: Option<BreakerSpec>,
}

impl Default for PluginRuntimeConfig {
    fn default() -> Self {
        Self {
            memory_budget: None,
            idle_memory: 64 << 20,
            breaker: None,
        }
    }
}

/// The smallest budget accepted: one small plugin instance needs about 1 MiB.
const MIN_BUDGET: u64 = 16 << 20;
/// The bounds of `idle-memory`: a Wasm page, and the largest memory a plugin may have.
const IDLE_MEMORY: std::ops::RangeInclusive<u64> = (64 << 10)..=(1 << 30);

/// The validated table; errors are pushed and defaults stand in for the bad values.
pub(super) fn config(raw: RawPluginRuntime, errors: &mut Vec<Diagnostic>) -> PluginRuntimeConfig {
    let defaults = PluginRuntimeConfig::default();
    let memory_budget = raw.memory_budget.and_then(|value| {
        size(
            value,
            MIN_BUDGET..=u64::MAX,
            "`memory-budget` in `[plugin-runtime]` must be at least 16MiB",
            "the budget is shared by every plugin instance, e.g. `memory-budget = \"2GiB\"`",
            errors,
        )
    });
    let idle_memory = raw
        .idle_memory
        .and_then(|value| {
            size(
                value,
                IDLE_MEMORY,
                "`idle-memory` in `[plugin-runtime]` must be between 64KiB and 1GiB",
                "e.g. `idle-memory = \"64MiB\"`",
                errors,
            )
        })
        .unwrap_or(defaults.idle_memory);
    let breaker = raw
        .breaker
        .map(|b| rollout::breaker(b.get_ref(), "`[plugin-runtime] breaker`", errors));
    PluginRuntimeConfig {
        memory_budget,
        idle_memory,
        breaker,
    }
}

/// A size in `range`, or an error naming the value.
fn size(
    value: Spanned<Text>,
    range: std::ops::RangeInclusive<u64>,
    out_of_range: &str,
    help: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<usize> {
    let text = &value.get_ref().0;
    let Some(bytes) = parse_size(text) else {
        errors.push(Diagnostic::new(
            value.span(),
            format!("invalid size `{text}` in `[plugin-runtime]`"),
            SIZE_HELP,
        ));
        return None;
    };
    match usize::try_from(bytes)
        .ok()
        .filter(|_| range.contains(&bytes))
    {
        Some(bytes) => Some(bytes),
        None => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("{out_of_range}, not `{text}`"),
                help,
            ));
            None
        }
    }
}
