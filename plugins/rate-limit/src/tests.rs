use std::time::Duration;

use portcullis_sdk::state::RateDecision;

use super::*;

fn config(json: &str) -> Result<RateLimit, Error> {
    let config: Config = serde_json::from_str(json).map_err(Error::from)?;
    RateLimit::new(config)
}

fn message(json: &str) -> String {
    config(json).err().expect("a config error").to_string()
}

fn outcome(
    count: u32,
    seconds: u64,
    allowed: bool,
    remaining: u32,
    reset_ms: u64,
    retry_ms: u64,
) -> Outcome {
    Outcome {
        limit: Limit {
            count,
            period: Duration::from_secs(seconds),
        },
        decision: RateDecision {
            allowed,
            limit: count,
            remaining,
            reset_ms,
            retry_after_ms: retry_ms,
        },
    }
}

#[test]
fn defaults_limit_by_ip_with_a_sliding_window_fault_tolerant_with_headers() {
    let plugin = config(r#"{"minute": 100}"#).unwrap();
    assert_eq!(plugin.config.by, [By::Ip]);
    assert_eq!(
        plugin.config.algorithm,
        config::AlgorithmName::SlidingWindow
    );
    assert!(plugin.config.fault_tolerant && plugin.config.headers);
    assert_eq!(
        plugin.limits,
        [Limit {
            count: 100,
            period: Duration::from_secs(60)
        }]
    );
    // The response fields are handed to the gateway in `on_request`: one call per request.
    assert_eq!(plugin.needs(), Needs::ON_REQUEST);
}

#[test]
fn several_limits_are_kept_shortest_first() {
    let plugin = config(r#"{"day": 1000, "second": 5, "hour": 200}"#).unwrap();
    let periods: Vec<u64> = plugin.limits.iter().map(|l| l.period.as_secs()).collect();
    assert_eq!(periods, [1, 3600, 86_400]);
}

#[test]
fn bad_configs_are_refused_with_a_message_that_says_how_to_fix_them() {
    assert!(message("{}").contains("no limit is set"));
    assert!(message(r#"{"minute": 0}"#).contains("from 1 to"));
    assert!(message(r#"{"minute": 10, "by": []}"#).contains("`by` is empty"));
    assert!(message(r#"{"minute": 10, "by": ["ip", "ip"]}"#).contains("twice"));
    assert!(message(r#"{"minute": 10, "by": ["header"]}"#).contains("`header` is not set"));
    assert!(message(r#"{"minute": 10, "header": "x-a"}"#).contains("does not include"));
    assert!(
        message(r#"{"minute": 10, "by": ["header"], "header": "bad name"}"#)
            .contains("not a valid header name")
    );
    assert!(message(r#"{"minute": 10, "by": ["user"]}"#).contains("unknown variant `user`"));
    assert!(message(r#"{"minute": 10, "algorithm": "leaky"}"#).contains("unknown variant `leaky`"));
    assert!(message(r#"{"minutes": 10}"#).contains("unknown field `minutes`"));
    assert!(message(r#"{"minute": -1}"#).contains("invalid value"));
}

#[test]
fn headers_report_the_limit_closest_to_refusing_and_the_whole_policy() {
    let outcomes = [
        outcome(10, 1, true, 9, 100, 0),
        outcome(100, 60, true, 3, 40_000, 0),
    ];
    let limits: Vec<Limit> = outcomes.iter().map(|o| o.limit).collect();
    let fields = headers::fields(&outcomes, &headers::policy(&limits)).to_vec();
    assert_eq!(
        fields,
        [
            ("ratelimit-limit", "100".to_owned()),
            ("ratelimit-remaining", "3".to_owned()),
            ("ratelimit-reset", "40".to_owned()),
            ("ratelimit-policy", "10;w=1, 100;w=60".to_owned()),
        ]
    );
}

#[test]
fn a_refusal_adds_retry_after_in_whole_seconds_at_least_one() {
    let fields = headers::fields(&[outcome(10, 1, false, 0, 900, 1)], "10;w=1").to_vec();
    assert!(
        fields.contains(&("retry-after", "1".to_owned())),
        "{fields:?}"
    );
    assert!(fields.contains(&("ratelimit-remaining", "0".to_owned())));
    assert!(fields.contains(&("ratelimit-reset", "1".to_owned())));
    let both = [
        outcome(10, 1, false, 0, 900, 300),
        outcome(5, 60, false, 0, 50_000, 12_001),
    ];
    assert_eq!(headers::retry_after(&both), Some(13));
    assert_eq!(
        headers::retry_after(&[outcome(10, 1, true, 3, 900, 0)]),
        None
    );
}

#[test]
fn with_headers_off_a_refusal_still_says_when_to_come_back_and_an_admission_says_nothing() {
    let refused = [outcome(10, 1, false, 0, 900, 2_500)];
    assert_eq!(
        Fields::retry_after_only(&refused).to_vec(),
        [("retry-after", "3".to_owned())]
    );
    let admitted = [outcome(10, 1, true, 4, 900, 0)];
    assert!(Fields::retry_after_only(&admitted).to_vec().is_empty());
}

#[test]
fn numbers_are_written_whole_from_zero_to_the_largest_limit() {
    let largest = outcome(u32::MAX, 86_400, true, u32::MAX, 86_400_000, 0);
    assert_eq!(
        headers::fields(&[largest], "p").to_vec()[..3],
        [
            ("ratelimit-limit", "4294967295".to_owned()),
            ("ratelimit-remaining", "4294967295".to_owned()),
            ("ratelimit-reset", "86400".to_owned()),
        ]
    );
    let none_left = outcome(1, 1, false, 0, 0, 0);
    assert_eq!(
        headers::fields(&[none_left], "p").to_vec(),
        [
            ("ratelimit-limit", "1".to_owned()),
            ("ratelimit-remaining", "0".to_owned()),
            ("ratelimit-reset", "0".to_owned()),
            ("ratelimit-policy", "p".to_owned()),
            ("retry-after", "1".to_owned()),
        ]
    );
}

#[test]
fn refusal_messages_name_the_limit() {
    let limit = |count, seconds| Limit {
        count,
        period: Duration::from_secs(seconds),
    };
    assert_eq!(headers::describe(limit(1, 1)), "1 request per second");
    assert_eq!(headers::describe(limit(100, 3600)), "100 requests per hour");
}
