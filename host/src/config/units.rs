//! The values every section shares, and their checks: durations (`"250ms"`, `"2s"`,
//! `"1m30s"`) and sizes (`"16MiB"`, `65536`) as operators write them, parsed without extra
//! dependencies; whole numbers within a range; section names and host names. Kept apart so
//! that each section's file depends on these helpers and never on another section's checks.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::spanned::Span;

/// A duration or size: a string, or for sizes an integer, kept as text until validation.
#[derive(Debug, Clone)]
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string such as \"2s\" or \"16MiB\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// What a duration looks like, for help lines.
const DURATION_HELP: &str =
    "write a whole number and a unit (ms, s, m or h), e.g. \"250ms\", \"2s\" or \"1m30s\"";

/// What a size looks like, for help lines.
pub(super) const SIZE_HELP: &str =
    "write a whole number of bytes or a number and a unit (B, KiB, MiB or GiB), e.g. \"16MiB\"";

/// The longest duration a manifest may give: a year. Timers and deadlines add durations to the
/// clock, and a sum past the clock's range would panic on the request path; nothing a gateway
/// waits for is longer than this.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a duration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurationError {
    /// Not `<integer><unit>` groups.
    Invalid,
    /// Longer than [`MAX_DURATION`].
    TooLong,
}

/// Parses one or more `<integer><unit>` groups, units `ms`, `s`, `m`, `h`, up to
/// [`MAX_DURATION`].
fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let total = sum_duration(text).ok_or(DurationError::Invalid)?;
    if total > MAX_DURATION {
        return Err(DurationError::TooLong);
    }
    Ok(total)
}

/// Parses one or more `<integer><unit>` groups, units `ms`, `s`, `m`, `h`, of any length that
/// a [`Duration`] holds; `None` when the text is not a duration.
fn sum_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Parses `<integer><unit>` with units `B`, `KiB`, `MiB`, `GiB` (also `KB`/`MB`/`GB` as
/// binary, as Kubernetes users expect `Mi`), or a bare integer of bytes.
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit = match text[digits..].trim_start() {
        "" | "B" => 1,
        "KiB" | "Ki" | "KB" => 1 << 10,
        "MiB" | "Mi" | "MB" => 1 << 20,
        "GiB" | "Gi" | "GB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// Parses an optional duration, reporting bad and zero ones; falls back to `default`.
pub(super) fn duration(
    value: Option<Spanned<Text>>,
    default: Duration,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Duration {
    let Some(value) = value else { return default };
    match parse_duration(&value.get_ref().0) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("zero duration in {what}"),
                "use a duration greater than zero, e.g. \"1s\"",
            ));
            default
        }
        Err(DurationError::TooLong) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!(
                    "duration `{}` in {what} is longer than a year",
                    value.get_ref().0
                ),
                "use at most \"8760h\"; nothing the gateway waits for takes longer",
            ));
            default
        }
        Err(DurationError::Invalid) => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("invalid duration `{}` in {what}", value.get_ref().0),
                DURATION_HELP,
            ));
            default
        }
    }
}

/// Parses an optional integer key within `range`, reporting others; falls back to `default`.
pub(super) fn integer(
    value: Option<Spanned<i64>>,
    default: u32,
    range: RangeInclusive<u32>,
    what: &str,
    key: &str,
    errors: &mut Vec<Diagnostic>,
) -> u32 {
    let Some(value) = value else { return default };
    match u32::try_from(*value.get_ref()) {
        Ok(n) if range.contains(&n) => n,
        _ => {
            errors.push(Diagnostic::new(
                value.span(),
                format!("`{key}` in {what} is out of range: {}", value.get_ref()),
                format!(
                    "use a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
            default
        }
    }
}

/// Names of sections: letters, digits, `-` and `_`, so they are safe in logs, metrics and URLs.
pub(super) fn check_name(kind: &str, name: &str, span: &Span, errors: &mut Vec<Diagnostic>) {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.push(Diagnostic::new(
            span.clone(),
            format!("invalid {kind} name `{name}`"),
            "use letters, digits, `-` and `_` only",
        ));
    }
}

/// A host name (DNS name or IP address, no port) in lowercase without a trailing dot.
pub(super) fn host_name(name: &str) -> Option<String> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Some(bare.to_ascii_lowercase());
    }
    server_name(name).filter(|n| !n.starts_with("*."))
}

/// A server name in lowercase without a trailing dot, if it is a DNS name or a `*.` wildcard.
pub(super) fn server_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let rest = name.strip_prefix("*.").unwrap_or(&name);
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let is_ip = rest.parse::<std::net::IpAddr>().is_ok();
    (!is_ip && rest.len() <= 253 && rest.split('.').all(label)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_compound_forms() {
        assert_eq!(sum_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(sum_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(sum_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(sum_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "2", "s", "2 seconds", "1.5s", "-1s", "2d"] {
            assert_eq!(sum_duration(bad), None, "{bad:?}");
            assert_eq!(parse_duration(bad), Err(DurationError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn durations_stop_at_a_year() {
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for long in ["8760h1ms", "18446744073709551615s", "9000h"] {
            assert_eq!(
                parse_duration(long),
                Err(DurationError::TooLong),
                "{long:?}"
            );
        }
        assert_eq!(
            parse_duration("18446744073709551616s"),
            Err(DurationError::Invalid),
            "beyond u64: not a number we read"
        );
    }

    #[test]
    fn sizes_accept_binary_units_or_bytes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("64 KiB"), Some(64 << 10));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in ["", "MiB", "16 mb", "1.5GiB", "-1"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn server_names_are_dns_names_or_wildcards_in_lowercase() {
        assert_eq!(
            server_name("API.example.com."),
            Some("api.example.com".into())
        );
        assert_eq!(server_name("*.example.com"), Some("*.example.com".into()));
        assert_eq!(server_name("a.*.example.com"), None);
        assert_eq!(server_name("127.0.0.1"), None);
        assert_eq!(server_name(""), None);
        assert_eq!(server_name("-a.example.com"), None);
    }
}
