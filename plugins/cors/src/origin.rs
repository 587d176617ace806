//! Allowed origins: `*`, exact origins (`https://app.example.com`) and subdomain patterns
//! (`https://*.example.com`), checked at load time and matched without allocation per entry.

use portcullis_sdk::Error;

/// One entry of `origins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginRule {
    /// `*`: any origin.
    Any,
    /// An exact origin, lower case: `https://app.example.com:8443`.
    Exact(String),
    /// `scheme://*.suffix[:port]`: `prefix` is `https://`, `suffix` is `.example.com[:port]`;
    /// the `*` stands for one or more whole DNS labels.
    Subdomains { prefix: String, suffix: String },
}

impl OriginRule {
    /// Parses one `origins` entry.
    pub(crate) fn parse(entry: &str) -> Result<Self, Error> {
        if entry == "*" {
            return Ok(Self::Any);
        }
        let bad = |why: &str| {
            Error::new(format!(
                "`origins` entry `{entry}` {why}: write an origin as `scheme://host[:port]` \
                 (no path, no trailing `/`), e.g. `https://app.example.com`, or a pattern such \
                 as `https://*.example.com`, or `*`"
            ))
        };
        let lower = entry.to_ascii_lowercase();
        let (scheme, rest) = lower
            .split_once("://")
            .ok_or_else(|| bad("has no scheme"))?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(bad("has an invalid scheme"));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("has a path, query, fragment or user info"));
        }
        let (host, port) = if rest.starts_with('[') {
            let end = rest.find(']').ok_or_else(|| bad("has an unclosed `[`"))?;
            let (host, after) = rest.split_at(end + 1);
            match after {
                "" => (host, None),
                after => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("has text after `]`"))?,
                    ),
                ),
            }
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if let Some(port) = port
            && (port.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(bad("has an invalid port"));
        }
        let host_ok = |h: &str| {
            !h.is_empty()
                && (h.starts_with('[')
                    && h.ends_with(']')
                    && h[1..h.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                    || h.split('.').all(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    }))
        };
        match host.strip_prefix("*.") {
            Some(domain) => {
                if !host_ok(domain) || domain.starts_with('[') {
                    return Err(bad("has an invalid domain after `*.`"));
                }
                let suffix = match port {
                    Some(port) => format!(".{domain}:{port}"),
                    None => format!(".{domain}"),
                };
                Ok(Self::Subdomains {
                    prefix: format!("{scheme}://"),
                    suffix,
                })
            }
            None if host.contains('*') => Err(bad(
                "has a `*` that is not a whole leftmost label (`*.example.com`)",
            )),
            None if !host_ok(host) => Err(bad("has an invalid host")),
            None => Ok(Self::Exact(lower)),
        }
    }

    /// Whether `origin` (as sent by the browser, compared case-insensitively) matches.
    pub(crate) fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact.eq_ignore_ascii_case(origin),
            Self::Subdomains { prefix, suffix } => {
                let origin = origin.to_ascii_lowercase();
                let Some(middle) = origin
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                else {
                    return false;
                };
                // One or more whole labels: `a` or `a.b`, never empty, never a port or a path.
                !middle.is_empty()
                    && middle.split('.').all(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
            }
        }
    }
}
