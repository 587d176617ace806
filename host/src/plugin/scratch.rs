//! What each plugin keeps for one request between its own `on-request` and `on-response` (WIT
//! `scratch`): since contract 0.1.2 the two calls may run on different instances, so a plugin
//! cannot keep that in its memory, and the host keeps it with the request instead.

/// Every plugin's scratch values for one request, keyed by the plugin's position in the chain.
///
/// A vector, as for the context: a request carries a handful of entries at most, and most
/// requests none (nothing is allocated until a plugin sets one).
#[derive(Debug, Default)]
pub struct Scratch {
    entries: Vec<(usize, String, String)>,
}

impl Scratch {
    /// The value that plugin `slot` set for `key`.
    pub fn get(&self, slot: usize, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(s, k, _)| *s == slot && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// Sets `key` for plugin `slot`, replacing an earlier value.
    pub fn set(&mut self, slot: usize, key: String, value: String) {
        match self
            .entries
            .iter_mut()
            .find(|(s, k, _)| *s == slot && *k == key)
        {
            Some(entry) => entry.2 = value,
            None => self.entries.push((slot, key, value)),
        }
    }

    /// Removes plugin `slot`'s `key`.
    pub fn remove(&mut self, slot: usize, key: &str) {
        self.entries.retain(|(s, k, _)| !(*s == slot && k == key));
    }

    /// How many keys plugin `slot` has set.
    pub fn len(&self, slot: usize) -> usize {
        self.entries.iter().filter(|(s, _, _)| *s == slot).count()
    }
}

#[cfg(test)]
mod tests {
    use super::Scratch;

    #[test]
    fn each_plugin_sees_only_its_own_values() {
        let mut scratch = Scratch::default();
        scratch.set(0, "k".into(), "first".into());
        scratch.set(1, "k".into(), "second".into());
        scratch.set(0, "k".into(), "replaced".into());

        assert_eq!(scratch.get(0, "k"), Some("replaced"));
        assert_eq!(scratch.get(1, "k"), Some("second"));
        assert_eq!(scratch.get(2, "k"), None);
        assert_eq!(scratch.len(0), 1);

        scratch.remove(0, "k");
        assert_eq!(scratch.get(0, "k"), None);
        assert_eq!(scratch.get(1, "k"), Some("second"));
    }
}
