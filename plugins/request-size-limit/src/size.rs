//! Sizes as operators write them in the manifest: `65536` or `"64KiB"`, the same units as the
//! gateway's own `memory` key.

use portcullis_sdk::Error;
use serde::Deserialize;

/// A size in the config: a whole number of bytes or a text such as `"1MiB"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Size {
    /// A number of bytes.
    Bytes(u64),
    /// A number and a unit.
    Text(String),
}

impl Size {
    /// The size in bytes; `key` names the config key in the error.
    pub fn bytes(&self, key: &str) -> Result<u64, Error> {
        match self {
            Self::Bytes(n) => Ok(*n),
            Self::Text(text) => parse(text).ok_or_else(|| {
                Error::new(format!(
                    "`{key}` = `{text}` is not a size: write a whole number of bytes or a \
                     number and a unit (B, KiB, MiB or GiB), e.g. \"1MiB\""
                ))
            }),
        }
    }
}

/// Parses `<integer><unit>` with units `B`, `KiB`, `MiB`, `GiB` (also `KB`/`MB`/`GB` and
/// `Ki`/`Mi`/`Gi`, all binary, as in the gateway's manifest), or a bare integer of bytes.
pub(crate) fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match text[digits..].trim_start() {
        "" | "B" => 1,
        "KiB" | "Ki" | "KB" => 1 << 10,
        "MiB" | "Mi" | "MB" => 1 << 20,
        "GiB" | "Gi" | "GB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}
