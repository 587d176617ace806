use std::cell::RefCell;

use serde_json::json;

use crate::body::{BodyConfig, BodyRules, Outcome, is_json};
use crate::headers::{HeaderConfig, HeaderRules, HeaderTarget};
use crate::pointer::Pointer;
use portcullis_sdk::Error;

fn ptr(text: &str) -> Pointer {
    Pointer::parse("test", text).unwrap()
}

#[test]
fn pointers_unescape_tilde_and_slash_and_must_start_with_a_slash() {
    let doc = json!({"a/b": {"m~n": 1}, "items": [10, 20]});
    assert_eq!(ptr("/a~1b/m~0n").get(&doc), Some(&json!(1)));
    assert_eq!(ptr("/items/1").get(&doc), Some(&json!(20)));
    assert_eq!(ptr("/items/01").get(&doc), None, "no leading zeros");
    assert_eq!(ptr("/nope").get(&doc), None);
    for bad in ["", "a/b", "/a~2"] {
        let error = Pointer::parse("body.remove", bad).unwrap_err();
        assert!(error.message().contains("`body.remove`"), "{error}");
    }
}

#[test]
fn remove_and_replace_touch_only_what_exists() {
    let mut doc = json!({"user": {"name": "a", "password": "p"}, "tags": ["x", "y"]});
    assert_eq!(ptr("/user/password").remove(&mut doc), Some(json!("p")));
    assert_eq!(ptr("/user/password").remove(&mut doc), None);
    assert_eq!(ptr("/tags/0").remove(&mut doc), Some(json!("x")));
    assert!(ptr("/user/name").replace(&mut doc, json!("b")));
    assert!(!ptr("/user/email").replace(&mut doc, json!("e")));
    assert_eq!(doc, json!({"user": {"name": "b"}, "tags": ["y"]}));
}

#[test]
fn add_creates_parents_overwrites_and_appends_with_dash() {
    let mut doc = json!({"items": [1], "n": 5});
    assert!(ptr("/meta/source/name").add(&mut doc, json!("gw")));
    assert!(ptr("/items/-").add(&mut doc, json!(2)));
    assert!(ptr("/items/0").add(&mut doc, json!(0)));
    assert!(ptr("/n").add(&mut doc, json!(6)));
    assert!(!ptr("/n/x").add(&mut doc, json!(1)), "not through a scalar");
    assert!(!ptr("/items/9").add(&mut doc, json!(1)), "not past the end");
    assert_eq!(
        doc,
        json!({"items": [0, 1, 2], "n": 6, "meta": {"source": {"name": "gw"}}})
    );
}

fn rules(json: &str) -> BodyRules {
    let config: BodyConfig = serde_json::from_str(json).unwrap();
    BodyRules::new("body", &config).unwrap()
}

#[test]
fn body_edits_run_remove_rename_replace_add_and_keep_member_order() {
    let rules = rules(
        r#"{"remove": ["/password"], "rename": {"/name": "/full_name"},
            "replace": {"/status": "active", "/absent": 1}, "add": {"/source": "gateway"}}"#,
    );
    let body = br#"{"zeta":1,"name":"Ann","password":"s","status":"new","alpha":2}"#;
    let Outcome::Edited(out) = rules.edit(Some("application/json; charset=utf-8"), None, body)
    else {
        panic!("JSON is edited")
    };
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"zeta":1,"status":"active","alpha":2,"full_name":"Ann","source":"gateway"}"#
    );
}

#[test]
fn bodies_that_are_not_json_are_left_alone_and_invalid_json_is_reported() {
    let rules = rules(r#"{"remove": ["/a"]}"#);
    assert_eq!(
        rules.edit(Some("text/plain"), None, b"{\"a\":1}"),
        Outcome::Unchanged
    );
    assert_eq!(rules.edit(None, None, b"{\"a\":1}"), Outcome::Unchanged);
    assert_eq!(
        rules.edit(Some("application/json"), None, b""),
        Outcome::Unchanged
    );
    assert_eq!(
        rules.edit(Some("application/json"), Some("gzip"), b"\x1f\x8b"),
        Outcome::Unchanged,
        "a compressed body cannot be edited"
    );
    assert!(matches!(
        rules.edit(Some("application/json"), None, b"{oops"),
        Outcome::Invalid(_)
    ));
    assert!(is_json("application/problem+json"));
    assert!(is_json("Application/JSON"));
    assert!(!is_json("application/jsonp"));
}

#[derive(Default)]
struct FakeHeaders(RefCell<Vec<(String, String)>>);

impl HeaderTarget for FakeHeaders {
    fn values(&self, name: &str) -> Vec<String> {
        let headers = self.0.borrow();
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn remove(&self, name: &str) -> Result<(), Error> {
        self.0.borrow_mut().retain(|(n, _)| n != name);
        Ok(())
    }
    fn set(&self, name: &str, value: &str) -> Result<(), Error> {
        self.remove(name)?;
        self.append(name, value)
    }
    fn append(&self, name: &str, value: &str) -> Result<(), Error> {
        self.0
            .borrow_mut()
            .push((name.to_owned(), value.to_owned()));
        Ok(())
    }
}

#[test]
fn header_edits_run_remove_rename_set_add() {
    let config: HeaderConfig = serde_json::from_str(
        r#"{"remove": ["X-Debug"], "rename": {"x-old": "X-New"}, "set": {"x-env": "prod"}, "add": {"x-tag": "b"}}"#,
    )
    .unwrap();
    let rules = HeaderRules::new("headers", &config).unwrap();
    let target = FakeHeaders::default();
    for (n, v) in [
        ("x-debug", "1"),
        ("x-old", "o1"),
        ("x-old", "o2"),
        ("x-env", "dev"),
        ("x-tag", "a"),
    ] {
        target.append(n, v).unwrap();
    }
    rules.apply(&target).unwrap();
    assert_eq!(target.values("x-debug"), Vec::<String>::new());
    assert_eq!(target.values("x-old"), Vec::<String>::new());
    assert_eq!(target.values("x-new"), ["o1", "o2"]);
    assert_eq!(target.values("x-env"), ["prod"]);
    assert_eq!(target.values("x-tag"), ["a", "b"]);
}

#[test]
fn bad_header_names_and_values_are_config_errors() {
    let config: HeaderConfig = serde_json::from_str(r#"{"rename": {"a": "b c"}}"#).unwrap();
    let error = HeaderRules::new("headers", &config).unwrap_err();
    assert!(
        error.message().contains("`b c` is not a valid header name"),
        "{error}"
    );
    let config: HeaderConfig = serde_json::from_str(r#"{"set": {"a": "x\ny"}}"#).unwrap();
    assert!(HeaderRules::new("headers", &config).is_err());
}

#[test]
fn the_body_guard_reads_content_length_first_then_the_length() {
    use crate::body_too_large;
    assert!(body_too_large(Some("11"), None, 10));
    assert!(!body_too_large(Some("10"), None, 10));
    assert!(!body_too_large(None, None, 10));
    assert!(body_too_large(None, Some(11), 10));
    assert!(!body_too_large(Some("junk"), Some(3), 10));
    assert_eq!(crate::size::parse("1MiB"), Some(1 << 20));
}
