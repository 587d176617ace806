//! WIT `context`: key/values that travel with one request along the chain (key-auth writes
//! `consumer`, a rate limiter reads it, the access log shows it). They live in the exchange, and
//! are bounded so that a plugin cannot grow a request's memory without limit.

use crate::contract::portcullis::plugin::context;
use crate::plugin::store::InstanceState;

/// Most key/values a plugin may keep in one request's context, and their sizes (`scratch` has the
/// same bounds).
pub(super) const MAX_CONTEXT_KEYS: usize = 64;
pub(super) const MAX_CONTEXT_KEY: usize = 256;
pub(super) const MAX_CONTEXT_VALUE: usize = 4096;

impl context::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.exchange()?.context.get(&key).map(str::to_owned)
    }

    fn set(&mut self, key: String, value: String) {
        let tag = self.tag.clone();
        let Some(ex) = self.exchange.as_deref_mut() else {
            return;
        };
        let fits = key.len() <= MAX_CONTEXT_KEY
            && value.len() <= MAX_CONTEXT_VALUE
            && (ex.context.len() < MAX_CONTEXT_KEYS || ex.context.get(&key).is_some());
        if fits {
            ex.context.set(key, value);
        } else {
            let key: String = key.chars().take(64).collect();
            tracing::warn!(
                target: "plugin", plugin = &*tag.plugin, route = &*ex.route, key,
                "context entry refused: at most {MAX_CONTEXT_KEYS} keys of {MAX_CONTEXT_KEY} bytes, values of {MAX_CONTEXT_VALUE} bytes"
            );
        }
    }

    fn remove(&mut self, key: String) {
        if let Some(ex) = self.exchange.as_deref_mut() {
            ex.context.remove(&key);
        }
    }
}
