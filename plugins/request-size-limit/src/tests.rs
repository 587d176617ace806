use super::*;

fn plugin(json: &str) -> Result<RequestSizeLimit, Error> {
    RequestSizeLimit::new(serde_json::from_str(json).map_err(Error::from)?)
}

fn values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn sizes_take_binary_units_or_bytes() {
    assert_eq!(size::parse("1MiB"), Some(1 << 20));
    assert_eq!(size::parse("64 KiB"), Some(64 << 10));
    assert_eq!(size::parse("2GB"), Some(2 << 30));
    assert_eq!(size::parse("512"), Some(512));
    for bad in ["", "MiB", "1.5MiB", "1 mb", "-1", "99999999999999999999GiB"] {
        assert_eq!(size::parse(bad), None, "{bad:?}");
    }
    assert_eq!(plugin(r#"{"limit": 1024}"#).unwrap().limit, 1024);
    assert_eq!(plugin(r#"{"limit": "10KiB"}"#).unwrap().limit, 10240);
}

#[test]
fn a_bad_size_or_key_is_a_config_error_naming_it() {
    let error = plugin(r#"{"limit": "1 megabyte"}"#).err().unwrap();
    assert!(
        error.message().contains("`limit` = `1 megabyte`"),
        "{error}"
    );
    assert!(plugin("{}").err().unwrap().message().contains("limit"));
    let error = plugin(r#"{"limit": 1, "read_body": true}"#).err().unwrap();
    assert!(
        error.message().contains("unknown field `read_body`"),
        "{error}"
    );
}

#[test]
fn the_body_is_asked_for_only_when_configured() {
    assert_eq!(
        plugin(r#"{"limit": 1}"#).unwrap().needs(),
        Needs::ON_REQUEST
    );
    assert_eq!(
        plugin(r#"{"limit": 1, "read-body": true}"#)
            .unwrap()
            .needs(),
        Needs::ON_REQUEST | Needs::REQUEST_BODY
    );
}

#[test]
fn content_length_over_the_limit_is_too_large_and_at_the_limit_passes() {
    let p = plugin(r#"{"limit": 100}"#).unwrap();
    assert_eq!(p.by_length(&values(&["101"])), Verdict::TooLarge);
    assert_eq!(p.by_length(&values(&["100"])), Verdict::Pass);
    assert_eq!(p.by_length(&[]), Verdict::Pass);
    assert_eq!(p.by_length(&values(&["101, 101"])), Verdict::TooLarge);
}

#[test]
fn a_malformed_or_conflicting_content_length_is_a_bad_request() {
    let p = plugin(r#"{"limit": 100}"#).unwrap();
    assert!(matches!(
        p.by_length(&values(&["ten"])),
        Verdict::BadLength(_)
    ));
    assert!(matches!(
        p.by_length(&values(&["-1"])),
        Verdict::BadLength(_)
    ));
    assert!(matches!(
        p.by_length(&values(&["5", "6"])),
        Verdict::BadLength(_)
    ));
}
