//! Successful verifications remembered in the instance: SHA-256 of user and password, at most
//! `capacity` of them, the oldest forgotten first. A wrong password is never remembered, so
//! the cache cannot be filled by guessing.

use std::collections::{BTreeSet, VecDeque};

use sha2::{Digest, Sha256};

/// The digests of credentials that verified.
pub(crate) struct Cache {
    capacity: usize,
    known: BTreeSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Cache {
    /// An empty cache holding at most `capacity` entries (0: remember nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            known: BTreeSet::new(),
            order: VecDeque::new(),
        }
    }

    /// The digest of `user` and `password` (the cache never holds either).
    pub(crate) fn key(user: &str, password: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update((user.len() as u64).to_be_bytes());
        digest.update(user.as_bytes());
        digest.update(password.as_bytes());
        digest.finalize().into()
    }

    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        self.known.contains(key)
    }

    pub(crate) fn insert(&mut self, key: [u8; 32]) {
        if self.capacity == 0 || !self.known.insert(key) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.known.len()
    }
}
