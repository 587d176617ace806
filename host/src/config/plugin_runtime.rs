//! Checks the `[plugin-runtime]` table: the memory budget of all plugin instances together and
//! the size above which a reused instance is not kept idle.

use toml::Spanned;

use super::PluginRuntimeConfig;
use super::diagnostic::Diagnostic;
use super::raw::{RawPluginRuntime, Text};
use super::units::{SIZE_HELP, parse_size};

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
    PluginRuntimeConfig {
        memory_budget,
        idle_memory,
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
