//! `consistent-hash`: a ring hash (Karger et al., as in Envoy's `RING_HASH`). Each target owns
//! `POINTS_PER_WEIGHT × weight` points on a 64-bit ring, placed by hashing the target's address,
//! so a target's points do not depend on the other targets: adding or removing one of N targets
//! moves only the keys that land on its points, about 1/N of them. A key goes to the owner of the
//! first point at or after its hash; if that target is unavailable, to the next available owner
//! clockwise. Requests without a key are spread round robin.

use super::RoundRobin;

/// Points per unit of weight; 160 gives a spread within a few percent for 10 targets.
const POINTS_PER_WEIGHT: usize = 160;
/// The most points one target gets, whatever its weight.
const MAX_POINTS: usize = 4_000;

/// The ring: points sorted by hash, each naming its target.
#[derive(Debug)]
pub struct RingHash {
    ring: Vec<(u64, u32)>,
    fallback: RoundRobin,
}

impl RingHash {
    /// A ring over targets given as `(identity, weight)`; the identity (the address) places
    /// the target's points.
    pub fn new(targets: &[(&str, u32)]) -> Self {
        let mut ring = Vec::new();
        for (index, (identity, weight)) in targets.iter().enumerate() {
            let points = (POINTS_PER_WEIGHT * (*weight).max(1) as usize).min(MAX_POINTS);
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            for point in 0..points {
                let mut h = hash_bytes(identity.as_bytes());
                h = mix(h ^ (point as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                ring.push((h, index));
            }
        }
        ring.sort_unstable();
        Self {
            ring,
            fallback: RoundRobin::default(),
        }
    }

    /// The owner of `key` among `0..n`, or the next available one clockwise; round robin
    /// without a key.
    pub fn pick(&self, n: usize, key: Option<u64>, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let Some(key) = key else {
            return self.fallback.pick(n, ok);
        };
        let len = self.ring.len();
        let start = self.ring.partition_point(|&(h, _)| h < key);
        (0..len)
            .filter_map(|k| self.ring.get((start + k) % len))
            .map(|&(_, i)| i as usize)
            .find(|&i| ok(i))
    }
}

/// A stable 64-bit hash of a key (FNV-1a, then a finalizer that spreads the bits over the ring).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
