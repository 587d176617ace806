use super::*;

fn plugin(json: &str) -> Result<ResponseTransformer, Error> {
    ResponseTransformer::new(serde_json::from_str(json).map_err(Error::from)?)
}

#[test]
fn the_body_is_asked_for_only_with_body_edits() {
    assert_eq!(
        plugin(r#"{"headers": {"set": {"x-a": "1"}}}"#)
            .unwrap()
            .needs(),
        Needs::ON_RESPONSE
    );
    assert_eq!(
        plugin(r#"{"body": {"add": {"/x": 1}}}"#).unwrap().needs(),
        Needs::ON_REQUEST | Needs::ON_RESPONSE | Needs::RESPONSE_BODY
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
    let error = plugin(r#"{"body": {"rename": {"/a": "b"}}}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("`body.rename`: `b`"), "{error}");
    let error = plugin(r#"{"query": {}}"#).err().unwrap();
    assert!(error.message().contains("unknown field `query`"), "{error}");
    let error = plugin(r#"{"headers": {"remove": ["a b"]}}"#).err().unwrap();
    assert!(error.message().contains("`a b`"), "{error}");
}
