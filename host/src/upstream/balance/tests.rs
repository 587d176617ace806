//! The algorithms as plain functions: distributions, stickiness, and how few keys move when a
//! target comes or goes.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::{Balance, HashOn};

fn counts(n: usize, picks: impl Iterator<Item = Option<usize>>) -> Vec<usize> {
    let mut counts = vec![0; n];
    for i in picks {
        counts[i.unwrap()] += 1;
    }
    counts
}

#[test]
fn round_robin_takes_turns_and_skips_unavailable_targets() {
    let rr = RoundRobin::default();
    let picks: Vec<_> = (0..6).map(|_| rr.pick(3, |_| true).unwrap()).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    let c = counts(3, (0..300).map(|_| rr.pick(3, |i| i != 1)));
    assert_eq!(c[1], 0);
    assert_eq!(c[0] + c[2], 300);
    assert_eq!(rr.pick(3, |_| false), None);
    assert_eq!(rr.pick(0, |_| true), None);
}

#[test]
fn weighted_is_smooth_as_in_nginx() {
    let w = Weighted::new(&[5, 1, 1]);
    assert_eq!(w.schedule(), [0, 0, 1, 0, 2, 0, 0]);
    // Weights are reduced by their gcd: 2:6 is 1:3.
    assert_eq!(Weighted::new(&[2, 6]).schedule().len(), 4);
    let w = Weighted::new(&[1, 3]);
    let c = counts(2, (0..400).map(|_| w.pick(|_| true)));
    assert_eq!(c, [100, 300]);
    let c = counts(2, (0..400).map(|_| w.pick(|i| i == 0)));
    assert_eq!(c, [400, 0]);
}

#[test]
fn least_request_prefers_the_less_loaded_of_two() {
    let lr = LeastRequest;
    // Target 2 is idle, the others busy: it wins every draw it is part of (2/3 of them for n = 3).
    let c = counts(
        3,
        (0..3000).map(|_| lr.pick(3, |i| if i == 2 { 0 } else { 10 }, |_| true)),
    );
    assert!(c[2] > 1800, "{c:?}");
    // Never the busiest when two targets are drawn: with n = 2 the idle one always wins.
    let c = counts(2, (0..500).map(|_| lr.pick(2, |i| i as u32, |_| true)));
    assert_eq!(c, [500, 0]);
    assert_eq!(lr.pick(3, |_| 0, |i| i == 1), Some(1));
    assert_eq!(lr.pick(1, |_| 0, |_| false), None);
}

#[test]
fn random_is_roughly_uniform() {
    // 3000 picks over 3 targets: each within ±15% of 1000.
    let c = counts(3, (0..3000).map(|_| Random.pick(3, |_| true)));
    assert!(c.iter().all(|&k| (850..=1150).contains(&k)), "{c:?}");
}

fn addresses(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.0.0.{i}:8080")).collect()
}

fn ring(addresses: &[String]) -> RingHash {
    let targets: Vec<(&str, u32)> = addresses.iter().map(|a| (a.as_str(), 1)).collect();
    RingHash::new(&targets)
}

/// For each of 10,000 keys, the address it lands on.
fn owners(addresses: &[String]) -> Vec<String> {
    let ring = ring(addresses);
    (0..10_000u32)
        .map(|k| {
            let i = ring
                .pick(
                    addresses.len(),
                    Some(hash_bytes(format!("user-{k}").as_bytes())),
                    |_| true,
                )
                .unwrap();
            addresses[i].clone()
        })
        .collect()
}

#[test]
fn consistent_hash_sticks_a_key_to_one_target_and_spreads_keys() {
    let a = addresses(10);
    let ring = ring(&a);
    let key = Some(hash_bytes(b"alice"));
    let first = ring.pick(10, key, |_| true);
    assert!((0..100).all(|_| ring.pick(10, key, |_| true) == first));
    // 10,000 keys over 10 targets: each gets 1000 ± 35%.
    let owners = owners(&a);
    for address in &a {
        let n = owners.iter().filter(|o| *o == address).count();
        assert!((650..=1350).contains(&n), "{address}: {n}");
    }
    // Without a key: round robin.
    let picks: Vec<_> = (0..3)
        .map(|_| ring.pick(10, None, |_| true).unwrap())
        .collect();
    assert_eq!(picks, [0, 1, 2]);
    // The owner unavailable: the next one clockwise, the same for every request.
    let owner = first.unwrap();
    let next = ring.pick(10, key, |i| i != owner).unwrap();
    assert_ne!(next, owner);
    assert!((0..10).all(|_| ring.pick(10, key, |i| i != owner) == Some(next)));
}

#[test]
fn removing_one_of_ten_targets_moves_only_its_keys() {
    let all = addresses(10);
    let before = owners(&all);
    let removed = &all[3];
    let rest: Vec<String> = all.iter().filter(|a| *a != removed).cloned().collect();
    let after = owners(&rest);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    // Exactly the removed target's keys move, and they are about 1/10 of 10,000 (±35%).
    let owned = before.iter().filter(|o| *o == removed).count();
    assert_eq!(moved, owned);
    assert!((650..=1350).contains(&moved), "{moved} keys moved");
}

#[test]
fn adding_an_eleventh_target_moves_about_one_eleventh_of_the_keys() {
    let ten = addresses(10);
    let eleven = addresses(11);
    let before = owners(&ten);
    let after = owners(&eleven);
    let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    // Every moved key moved to the new target; about 10,000 / 11 = 909 of them (±35%).
    assert!(moved.iter().all(|(_, a)| **a == eleven[10]));
    assert!(
        (590..=1230).contains(&moved.len()),
        "{} keys moved",
        moved.len()
    );
}

#[test]
fn the_balancer_follows_the_manifest() {
    let targets = [("a:1", 1), ("b:1", 3)];
    let b = Balancer::new(&Balance::Weighted, &targets);
    let c = counts(2, (0..400).map(|_| b.pick(2, None, |_| 0, |_| true)));
    assert_eq!(c, [100, 300]);
    let b = Balancer::new(&Balance::ConsistentHash(HashOn::ClientIp), &targets);
    assert!(matches!(b, Balancer::RingHash(_)));
}
