use super::*;

fn plugin(json: &str) -> Result<RequestTransformer, Error> {
    RequestTransformer::new(serde_json::from_str(json).map_err(Error::from)?)
}

fn query(json: &str) -> QueryRules {
    QueryRules::new(&serde_json::from_str(json).unwrap()).unwrap()
}

#[test]
fn query_edits_remove_rename_and_append_leaving_the_rest_as_sent() {
    let rules = query(r#"{"remove": ["debug"], "rename": {"q": "search"}, "add": {"v": "2 b&c"}}"#);
    assert_eq!(
        rules
            .apply(Some("q=a%20b&debug=1&x=%2F&debug&flag"))
            .as_deref(),
        Some("search=a%20b&x=%2F&flag&v=2%20b%26c")
    );
    assert_eq!(rules.apply(None).as_deref(), Some("v=2%20b%26c"));
    let remove_only = query(r#"{"remove": ["a b"]}"#);
    assert_eq!(
        remove_only.apply(Some("a+b=1")),
        None,
        "names compare decoded"
    );
    assert_eq!(remove_only.apply(Some("c=%zz")).as_deref(), Some("c=%zz"));
}

#[test]
fn the_body_is_asked_for_only_with_body_edits() {
    assert_eq!(
        plugin(r#"{"headers": {"remove": ["x"]}}"#).unwrap().needs(),
        Needs::ON_REQUEST
    );
    assert_eq!(
        plugin(r#"{"body": {"remove": ["/x"]}}"#).unwrap().needs(),
        Needs::ON_REQUEST | Needs::REQUEST_BODY
    );
}

#[test]
fn config_mistakes_name_the_field() {
    assert!(
        plugin("{}")
            .err()
            .unwrap()
            .message()
            .contains("nothing to do")
    );
    let error = plugin(r#"{"body": {"remove": ["password"]}}"#)
        .err()
        .unwrap();
    assert!(
        error.message().contains("`body.remove`: `password`"),
        "{error}"
    );
    let error = plugin(r#"{"body": {"append": {}}}"#).err().unwrap();
    assert!(
        error.message().contains("unknown field `append`"),
        "{error}"
    );
    let error = plugin(r#"{"path": "/v2"}"#).err().unwrap();
    assert!(error.message().contains("unknown field `path`"), "{error}");
    assert!(plugin(r#"{"query": {"remove": [""]}}"#).is_err());
}

#[test]
fn max_body_defaults_to_64_kib_and_takes_sizes() {
    let p = plugin(r#"{"body": {"remove": ["/a"]}}"#).unwrap();
    assert_eq!(p.max_body, 64 << 10);
    let p = plugin(r#"{"body": {"remove": ["/a"]}, "max-body": 100}"#).unwrap();
    assert_eq!(p.max_body, 100);
}
