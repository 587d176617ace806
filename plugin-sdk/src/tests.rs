use super::*;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Config {
    header: String,
}

#[test]
fn a_config_error_names_the_field_without_json_positions() {
    let error = serde_json::from_str::<Config>(r#"{"hedaer": "x"}"#).unwrap_err();
    let message = __runtime::describe_config_error(&error);
    assert_eq!(message, "unknown field `hedaer`, expected `header`");
}

#[test]
fn a_json_reply_sets_the_content_type_and_body() {
    let reply = Reply::json(401, &serde_json::json!({"error": "unauthorized"}));
    assert_eq!(reply.status(), 401);
    assert_eq!(
        reply.headers(),
        [("content-type".to_owned(), "application/json".to_owned())]
    );
    assert_eq!(reply.body_bytes(), br#"{"error":"unauthorized"}"#);
}

#[test]
fn errors_convert_from_strings_and_serde() {
    let e: Error = "nope".into();
    assert_eq!(e.message(), "nope");
    let e: Error = serde_json::from_str::<u8>("300").unwrap_err().into();
    assert!(e.message().contains("expected u8"), "{e}");
}
