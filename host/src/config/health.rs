//! An upstream's `health` table: active checks (periodic requests to each target) and passive
//! ones (outlier detection on live traffic), as written and validated ([`ActiveHealth`],
//! [`PassiveHealth`]), with their checks.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::units::{Text, duration, integer};

/// An upstream's `health` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawHealth {
    pub(super) active: Option<RawActiveHealth>,
    pub(super) passive: Option<RawPassiveHealth>,
}

/// `health.active`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawActiveHealth {
    pub(super) path: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<Text>>,
    pub(super) timeout: Option<Spanned<Text>>,
    pub(super) healthy_threshold: Option<Spanned<i64>>,
    pub(super) unhealthy_threshold: Option<Spanned<i64>>,
}

/// `health.passive`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPassiveHealth {
    pub(super) consecutive_failures: Option<Spanned<i64>>,
    pub(super) base_ejection: Option<Spanned<Text>>,
    pub(super) max_ejection: Option<Spanned<Text>>,
    pub(super) max_ejection_percent: Option<Spanned<i64>>,
}

/// `health.active`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveHealth {
    /// The path requested with `GET` (default `/healthz`); 2xx is healthy.
    pub path: String,
    /// Time between checks of one target (default 5s).
    pub interval: Duration,
    /// Time a check may take (default 1s).
    pub timeout: Duration,
    /// Consecutive successes that bring a target back (default 2).
    pub healthy_threshold: u32,
    /// Consecutive failures that take a target out (default 3).
    pub unhealthy_threshold: u32,
}

/// `health.passive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveHealth {
    /// Consecutive connect failures or 5xx answers that eject a target (default 5).
    pub consecutive_failures: u32,
    /// The first ejection's length; each further one doubles it (default 30s).
    pub base_ejection: Duration,
    /// The longest ejection (default 300s, at least `base-ejection`).
    pub max_ejection: Duration,
    /// The most targets ejected at once, in percent (default 50; one target may always go).
    pub max_ejection_percent: u32,
}

/// Checks `health.active`; defaults stand in for the bad values (the errors are in `errors`).
pub(super) fn active(a: RawActiveHealth, what: &str, errors: &mut Vec<Diagnostic>) -> ActiveHealth {
    ActiveHealth {
        path: match a.path {
            Some(path) if path.get_ref().starts_with('/') => path.into_inner(),
            Some(path) => {
                errors.push(Diagnostic::new(
                    path.span(),
                    format!("invalid health check path `{}` in {what}", path.get_ref()),
                    "write an absolute path, e.g. \"/healthz\"",
                ));
                "/healthz".into()
            }
            None => "/healthz".into(),
        },
        interval: duration(a.interval, Duration::from_secs(5), what, errors),
        timeout: duration(a.timeout, Duration::from_secs(1), what, errors),
        healthy_threshold: integer(
            a.healthy_threshold,
            2,
            1..=100,
            what,
            "healthy-threshold",
            errors,
        ),
        unhealthy_threshold: integer(
            a.unhealthy_threshold,
            3,
            1..=100,
            what,
            "unhealthy-threshold",
            errors,
        ),
    }
}

/// Checks `health.passive`; defaults stand in for the bad values (the errors are in `errors`).
pub(super) fn passive(
    p: RawPassiveHealth,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> PassiveHealth {
    let base_ejection = duration(p.base_ejection, Duration::from_secs(30), what, errors);
    let max_ejection = duration(p.max_ejection, Duration::from_secs(300), what, errors);
    PassiveHealth {
        consecutive_failures: integer(
            p.consecutive_failures,
            5,
            1..=1000,
            what,
            "consecutive-failures",
            errors,
        ),
        base_ejection,
        max_ejection: max_ejection.max(base_ejection),
        max_ejection_percent: integer(
            p.max_ejection_percent,
            50,
            0..=100,
            what,
            "max-ejection-percent",
            errors,
        ),
    }
}
