use super::*;
use template::{Var, parse_var};

fn plugin(json: &str) -> Result<Headers, Error> {
    Headers::new(serde_json::from_str(json).map_err(Error::from)?)
}

#[test]
fn templates_split_text_and_placeholders() {
    let t = Template::parse("Bearer ${consumer}-$${literal}$x").unwrap();
    assert!(!t.is_literal());
    assert_eq!(t.render(&Vars::none()), "Bearer -${literal}$x");
    assert!(Template::parse("plain").unwrap().is_literal());
}

#[test]
fn a_bad_template_is_a_config_error_naming_the_header() {
    let error = plugin(r#"{"request": {"set": {"x-a": "${unclosed"}}}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("header `x-a`"), "{error}");
    assert!(plugin(r#"{"request": {"set": {"x-a": "${}"}}}"#).is_err());
}

#[test]
fn an_invalid_header_name_is_a_config_error() {
    let error = plugin(r#"{"response": {"remove": ["bad header"]}}"#)
        .err()
        .unwrap();
    assert!(
        error
            .message()
            .contains("`bad header` is not a valid header name"),
        "{error}"
    );
}

#[test]
fn the_plugin_asks_only_for_the_phases_it_edits() {
    assert_eq!(
        plugin(r#"{"request": {"set": {"a": "1"}}}"#)
            .unwrap()
            .needs(),
        Needs::ON_REQUEST
    );
    // A response edit whose value a later plugin could change waits for `on_response`...
    assert_eq!(
        plugin(r#"{"response": {"add": {"a": "${consumer}"}}}"#)
            .unwrap()
            .needs(),
        Needs::ON_RESPONSE
    );
    assert_eq!(
        plugin(r#"{"response": {"set": {"a": "${path}"}}}"#)
            .unwrap()
            .needs(),
        Needs::ON_RESPONSE
    );
    // ...one fixed for the request is decided in `on_request`: no second call.
    for fixed in [
        r#"{"response": {"add": {"a": "1"}}}"#,
        r#"{"response": {"remove": ["server"], "set": {"a": "${request_id} ${route}"}}}"#,
    ] {
        assert_eq!(plugin(fixed).unwrap().needs(), Needs::ON_REQUEST, "{fixed}");
    }
    assert_eq!(
        plugin(r#"{"request": {"set": {"a": "1"}}, "response": {"set": {"b": "${method}"}}}"#)
            .unwrap()
            .needs(),
        Needs::ON_REQUEST | Needs::ON_RESPONSE
    );
}

#[test]
fn a_config_with_no_edit_is_refused() {
    assert!(plugin("{}").is_err());
    assert!(
        plugin(r#"{"request": {"sett": {}}}"#)
            .err()
            .unwrap()
            .message()
            .contains("unknown field `sett`")
    );
}

#[test]
fn a_value_with_a_line_break_is_a_config_error() {
    let error = plugin(r#"{"request": {"set": {"x-a": "one\r\nx-b: two"}}}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("control character"), "{error}");
    assert!(plugin(r#"{"request": {"set": {"x-a": "tab\tok"}}}"#).is_ok());
}

#[test]
fn placeholders_name_built_ins_parameters_or_context_keys() {
    assert_eq!(parse_var("route"), Ok(Var::Route));
    assert_eq!(parse_var("param.id"), Ok(Var::Param("id".into())));
    assert_eq!(parse_var("consumer"), Ok(Var::Context("consumer".into())));
    assert!(parse_var("a b").is_err());
}
