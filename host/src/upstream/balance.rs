//! Choosing a target: one file per algorithm, all pure (no sockets, no clock), each lock-free and
//! allocation-free per request. A balancer sees targets as indices `0..n` and asks two questions
//! about them: may this one be used now (`ok`), and how busy is it (`load`).

mod least_request;
mod random;
mod ring_hash;
mod round_robin;
mod weighted;

pub use least_request::LeastRequest;
pub use random::Random;
pub use ring_hash::{RingHash, hash_bytes};
pub use round_robin::RoundRobin;
pub use weighted::Weighted;

use crate::config::Balance;

/// The algorithm of one upstream, with its state.
#[derive(Debug)]
pub enum Balancer {
    /// `round-robin`.
    RoundRobin(RoundRobin),
    /// `weighted`.
    Weighted(Weighted),
    /// `least-request`.
    LeastRequest(LeastRequest),
    /// `random`.
    Random(Random),
    /// `consistent-hash`.
    RingHash(RingHash),
}

impl Balancer {
    /// The balancer `balance` names, over targets with these `(identity, weight)` pairs.
    pub fn new(balance: &Balance, targets: &[(&str, u32)]) -> Self {
        match balance {
            Balance::RoundRobin => Balancer::RoundRobin(RoundRobin::default()),
            Balance::Weighted => Balancer::Weighted(Weighted::new(
                &targets.iter().map(|t| t.1).collect::<Vec<_>>(),
            )),
            Balance::LeastRequest => Balancer::LeastRequest(LeastRequest),
            Balance::Random => Balancer::Random(Random),
            Balance::ConsistentHash(_) => Balancer::RingHash(RingHash::new(targets)),
        }
    }

    /// A target among `0..n` for which `ok` holds, if any: `key` is the request's hash key
    /// (consistent hashing only), `load` a target's requests in flight (least-request only).
    pub fn pick(
        &self,
        n: usize,
        key: Option<u64>,
        load: impl Fn(usize) -> u32,
        ok: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        match self {
            Balancer::RoundRobin(rr) => rr.pick(n, ok),
            Balancer::Weighted(w) => w.pick(ok),
            Balancer::LeastRequest(lr) => lr.pick(n, load, ok),
            Balancer::Random(r) => r.pick(n, ok),
            Balancer::RingHash(ring) => ring.pick(n, key, ok),
        }
    }
}

/// The first index from `start` on (wrapping) for which `ok` holds.
fn scan(n: usize, start: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    (0..n).map(|k| (start + k) % n).find(|&i| ok(i))
}

#[cfg(test)]
mod tests;
