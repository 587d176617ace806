//! The per-request context: key/values that plugins write for later plugins, the access log and
//! the upstream call; it lives as long as the request.

/// The per-request context: a few key/values, kept in insertion order.
///
/// A vector beats a hash map here: requests carry a handful of keys at most.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, String)>,
}

impl Context {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: String, value: String) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    /// Keeps only the keys for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|(k, _)| keep(k));
    }

    /// Every key/value, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many keys are set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no plugin wrote anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
