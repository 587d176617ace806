//! WIT `scratch`: what one plugin keeps for one request between its `on-request` and its
//! `on-response`, now that the two may run on different instances. The values live in the
//! exchange under the calling plugin's position in the chain, bounded as the context is.

use super::context::{MAX_CONTEXT_KEY, MAX_CONTEXT_KEYS, MAX_CONTEXT_VALUE};
use crate::contract::portcullis::plugin::scratch;
use crate::plugin::store::InstanceState;

impl scratch::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        let ex = self.exchange()?;
        ex.scratch.get(ex.slot, &key).map(str::to_owned)
    }

    fn set(&mut self, key: String, value: String) {
        let tag = self.tag.clone();
        let Some(ex) = self.exchange.as_deref_mut() else {
            return;
        };
        let slot = ex.slot;
        let fits = key.len() <= MAX_CONTEXT_KEY
            && value.len() <= MAX_CONTEXT_VALUE
            && (ex.scratch.len(slot) < MAX_CONTEXT_KEYS || ex.scratch.get(slot, &key).is_some());
        if fits {
            ex.scratch.set(slot, key, value);
        } else {
            let key: String = key.chars().take(64).collect();
            tracing::warn!(
                target: "plugin", plugin = &*tag.plugin, route = &*ex.route, key,
                "scratch entry refused: at most {MAX_CONTEXT_KEYS} keys of {MAX_CONTEXT_KEY} bytes, values of {MAX_CONTEXT_VALUE} bytes"
            );
        }
    }

    fn remove(&mut self, key: String) {
        if let Some(ex) = self.exchange.as_deref_mut() {
            let slot = ex.slot;
            ex.scratch.remove(slot, &key);
        }
    }
}
