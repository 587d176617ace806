//! Durations (`"250ms"`, `"2s"`, `"1m30s"`) and sizes (`"16MiB"`, `65536`) as operators
//! write them, parsed without extra dependencies.

use std::time::Duration;

/// What a duration looks like, for help lines.
pub(super) const DURATION_HELP: &str =
    "write a whole number and a unit (ms, s, m or h), e.g. \"250ms\", \"2s\" or \"1m30s\"";

/// What a size looks like, for help lines.
pub(super) const SIZE_HELP: &str =
    "write a whole number of bytes or a number and a unit (B, KiB, MiB or GiB), e.g. \"16MiB\"";

/// The longest duration a manifest may give: a year. Timers and deadlines add durations to the
/// clock, and a sum past the clock's range would panic on the request path; nothing a gateway
/// waits for is longer than this.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a duration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DurationError {
    /// Not `<integer><unit>` groups.
    Invalid,
    /// Longer than [`MAX_DURATION`].
    TooLong,
}

/// Parses one or more `<integer><unit>` groups, units `ms`, `s`, `m`, `h`, up to
/// [`MAX_DURATION`].
pub(super) fn duration(text: &str) -> Result<Duration, DurationError> {
    let total = parse_duration(text).ok_or(DurationError::Invalid)?;
    if total > MAX_DURATION {
        return Err(DurationError::TooLong);
    }
    Ok(total)
}

/// Parses one or more `<integer><unit>` groups, units `ms`, `s`, `m`, `h`, of any length that
/// a [`Duration`] holds; `None` when the text is not a duration.
fn parse_duration(text: &str) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_compound_forms() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "2", "s", "2 seconds", "1.5s", "-1s", "2d"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
            assert_eq!(duration(bad), Err(DurationError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn durations_stop_at_a_year() {
        assert_eq!(duration("8760h"), Ok(MAX_DURATION));
        for long in ["8760h1ms", "18446744073709551615s", "9000h"] {
            assert_eq!(duration(long), Err(DurationError::TooLong), "{long:?}");
        }
        assert_eq!(
            duration("18446744073709551616s"),
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
}
