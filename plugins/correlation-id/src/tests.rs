use super::*;

fn plugin(json: &str) -> Result<CorrelationId, Error> {
    CorrelationId::new(serde_json::from_str(json).map_err(Error::from)?)
}

#[test]
fn defaults_use_x_correlation_id_uuids_and_echo_the_id() {
    let p = plugin("{}").unwrap();
    assert_eq!(p.header, "x-correlation-id");
    assert_eq!(p.generator, Generator::Uuid);
    assert!(p.trust_incoming);
    assert!(p.echo_downstream);
    // The echo is decided in `on-request`: one phase either way.
    assert_eq!(p.needs(), Needs::ON_REQUEST);
    let quiet = plugin(r#"{"echo-downstream": false, "generator": "request-id"}"#).unwrap();
    assert!(!quiet.echo_downstream);
    assert_eq!(quiet.needs(), Needs::ON_REQUEST);
    assert_eq!(quiet.generator, Generator::RequestId);
}

#[test]
fn config_mistakes_name_the_field() {
    let error = plugin(r#"{"header": "x id"}"#).err().unwrap();
    assert!(error.message().contains("`header` `x id`"), "{error}");
    let error = plugin(r#"{"generator": "ulid"}"#).err().unwrap();
    assert!(
        error.message().contains("unknown variant `ulid`"),
        "{error}"
    );
    let error = plugin(r#"{"echo": true}"#).err().unwrap();
    assert!(error.message().contains("unknown field `echo`"), "{error}");
}

#[test]
fn uuids_are_version_4_with_the_rfc_variant() {
    assert_eq!(
        format_uuid_v4([0xff; 16]),
        "ffffffff-ffff-4fff-bfff-ffffffffffff"
    );
    assert_eq!(
        format_uuid_v4([0; 16]),
        "00000000-0000-4000-8000-000000000000"
    );
    let a = uuid_v4().unwrap();
    let b = uuid_v4().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "4");
    assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
}

#[test]
fn only_short_visible_ascii_ids_are_kept_from_clients() {
    assert!(is_valid_id("3f2c-abc_DEF.1"));
    assert!(!is_valid_id(""));
    assert!(!is_valid_id("has space"));
    assert!(!is_valid_id("line\nbreak"));
    assert!(!is_valid_id("é"));
    assert!(!is_valid_id(&"x".repeat(201)));
    assert!(is_valid_id(&"x".repeat(200)));
}
