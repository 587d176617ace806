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
/// tie, the longest reset). Numbers are written when the fields are visited, on the stack: a
/// `String` and a trip through the formatter for each would be most of the plugin's work.
pub(crate) fn fields<'a>(outcomes: &[Outcome], policy: &'a str) -> Fields<'a> {
    let closest = outcomes.iter().min_by(|a, b| {
        let key = |o: &Outcome| (o.decision.allowed, o.decision.remaining);
        key(a)
            .cmp(&key(b))
            .then(b.decision.reset_ms.cmp(&a.decision.reset_ms))
    });
    Fields {
        closest: closest.map(|o| {
            (
                o.limit.count,
                o.decision.remaining.min(o.limit.count),
                seconds(o.decision.reset_ms),
            )
        }),
        policy,
        retry_after: retry_after(outcomes),
    }
}

/// The fields of one request's outcome (see [`fields`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    /// Limit, remaining and reset of the limit closest to refusing; `None` without limits.
    closest: Option<(u32, u32, u64)>,
    policy: &'a str,
    retry_after: Option<u64>,
}

impl Fields<'_> {
    /// Only `Retry-After`, on a refusal: what a client is told with `headers` turned off.
    pub(crate) fn retry_after_only(outcomes: &[Outcome]) -> Self {
        Fields {
            closest: None,
            policy: "",
            retry_after: retry_after(outcomes),
        }
    }

    /// Visits each field, name and value, in order, until `visit` fails.
    pub(crate) fn try_each<E>(
        &self,
        mut visit: impl FnMut(&'static str, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut number = itoa::Buffer::new();
        if let Some((limit, remaining, reset)) = self.closest {
            visit("ratelimit-limit", number.format(limit))?;
            visit("ratelimit-remaining", number.format(remaining))?;
            visit("ratelimit-reset", number.format(reset))?;
            visit("ratelimit-policy", self.policy)?;
        }
        match self.retry_after {
            Some(wait) => visit("retry-after", number.format(wait)),
            None => Ok(()),
        }
    }

    /// Every field, name and value, in order.
    pub(crate) fn to_vec(self) -> Vec<(&'static str, String)> {
        let mut all = Vec::new();
        let _ = self.try_each(|name, value| {
            all.push((name, value.to_owned()));
            Ok::<(), std::convert::Infallible>(())
        });
        all
    }
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
