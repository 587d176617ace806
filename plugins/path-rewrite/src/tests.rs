use super::*;

fn plugin(json: &str) -> Result<PathRewrite, Error> {
    PathRewrite::new(serde_json::from_str(json).map_err(Error::from)?)
}

#[test]
fn strip_prefix_is_segment_aware() {
    assert_eq!(strip_prefix("/legacy/orders/7", "/legacy"), "/orders/7");
    assert_eq!(strip_prefix("/legacy", "/legacy"), "/");
    assert_eq!(strip_prefix("/legacyx/a", "/legacy"), "/legacyx/a");
}

#[test]
fn add_prefix_joins_without_doubling_slashes() {
    assert_eq!(prefixed("/orders", "/v2"), "/v2/orders");
    assert_eq!(prefixed("/", "/v2"), "/v2");
    let p = plugin(r#"{"strip-prefix": "/api/", "add-prefix": "/v2/"}"#).unwrap();
    assert!(matches!(&p.0, Rewrite::Prefix { strip, add } if strip == "/api" && add == "/v2"));
}

#[test]
fn templates_fill_in_route_parameters() {
    let segments = parse_template("/v2/profiles/{id}/x/{tab}").unwrap();
    let path = render(&segments, |n| Some(format!("<{n}>"))).unwrap();
    assert_eq!(path, "/v2/profiles/<id>/x/<tab>");
    let error = render(&segments, |_| None).unwrap_err();
    assert!(
        error.message().contains("no path parameter `id`"),
        "{error}"
    );
}

#[test]
fn bad_configs_say_what_to_fix() {
    assert!(
        plugin("{}")
            .err()
            .unwrap()
            .message()
            .contains("nothing to do")
    );
    assert!(
        plugin(r#"{"template": "/a", "strip-prefix": "/b"}"#)
            .err()
            .unwrap()
            .message()
            .contains("not both")
    );
    assert!(plugin(r#"{"template": "a/{id}"}"#).is_err());
    assert!(plugin(r#"{"template": "/a/{id"}"#).is_err());
    assert!(plugin(r#"{"template": "/a/{}"}"#).is_err());
    assert!(plugin(r#"{"strip-prefix": "api"}"#).is_err());
}

#[test]
fn a_catch_all_parameter_may_keep_its_dots() {
    let segments = parse_template("/assets/{file..}").unwrap();
    assert_eq!(
        segments,
        [
            Segment::Text("/assets/".into()),
            Segment::Param("file".into())
        ]
    );
    let path = render(&segments, |_| Some("css/site.css".into())).unwrap();
    assert_eq!(path, "/assets/css/site.css");
}
