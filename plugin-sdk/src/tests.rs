use super::*;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Config {
    header: String,
}

#[test]
fn a_config_error_names_the_field_without_json_positions() {
    let message = __runtime::decode_config::<Config>(r#"{"hedaer": "x"}"#).unwrap_err();
    assert_eq!(message, "unknown field `hedaer`, expected `header`");
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Consumers {
    consumers: std::collections::BTreeMap<String, Vec<String>>,
}

#[test]
fn a_config_error_inside_the_config_names_the_path_to_the_key() {
    let message =
        __runtime::decode_config::<Consumers>(r#"{"consumers": {"alice": "k1"}}"#).unwrap_err();
    assert_eq!(
        message,
        "`consumers.alice`: invalid type: string \"k1\", expected a sequence"
    );
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

/// A plugin whose `new` checks what serde cannot.
struct Checked;

impl Plugin for Checked {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        if config.header.is_empty() {
            return Err("`header` is empty: name the header to set".into());
        }
        Ok(Self)
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }
}

#[test]
fn init_deserializes_the_config_builds_the_plugin_and_returns_its_needs() {
    assert_eq!(
        __runtime::init::<Checked>(r#"{"header": "x"}"#),
        Ok(Needs::ON_REQUEST)
    );
}

#[test]
fn init_reports_serde_and_plugin_errors_in_plain_words() {
    let init = __runtime::init::<Checked>;
    assert_eq!(init("{}"), Err("missing field `header`".to_owned()));
    assert_eq!(
        init(r#"{"header": 7}"#),
        Err("`header`: invalid type: integer `7`, expected a string".to_owned())
    );
    assert_eq!(
        init(r#"{"header": ""}"#),
        Err("`header` is empty: name the header to set".to_owned())
    );
}

#[test]
fn the_default_needs_are_both_phases_and_no_body() {
    struct Defaults;
    impl Plugin for Defaults {
        type Config = serde_json::Value;
        fn new(_: serde_json::Value) -> Result<Self, Error> {
            Ok(Self)
        }
    }
    assert_eq!(
        __runtime::init::<Defaults>("{}"),
        Ok(Needs::ON_REQUEST | Needs::ON_RESPONSE)
    );
}

#[test]
fn a_reply_keeps_headers_in_order_and_takes_text_or_bytes() {
    let reply = Reply::new(302)
        .header("location", "/login")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .body("see /login");
    assert_eq!(reply.status(), 302);
    let names: Vec<&str> = reply.headers().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["location", "set-cookie", "set-cookie"]);
    assert_eq!(reply.body_bytes(), b"see /login");
    assert_eq!(Reply::new(204).body(vec![1u8, 2]).body_bytes(), [1, 2]);
}

#[test]
fn an_error_is_built_from_anything_displayable() {
    assert_eq!(Error::new(42).to_string(), "42");
    assert_eq!(Error::from(String::from("x")).message(), "x");
}
