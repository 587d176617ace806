//! The header fields a client is told: `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` and `RateLimit-Policy` (IETF draft `ratelimit-headers`), and `Retry-After`
//! on a refusal. Pure functions, tested natively.

use portcullis_sdk::state::RateDecision;

use crate::config::Limit;

/// One limit's decision for this request.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// The limit.
    pub(crate) limit: Limit,
    /// What the state backend decided.
    pub(crate) decision: RateDecision,
}

/// `RateLimit-Policy` for `limits`: the same for every request, so made once, at load.
pub(crate) fn policy(limits: &[Limit]) -> String {
    limits
        .iter()
        .map(|limit| format!("{};w={}", limit.count, limit.period.as_secs()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The header fields for a request checked against `outcomes` (one per limit), with `policy`
/// (see [`policy`]). The limit reported is the one closest to refusing (fewest remaining; on a
/// tie, the longest reset).
pub(crate) fn fields(outcomes: &[Outcome], policy: &str) -> Vec<(&'static str, String)> {
    let Some(closest) = outcomes.iter().min_by(|a, b| {
        let key = |o: &Outcome| (o.decision.allowed, o.decision.remaining);
        key(a)
            .cmp(&key(b))
            .then(b.decision.reset_ms.cmp(&a.decision.reset_ms))
    }) else {
        return Vec::new();
    };
    let mut fields = vec![
        ("ratelimit-limit", closest.limit.count.to_string()),
        (
            "ratelimit-remaining",
            closest
                .decision
                .remaining
                .min(closest.limit.count)
                .to_string(),
        ),
        (
            "ratelimit-reset",
            seconds(closest.decision.reset_ms).to_string(),
        ),
        ("ratelimit-policy", policy.to_owned()),
    ];
    if let Some(wait) = retry_after(outcomes) {
        fields.push(("retry-after", wait.to_string()));
    }
    fields
}

/// Seconds until every refusing limit would admit the request, at least 1; `None` when every
/// limit admitted it.
pub(crate) fn retry_after(outcomes: &[Outcome]) -> Option<u64> {
    outcomes
        .iter()
        .filter(|o| !o.decision.allowed)
        .map(|o| seconds(o.decision.retry_after_ms).max(1))
        .max()
}

/// Milliseconds to whole seconds, rounded up: a client told to wait 0 would come back too early.
pub(crate) fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// "10 requests per minute", for the refusal's message.
pub(crate) fn describe(limit: Limit) -> String {
    let unit = match limit.period.as_secs() {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        _ => "day",
    };
    let noun = if limit.count == 1 {
        "request"
    } else {
        "requests"
    };
    format!("{} {noun} per {unit}", limit.count)
}
