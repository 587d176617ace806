//! The guard's rules, and how a canary chooses a version.

use std::time::Duration;

use super::*;

fn guard(min_calls: u64) -> GuardSpec {
    GuardSpec {
        min_calls,
        ..GuardSpec::default()
    }
}

#[test]
fn a_candidate_failing_more_than_max_trap_rate_is_rolled_back_after_min_calls() {
    let canary = CanaryState::new(guard(10), "test".into());
    for _ in 0..9 {
        canary.call(Role::Candidate, Duration::from_micros(5), true);
    }
    assert_eq!(
        canary.phase(),
        Phase::Active,
        "9 calls are fewer than min-calls"
    );
    canary.call(Role::Candidate, Duration::from_micros(5), true);
    assert_eq!(canary.phase(), Phase::RolledBack);
    let view = canary.view();
    assert_eq!(view.rollbacks, 1);
    let trip = view.trip.unwrap();
    assert!(
        trip.reason.contains("10 of its 10 calls failed"),
        "{}",
        trip.reason
    );
    assert_eq!(trip.candidate.totals.calls, 10);
    for _ in 0..100 {
        assert_eq!(
            canary.choose(100.0, None),
            Role::Stable,
            "no traffic after a rollback"
        );
    }
}

#[test]
fn a_candidate_three_times_slower_at_p99_is_rolled_back() {
    let canary = CanaryState::new(guard(20), "test".into());
    for _ in 0..40 {
        canary.call(Role::Stable, Duration::from_micros(100), false);
    }
    for _ in 0..19 {
        canary.call(Role::Candidate, Duration::from_micros(300), false);
    }
    assert_eq!(canary.phase(), Phase::Active);
    canary.call(Role::Candidate, Duration::from_micros(300), false);
    assert_eq!(canary.phase(), Phase::RolledBack);
    assert!(canary.view().trip.unwrap().reason.contains("max-p99-ratio"));
}

#[test]
fn a_candidate_as_fast_and_sound_as_the_stable_version_stays() {
    let canary = CanaryState::new(guard(20), "test".into());
    for _ in 0..200 {
        canary.call(Role::Stable, Duration::from_micros(100), false);
        canary.call(Role::Candidate, Duration::from_micros(120), false);
        canary.answer(Role::Stable, false);
        canary.answer(Role::Candidate, false);
    }
    assert_eq!(canary.phase(), Phase::Active);
}

#[test]
fn more_5xx_answers_than_the_ratio_allows_roll_it_back() {
    let canary = CanaryState::new(guard(20), "test".into());
    for i in 0..100 {
        canary.answer(Role::Stable, i % 50 == 0);
    }
    for i in 0..20 {
        canary.answer(Role::Candidate, i % 4 == 0);
    }
    assert_eq!(canary.phase(), Phase::RolledBack);
    assert!(canary.view().trip.unwrap().reason.contains("5xx"));
}

#[test]
fn the_weight_is_the_share_of_requests_and_a_sticky_value_always_gets_the_same_version() {
    let canary = CanaryState::new(guard(20), "test".into());
    let candidates = (0..10_000)
        .filter(|_| canary.choose(10.0, None) == Role::Candidate)
        .count();
    assert!(
        (800..1200).contains(&candidates),
        "{candidates} of 10000 at 10%"
    );
    let alice = sticky_point(b"alice");
    let first = canary.choose(50.0, Some(alice));
    assert!((0..100).all(|_| canary.choose(50.0, Some(alice)) == first));
    let mixed: std::collections::HashSet<_> = (0..64)
        .map(|i| canary.choose(50.0, Some(sticky_point(format!("user-{i}").as_bytes()))))
        .collect();
    assert_eq!(mixed.len(), 2, "different callers land on both versions");
}

#[test]
fn promotion_sends_everything_to_the_candidate_and_a_reset_starts_afresh() {
    let canary = CanaryState::new(guard(1), "test".into());
    canary.call(Role::Candidate, Duration::from_micros(5), true);
    assert_eq!(canary.phase(), Phase::RolledBack);
    canary.set(Phase::Active);
    assert!(canary.view().trip.is_none());
    assert_eq!(canary.view().candidate.totals.calls, 0);
    canary.set(Phase::Promoted);
    assert!((0..100).all(|_| canary.choose(0.0, None) == Role::Candidate));
    canary.set(Phase::Aborted);
    assert!((0..100).all(|_| canary.choose(100.0, None) == Role::Stable));
}
