//! The admin API's view of plugins: each entry once, with what every version of it costs (from
//! the host's own accounting), its breaker, its canary and its shadow; and the operator's
//! actions on a roll-out: promote, abort or reset a canary, reset a breaker.
//!
//! An entry is named by its route (`*` for a global plugin) and its name, as in
//! `POST /plugins/orders/audit/canary/promote`: the manifest gives an entry with a canary or a
//! shadow a name no other entry of its route has.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::{Value, json};

use crate::plugin::ConfiguredPlugin;
use crate::plugin::Step;
use crate::plugin::account::FAILURE_KINDS;
use crate::plugin::rollout::breaker::BreakerView;
use crate::plugin::rollout::canary::{Phase, VersionFigures};
use crate::plugin::rollout::shadow::DIVERGENCE_KINDS;
use crate::plugin::rollout::{Breaker, Version};
use crate::reload::Reloader;

/// `GET /plugins`: every entry once (a global one with route `*`), with its figures.
pub(super) fn list(reloader: &Reloader) -> Value {
    let snapshot = reloader.current().load();
    let plugins: Vec<_> = snapshot.plugin_entries().map(entry).collect();
    let memory = &snapshot.plugin_memory;
    json!({
        "version": snapshot.version,
        "memory": { "used_bytes": memory.used(), "budget_bytes": memory.limit() },
        "plugins": plugins,
    })
}

/// One entry: its stable version's figures at the top (as before canaries existed), then its
/// breaker, canary and shadow.
fn entry(step: &Step) -> Value {
    let mut value = version(step.stable());
    value["role"] = "stable".into();
    value["canary"] = match step.canary() {
        None => Value::Null,
        Some(canary) => {
            let view = canary.state.view();
            let mut candidate = version(&canary.version);
            candidate["role"] = "candidate".into();
            json!({
                "state": view.phase.as_str(),
                "weight": canary.weight,
                "sticky": canary.sticky.as_ref().map(ToString::to_string),
                "guard": {
                    "max_trap_rate": canary.state.guard().max_trap_rate,
                    "max_p99_ratio": canary.state.guard().max_p99_ratio,
                    "max_error_status_ratio": canary.state.guard().max_error_status_ratio,
                    "window_ms": millis(canary.state.guard().window),
                    "min_calls": canary.state.guard().min_calls,
                },
                "served": { "stable": view.served[0], "candidate": view.served[1] },
                "rollbacks": view.rollbacks,
                "window": { "stable": window(&view.stable), "candidate": window(&view.candidate) },
                "last_trip": view.trip.map(|trip| json!({
                    "at": unix(trip.at),
                    "reason": trip.reason,
                    "stable": window(&trip.stable),
                    "candidate": window(&trip.candidate),
                })),
                "candidate": candidate,
            })
        }
    };
    value["shadow"] = match step.shadow() {
        None => Value::Null,
        Some(shadow) => {
            let state = shadow.state();
            let load =
                |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            let divergences: serde_json::Map<_, _> = DIVERGENCE_KINDS
                .iter()
                .zip(&state.divergences)
                .map(|(kind, count)| (kind.to_string(), load(count).into()))
                .collect();
            let samples: Vec<_> = state
                .samples()
                .into_iter()
                .map(|d| {
                    json!({
                        "at": unix(d.at),
                        "request_id": &*d.request_id,
                        "kind": d.kind_name(),
                        "live": d.live,
                        "shadow": d.shadow,
                    })
                })
                .collect();
            let mut candidate = version(&Version {
                plugin: shadow.plugin().clone(),
                breaker: None,
            });
            candidate["role"] = "shadow".into();
            json!({
                "sample": shadow.sample(),
                "runs": load(&state.runs),
                "agreed": load(&state.agreed),
                "dropped": load(&state.dropped),
                "divergences": divergences,
                "samples": samples,
                "candidate": candidate,
            })
        }
    };
    value
}

/// One version's figures.
fn version(version: &Version) -> Value {
    let plugin: &ConfiguredPlugin = &version.plugin;
    let figures = plugin.stats.figures();
    let (idle, idle_bytes) = plugin.idle_instances();
    let calls = figures.calls;
    let mean = |total: Duration| {
        if calls == 0 {
            0.0
        } else {
            total.as_secs_f64() * 1e6 / calls as f64
        }
    };
    let micros = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e6);
    let failures_by_kind: serde_json::Map<_, _> = FAILURE_KINDS
        .iter()
        .zip(figures.failures_by_kind)
        .map(|(kind, n)| (kind.to_string(), n.into()))
        .collect();
    json!({
        "name": plugin.name(),
        "route": plugin.route(),
        "hash": plugin.content_hash(),
        "version": &**plugin.version(),
        "source": plugin.origin().map(|o| &*o.reference),
        "digest": plugin.origin().map(|o| &*o.digest),
        "isolation": format!("{:?}", plugin.isolation()).to_lowercase(),
        "failure": match plugin.failure_policy() {
            crate::config::FailurePolicy::FailOpen => "fail-open",
            crate::config::FailurePolicy::FailClosed => "fail-closed",
        },
        "limits": {
            "cpu_ms": plugin.cpu_limit().as_secs_f64() * 1e3,
            "memory_bytes": plugin.memory_limit(),
        },
        "calls": calls,
        "failures": figures.failures,
        "failures_by_kind": failures_by_kind,
        "fail_open_skips": figures.skipped,
        "instantiations": figures.instantiations,
        "live_instances": figures.live_instances,
        "memory_high_water_bytes": figures.memory_high_water,
        "lending": if plugin.holds_across_calls() { "request" } else { "call" },
        "idle_instances": idle,
        "idle_memory_bytes": idle_bytes,
        "oversized_drops": figures.oversized_drops,
        "limit_recycles": figures.limit_recycles,
        "largest_call_growth_bytes": figures.largest_call_growth,
        "cpu_us": { "p50": micros(figures.cpu_p50), "p99": micros(figures.cpu_p99), "mean": mean(figures.cpu_total) },
        "wall_us": { "p50": micros(figures.wall_p50), "p99": micros(figures.wall_p99), "mean": mean(figures.wall_total) },
        "call_time_us": figures.wall_total.as_micros() as u64,
        "mean_call_us": mean(figures.wall_total),
        "breaker": version.breaker.as_deref().map(breaker),
    })
}

fn breaker(breaker: &Breaker) -> Value {
    let BreakerView {
        state,
        opened,
        refused,
        last_opened,
        window_calls,
        window_failures,
    } = breaker.view();
    let spec = breaker.spec();
    json!({
        "state": state,
        "opened": opened,
        "refused": refused,
        "window": { "calls": window_calls, "failures": window_failures },
        "last_opened": last_opened.map(|(at, reason)| json!({"at": unix(at), "reason": reason})),
        "trap_rate": spec.trap_rate,
        "window_ms": millis(spec.window),
        "min_calls": spec.min_calls,
        "open_for_ms": millis(spec.open_for),
    })
}

fn window(figures: &VersionFigures) -> Value {
    let t = &figures.totals;
    json!({
        "calls": t.calls,
        "failures": t.failures,
        "answered": t.answered,
        "errors": t.errors,
        "p99_us": figures.p99.map(|d| d.as_secs_f64() * 1e6),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `POST /plugins/<route>/<name>/canary/<promote|abort|reset>` and
/// `POST /plugins/<route>/<name>/breaker/reset`: the status and the body of the answer.
pub(super) fn act(reloader: &Reloader, path: &str) -> (StatusCode, Value) {
    let parts: Vec<&str> = path.trim_start_matches("/plugins/").split('/').collect();
    let [route, name, part, action] = parts[..] else {
        return not_found(path);
    };
    let route = match route {
        "%2A" | "%2a" => "*",
        other => other,
    };
    let snapshot = reloader.current().load();
    let Some(step) = snapshot
        .plugin_entries()
        .find(|s| s.plugin().route() == route && s.plugin().name() == name)
    else {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "detail": format!("no plugin `{name}` on route `{route}` (`*` for a global one)")}),
        );
    };
    match (part, action) {
        ("canary", "promote" | "abort" | "reset") => {
            let Some(canary) = step.canary() else {
                return (
                    StatusCode::NOT_FOUND,
                    json!({"error": "not_found", "detail": format!("plugin `{name}` on route `{route}` has no canary")}),
                );
            };
            let phase = match action {
                "promote" => Phase::Promoted,
                "abort" => Phase::Aborted,
                _ => Phase::Active,
            };
            canary.state.set(phase);
            (
                StatusCode::OK,
                json!({"status": phase.as_str(), "route": route, "name": name, "canary": entry(step)["canary"].clone()}),
            )
        }
        ("breaker", "reset") => {
            let breakers: Vec<_> = std::iter::once(step.stable())
                .chain(step.canary().map(|c| &c.version))
                .filter_map(|v| v.breaker.as_ref())
                .collect();
            if breakers.is_empty() {
                return (
                    StatusCode::NOT_FOUND,
                    json!({"error": "not_found", "detail": format!("plugin `{name}` on route `{route}` has no breaker")}),
                );
            }
            for breaker in breakers {
                breaker.reset();
            }
            (
                StatusCode::OK,
                json!({"status": "closed", "route": route, "name": name}),
            )
        }
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({
            "error": "not_found",
            "detail": format!(
                "no admin endpoint `{path}`: POST /plugins/<route>/<name>/canary/<promote|abort|reset> \
                 or /plugins/<route>/<name>/breaker/reset"
            ),
        }),
    )
}
