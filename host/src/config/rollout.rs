//! The keys of a plugin entry that make its changes safe to roll out: `canary` (a candidate
//! version taking a share of requests, watched by its `guard`), `breaker` (stop calling a
//! plugin that keeps failing) and `shadow` (a candidate run on copies, never applied).
//!
//! This file reads the keys of its own (weight, sticky, guard, sample, the breaker's); the
//! candidate itself is the entry with some keys overridden, which `plugin` lays over the
//! entry's table and checks with the entry's own check, so every error of a plugin entry reads
//! the same in a candidate and points at the key that caused it.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::units::{Text, duration};

/// A `canary` or `shadow` table: the entry's keys it overrides, and its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawVariant {
    pub(super) plugin: Option<Spanned<String>>,
    pub(super) wasm: Option<Spanned<String>>,
    pub(super) isolation: Option<Spanned<String>>,
    pub(super) failure: Option<Spanned<String>>,
    pub(super) memory: Option<Spanned<Text>>,
    pub(super) cpu: Option<Spanned<Text>>,
    pub(super) max_requests: Option<Spanned<i64>>,
    pub(super) config: Option<Spanned<toml::Table>>,
    pub(super) config_files: Option<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>,
    pub(super) config_files_base64:
        Option<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>,
    /// `canary`: the percentage of requests it takes.
    pub(super) weight: Option<Spanned<Number>>,
    /// `canary`: what keeps one caller on one version.
    pub(super) sticky: Option<Spanned<String>>,
    /// `canary`: when it is rolled back.
    pub(super) guard: Option<Spanned<RawGuard>>,
    /// `shadow`: the share of requests copied to it.
    pub(super) sample: Option<Spanned<Text>>,
}

/// A canary's `guard` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawGuard {
    max_trap_rate: Option<Spanned<Text>>,
    max_p99_ratio: Option<Spanned<Number>>,
    max_error_status_ratio: Option<Spanned<Number>>,
    window: Option<Spanned<Text>>,
    min_calls: Option<Spanned<i64>>,
}

/// A `breaker` table, or `false` to turn the manifest's default off for one entry.
#[derive(Debug, Clone)]
pub(super) enum RawBreakerChoice {
    /// `breaker = false` (`true` is refused: it says nothing about the thresholds).
    Switch(bool),
    /// `breaker = { ... }`.
    Table(RawBreaker),
}

impl<'de> Deserialize<'de> for RawBreakerChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawBreakerChoice;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table such as { trap-rate = \"50%\" }, or false")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawBreakerChoice::Switch(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let de = serde::de::value::MapAccessDeserializer::new(map);
                RawBreaker::deserialize(de).map(RawBreakerChoice::Table)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A `breaker` table, on an entry or in `[plugin-runtime]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawBreaker {
    trap_rate: Option<Spanned<Text>>,
    window: Option<Spanned<Text>>,
    min_calls: Option<Spanned<i64>>,
    open_for: Option<Spanned<Text>>,
}

/// A whole or decimal number.
#[derive(Debug, Clone, Copy)]
pub(super) struct Number(f64);

impl Number {
    fn value(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number such as 5 or 2.5")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
                // Weights and ratios are small: the conversion is exact for them.
                Ok(Number(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A canary's own keys (its plugin is the entry's, overlaid: `plugin::CanarySpec`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CanaryKeys {
    pub(super) weight: f64,
    pub(super) sticky: Option<Sticky>,
    pub(super) guard: GuardSpec,
}

/// What a sticky canary hashes to choose a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sticky {
    /// `sticky = "client-ip"`: the client's address.
    ClientIp,
    /// `sticky = "header:<name>"`: a request header.
    Header(http::HeaderName),
    /// `sticky = "<key>"` (or `"context:<key>"`): a request context key an earlier plugin set,
    /// such as `consumer`.
    Context(String),
}

impl std::fmt::Display for Sticky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sticky::ClientIp => f.write_str("client-ip"),
            Sticky::Header(name) => write!(f, "header:{name}"),
            Sticky::Context(key) => write!(f, "context:{key}"),
        }
    }
}

/// A canary's `guard`: the candidate against the stable version over a sliding window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardSpec {
    /// `max-trap-rate`: the most calls of the candidate that may fail, as a fraction (default 1%).
    pub max_trap_rate: f64,
    /// `max-p99-ratio`: the candidate's p99 call time over the stable's (default 2.0).
    pub max_p99_ratio: f64,
    /// `max-error-status-ratio`: the candidate's share of 5xx answers over the stable's
    /// (default 1.5).
    pub max_error_status_ratio: f64,
    /// `window`: how far back the figures go (default 60s).
    pub window: Duration,
    /// `min-calls`: calls of a version in the window before it is judged (default 200).
    pub min_calls: u64,
}

impl Default for GuardSpec {
    fn default() -> Self {
        Self {
            max_trap_rate: 0.01,
            max_p99_ratio: 2.0,
            max_error_status_ratio: 1.5,
            window: Duration::from_secs(60),
            min_calls: 200,
        }
    }
}

/// A plugin circuit breaker: stop calling a plugin whose calls keep failing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSpec {
    /// `trap-rate`: the share of failed calls in the window that opens it (default 50%).
    pub trap_rate: f64,
    /// `window`: how far back calls are counted (default 10s).
    pub window: Duration,
    /// `min-calls`: calls in the window before it may open (default 20).
    pub min_calls: u64,
    /// `open-for`: how long it stays open before probing (default 30s).
    pub open_for: Duration,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        Self {
            trap_rate: 0.5,
            window: Duration::from_secs(10),
            min_calls: 20,
            open_for: Duration::from_secs(30),
        }
    }
}

/// What a help line says a percentage looks like.
const PERCENT_HELP: &str = "write a percentage as a string, e.g. \"1%\" or \"0.5%\"";

/// The canary's own keys, checked; `None` with errors pushed.
pub(super) fn canary(
    raw: &Spanned<RawVariant>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<CanaryKeys> {
    let before = errors.len();
    let table = raw.get_ref();
    if let Some(sample) = &table.sample {
        errors.push(Diagnostic::new(
            sample.span(),
            format!("`sample` is a key of `shadow`, not of the `canary` of {what}"),
            "a canary takes a share of requests with `weight = <percent>`",
        ));
    }
    let weight = match &table.weight {
        None => {
            errors.push(Diagnostic::new(
                raw.span(),
                format!("the `canary` of {what} has no `weight`"),
                "add `weight = 5` to send 5% of requests to the candidate",
            ));
            0.0
        }
        Some(w) => {
            let value = w.get_ref().value();
            if !(0.0..=100.0).contains(&value) {
                errors.push(Diagnostic::new(
                    w.span(),
                    format!("the canary `weight` of {what} must be from 0 to 100, not {value}"),
                    "it is the percentage of requests that take the candidate, e.g. `weight = 5`",
                ));
            }
            value
        }
    };
    let sticky = table.sticky.as_ref().and_then(|s| sticky(s, what, errors));
    let guard = match &table.guard {
        None => GuardSpec::default(),
        Some(g) => guard(g.get_ref(), &format!("the canary guard of {what}"), errors),
    };
    (errors.len() == before).then_some(CanaryKeys {
        weight,
        sticky,
        guard,
    })
}

/// The shadow's own key, `sample` (0 to 1), checked; `None` with errors pushed.
pub(super) fn shadow(
    raw: &Spanned<RawVariant>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<f64> {
    let before = errors.len();
    let table = raw.get_ref();
    for (key, span) in [
        ("weight", table.weight.as_ref().map(Spanned::span)),
        ("sticky", table.sticky.as_ref().map(Spanned::span)),
        ("guard", table.guard.as_ref().map(Spanned::span)),
    ] {
        if let Some(span) = span {
            errors.push(Diagnostic::new(
                span,
                format!("`{key}` is a key of `canary`, not of the `shadow` of {what}"),
                "a shadow never serves requests: it takes copies, `sample = \"10%\"`",
            ));
        }
    }
    let sample = match &table.sample {
        None => {
            errors.push(Diagnostic::new(
                raw.span(),
                format!("the `shadow` of {what} has no `sample`"),
                "add `sample = \"10%\"` to copy one request in ten to the candidate",
            ));
            0.0
        }
        Some(s) => percent(s, &format!("the shadow `sample` of {what}"), errors).unwrap_or(0.0),
    };
    (errors.len() == before).then_some(sample)
}

/// A `breaker` key: `Some(Some(spec))` for a table, `Some(None)` for `false`, `None` on error.
pub(super) fn breaker_choice(
    raw: &Spanned<RawBreakerChoice>,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<Option<BreakerSpec>> {
    match raw.get_ref() {
        RawBreakerChoice::Switch(false) => Some(None),
        RawBreakerChoice::Switch(true) => {
            errors.push(Diagnostic::new(
                raw.span(),
                format!("`breaker = true` in {what} does not say when it opens"),
                "write `breaker = {}` for the defaults (trap-rate \"50%\", window \"10s\", \
                 min-calls 20, open-for \"30s\") or give them, or `breaker = false` for none",
            ));
            None
        }
        RawBreakerChoice::Table(table) => {
            let before = errors.len();
            let spec = breaker(table, &format!("the breaker of {what}"), errors);
            (errors.len() == before).then_some(Some(spec))
        }
    }
}

/// A `breaker` table, defaults standing in for what it leaves out.
pub(super) fn breaker(raw: &RawBreaker, what: &str, errors: &mut Vec<Diagnostic>) -> BreakerSpec {
    let defaults = BreakerSpec::default();
    BreakerSpec {
        trap_rate: raw
            .trap_rate
            .as_ref()
            .and_then(|r| percent(r, &format!("`trap-rate` of {what}"), errors))
            .unwrap_or(defaults.trap_rate),
        window: duration(raw.window.clone(), defaults.window, what, errors),
        min_calls: min_calls(raw.min_calls.as_ref(), defaults.min_calls, what, errors),
        open_for: duration(raw.open_for.clone(), defaults.open_for, what, errors),
    }
}

fn guard(raw: &RawGuard, what: &str, errors: &mut Vec<Diagnostic>) -> GuardSpec {
    let defaults = GuardSpec::default();
    let ratio = |value: &Option<Spanned<Number>>, key: &str, default: f64, errors: &mut Vec<_>| {
        let Some(value) = value else { return default };
        let ratio = value.get_ref().value();
        if ratio.is_finite() && ratio >= 1.0 {
            return ratio;
        }
        errors.push(Diagnostic::new(
            value.span(),
            format!("`{key}` of {what} must be at least 1.0, not {ratio}"),
            format!("it compares the candidate with the stable version, e.g. `{key} = 2.0`"),
        ));
        default
    };
    GuardSpec {
        max_trap_rate: raw
            .max_trap_rate
            .as_ref()
            .and_then(|r| percent(r, &format!("`max-trap-rate` of {what}"), errors))
            .unwrap_or(defaults.max_trap_rate),
        max_p99_ratio: ratio(
            &raw.max_p99_ratio,
            "max-p99-ratio",
            defaults.max_p99_ratio,
            errors,
        ),
        max_error_status_ratio: ratio(
            &raw.max_error_status_ratio,
            "max-error-status-ratio",
            defaults.max_error_status_ratio,
            errors,
        ),
        window: duration(raw.window.clone(), defaults.window, what, errors),
        min_calls: min_calls(raw.min_calls.as_ref(), defaults.min_calls, what, errors),
    }
}

fn min_calls(
    value: Option<&Spanned<i64>>,
    default: u64,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> u64 {
    let Some(value) = value else { return default };
    match u64::try_from(*value.get_ref()) {
        Ok(n) if (1..=1_000_000).contains(&n) => n,
        _ => {
            errors.push(Diagnostic::new(
                value.span(),
                format!(
                    "`min-calls` of {what} must be from 1 to 1000000, not {}",
                    value.get_ref()
                ),
                "it is how many calls the window must hold before judging, e.g. `min-calls = 200`",
            ));
            default
        }
    }
}

/// `"12.5%"` as a fraction (0.125).
fn percent(value: &Spanned<Text>, what: &str, errors: &mut Vec<Diagnostic>) -> Option<f64> {
    let text = value.get_ref().0.trim();
    let parsed = text
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|n| (0.0..=100.0).contains(n));
    if parsed.is_none() {
        errors.push(Diagnostic::new(
            value.span(),
            format!("invalid percentage `{text}` for {what}"),
            format!("{PERCENT_HELP}, from \"0%\" to \"100%\""),
        ));
    }
    parsed.map(|n| n / 100.0)
}

fn sticky(value: &Spanned<String>, what: &str, errors: &mut Vec<Diagnostic>) -> Option<Sticky> {
    let text = value.get_ref().trim();
    let invalid = |errors: &mut Vec<Diagnostic>, message: String| {
        errors.push(Diagnostic::new(
            value.span(),
            message,
            "use `client-ip`, `header:<name>` or a request context key such as `consumer` \
             (or `context:<key>`)",
        ));
        None
    };
    if text == "client-ip" {
        return Some(Sticky::ClientIp);
    }
    if let Some(name) = text.strip_prefix("header:") {
        return match http::HeaderName::from_bytes(name.trim().as_bytes()) {
            Ok(name) => Some(Sticky::Header(name)),
            Err(_) => invalid(
                errors,
                format!("`{name}` in the canary `sticky` of {what} is not a header name"),
            ),
        };
    }
    let key = text.strip_prefix("context:").unwrap_or(text).trim();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid(
            errors,
            format!("invalid canary `sticky` `{text}` of {what}"),
        );
    }
    Some(Sticky::Context(key.to_owned()))
}

#[cfg(test)]
mod tests;
