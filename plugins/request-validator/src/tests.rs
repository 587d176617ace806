use super::*;

fn plugin(json: &str) -> Result<RequestValidator, Error> {
    RequestValidator::new(serde_json::from_str(json).map_err(Error::from)?)
}

const ORDER: &str = r#"{"schema": {
    "type": "object",
    "required": ["item", "quantity"],
    "properties": {
        "item": {"type": "string", "minLength": 1},
        "quantity": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}}
    },
    "additionalProperties": false
}}"#;

const JSON: Option<&str> = Some("application/json");

#[test]
fn a_matching_body_is_valid() {
    let p = plugin(ORDER).unwrap();
    assert_eq!(
        p.check(JSON, br#"{"item": "shoe", "quantity": 2, "tags": ["red"]}"#),
        Verdict::Valid
    );
}

#[test]
fn violations_name_the_instance_path_and_what_is_wrong() {
    let p = plugin(ORDER).unwrap();
    let Verdict::Invalid(violations) =
        p.check(JSON, br#"{"item": "", "quantity": 0, "tags": ["ok", 7]}"#)
    else {
        panic!("invalid")
    };
    let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    assert!(paths.contains(&"/item"), "{violations:?}");
    assert!(paths.contains(&"/quantity"), "{violations:?}");
    assert!(paths.contains(&"/tags/1"), "{violations:?}");
    let quantity = violations.iter().find(|v| v.path == "/quantity").unwrap();
    assert!(quantity.message.contains(">=1"), "{quantity:?}");

    let Verdict::Invalid(violations) = p.check(JSON, br#"{"quantity": 1, "extra": 1}"#) else {
        panic!("invalid")
    };
    let all = format!("{violations:?}");
    assert!(all.contains("item") && all.contains("extra"), "{all}");
}

#[test]
fn at_most_max_violations_are_named() {
    let mut config: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    config["max-violations"] = 1.into();
    let p = plugin(&config.to_string()).unwrap();
    let Verdict::Invalid(violations) = p.check(JSON, br#"{"item": 1, "quantity": "x"}"#) else {
        panic!("invalid")
    };
    assert_eq!(violations.len(), 1);
}

#[test]
fn bodies_that_are_not_json_are_refused_before_the_schema() {
    let p = plugin(ORDER).unwrap();
    assert_eq!(
        p.check(Some("text/plain"), b"x"),
        Verdict::NotJson(Some("text/plain".into()))
    );
    assert_eq!(p.check(None, b""), Verdict::NotJson(None));
    assert!(matches!(p.check(JSON, b"{oops"), Verdict::Unparsable(_)));
    assert!(matches!(p.check(JSON, b""), Verdict::Unparsable(_)));
    assert!(matches!(
        p.check(
            Some("application/merge-patch+json"),
            br#"{"item":"a","quantity":1}"#
        ),
        Verdict::Valid
    ));
}

#[test]
fn a_schema_may_be_given_as_json_text() {
    let p = plugin(r#"{"schema": "{\"type\": \"array\"}"}"#).unwrap();
    assert_eq!(p.check(JSON, b"[]"), Verdict::Valid);
    assert!(matches!(p.check(JSON, b"{}"), Verdict::Invalid(_)));
}

#[test]
fn a_broken_schema_is_a_config_error_at_load_time() {
    let error = plugin(r#"{"schema": {"type": "strnig"}}"#).err().unwrap();
    assert!(
        error
            .message()
            .contains("`schema` is not a valid JSON Schema"),
        "{error}"
    );
    let error = plugin(r#"{"schema": {"$ref": "file:///etc/passwd"}}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("outside the schema"), "{error}");
    assert!(plugin(r#"{"schema": "{not json"}"#).is_err());
    assert!(plugin(r#"{"schema": {}, "methods": []}"#).is_err());
    assert!(plugin(r#"{"schema": {}, "max-violations": 0}"#).is_err());
    let error = plugin(r#"{"schema": {}, "method": ["POST"]}"#)
        .err()
        .unwrap();
    assert!(
        error.message().contains("unknown field `method`"),
        "{error}"
    );
}

#[test]
fn max_body_defaults_to_64_kib_and_takes_sizes() {
    let p = plugin(r#"{"schema": {}}"#).unwrap();
    assert_eq!(p.max_body, 64 << 10);
    let p = plugin(r#"{"schema": {}, "max-body": "64KiB"}"#).unwrap();
    assert_eq!(p.max_body, 64 << 10);
    let error = plugin(r#"{"schema": {}, "max-body": "lots"}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("`max-body` = `lots`"), "{error}");
}
