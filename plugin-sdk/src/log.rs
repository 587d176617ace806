//! Logging into the gateway's log, tagged with the plugin and route. Prefer the macros
//! (`portcullis_sdk::info!("user {name} refused")`): they skip formatting when the level is off.

use crate::bindings::portcullis::plugin::log as wit;

/// How much a message matters.
pub use wit::Level;

/// The macros, also here so that `use portcullis_sdk::log::info;` reads well.
pub use crate::{debug, error, info, trace, warn};

/// Writes `message` at `level` with extra `fields`.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wit::write(level, message, &fields)
}

/// Whether a message at `level` would be written.
pub fn enabled(level: Level) -> bool {
    wit::enabled(level)
}

/// Logs at a level, formatting like `format!` only when the level is enabled.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, &::std::format!($($arg)+), &[]);
        }
    };
}

/// Logs at `trace`.
#[macro_export]
macro_rules! trace { ($($arg:tt)+) => { $crate::log!($crate::log::Level::Trace, $($arg)+) }; }
/// Logs at `debug`.
#[macro_export]
macro_rules! debug { ($($arg:tt)+) => { $crate::log!($crate::log::Level::Debug, $($arg)+) }; }
/// Logs at `info`.
#[macro_export]
macro_rules! info { ($($arg:tt)+) => { $crate::log!($crate::log::Level::Info, $($arg)+) }; }
/// Logs at `warn`.
#[macro_export]
macro_rules! warn { ($($arg:tt)+) => { $crate::log!($crate::log::Level::Warn, $($arg)+) }; }
/// Logs at `error`.
#[macro_export]
macro_rules! error { ($($arg:tt)+) => { $crate::log!($crate::log::Level::Error, $($arg)+) }; }
