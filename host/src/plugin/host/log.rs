//! WIT `log`: a plugin's structured records in the gateway's log (target `plugin`), tagged with
//! the plugin, its route and the request id, and cut to a bounded size.

use crate::contract::portcullis::plugin::log;
use crate::plugin::store::InstanceState;

/// Longest log message kept from a plugin.
const MAX_LOG_MESSAGE: usize = 4096;
/// Most fields kept from one record.
const MAX_LOG_FIELDS: usize = 32;

impl log::Host for InstanceState {
    fn write(&mut self, level: log::Level, mut message: String, fields: Vec<(String, String)>) {
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("...");
        }
        let fields = &fields[..fields.len().min(MAX_LOG_FIELDS)];
        let (plugin, route) = (&*self.tag.plugin, &*self.tag.route);
        let request_id = self.exchange().map(|ex| ex.id.clone());
        let request_id = request_id.as_deref().unwrap_or("");
        let fields = FieldList(fields);
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(target: "plugin", plugin, route, request_id, fields = %fields, "{message}")
            };
        }
        match level {
            log::Level::Trace => emit!(trace),
            log::Level::Debug => emit!(debug),
            log::Level::Info => emit!(info),
            log::Level::Warn => emit!(warn),
            log::Level::Error => emit!(error),
        }
    }

    fn enabled(&mut self, level: log::Level) -> bool {
        match level {
            log::Level::Trace => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
            log::Level::Debug => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
            log::Level::Info => tracing::enabled!(target: "plugin", tracing::Level::INFO),
            log::Level::Warn => tracing::enabled!(target: "plugin", tracing::Level::WARN),
            log::Level::Error => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
        }
    }
}

/// Shows a plugin's log fields as `key=value key=value`.
struct FieldList<'a>(&'a [(String, String)]);

impl std::fmt::Display for FieldList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        Ok(())
    }
}
