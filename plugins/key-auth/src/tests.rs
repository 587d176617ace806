use super::*;

fn config(json: &str) -> Result<KeyAuth, Error> {
    let config: Config = serde_json::from_str(json).map_err(Error::from)?;
    KeyAuth::new(config)
}

#[test]
fn defaults_look_in_the_apikey_header_and_query_and_hide_the_key() {
    let plugin = config(r#"{"consumers": {"alice": ["k1"]}}"#).unwrap();
    assert_eq!(plugin.config.key_names, ["apikey"]);
    assert!(plugin.config.in_header && plugin.config.in_query && plugin.config.hide_credentials);
    assert_eq!(plugin.config.consumer_header.as_deref(), Some("x-consumer"));
}

#[test]
fn a_key_maps_to_its_consumer() {
    let plugin = config(r#"{"consumers": {"alice": ["k1"], "bob": ["k2", "k3"]}}"#).unwrap();
    assert_eq!(plugin.consumer_of("k3"), Some("bob"));
    assert_eq!(plugin.consumer_of("k1"), Some("alice"));
    assert_eq!(plugin.consumer_of("k"), None);
    assert_eq!(plugin.consumer_of(""), None);
}

#[test]
fn a_key_shared_by_two_consumers_is_a_config_error() {
    let error = config(r#"{"consumers": {"alice": ["same"], "bob": ["same"]}}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("share a key"), "{error}");
}

#[test]
fn an_unknown_option_is_a_config_error_naming_it() {
    let error = config(r#"{"consumers": {"alice": ["k"]}, "hide": true}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("unknown field `hide`"), "{error}");
}

#[test]
fn empty_consumers_or_nowhere_to_look_are_config_errors() {
    assert!(config(r#"{"consumers": {}}"#).is_err());
    assert!(config(r#"{"consumers": {"a": []}}"#).is_err());
    assert!(
        config(r#"{"consumers": {"a": ["k"]}, "in-header": false, "in-query": false}"#).is_err()
    );
    assert!(config(r#"{"consumers": {"a": ["k"]}, "key-names": ["bad name"]}"#).is_err());
}

#[test]
fn query_parameters_are_found_decoded_and_removed_without_touching_the_rest() {
    assert_eq!(
        query::get("a=1&apikey=k%2B1&b=2", "apikey").as_deref(),
        Some("k+1")
    );
    assert_eq!(query::get("apikey", "apikey").as_deref(), Some(""));
    assert_eq!(query::get("a=1", "apikey"), None);
    assert_eq!(
        query::without("a=%20x&apikey=k&b=2", "apikey"),
        "a=%20x&b=2"
    );
    assert_eq!(query::without("apikey=k", "apikey"), "");
    assert_eq!(query::decode("%zz%4"), "%zz%4");
}

#[test]
fn constant_time_comparison_is_equality() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

#[test]
fn groups_are_joined_per_consumer_and_must_name_known_consumers() {
    let plugin = config(
        r#"{"consumers": {"alice": ["k1"], "bob": ["k2"], "carol": ["k3"]},
            "groups": {"admins": ["alice", "bob"], "ops": ["bob", "bob"]}}"#,
    )
    .unwrap();
    assert_eq!(plugin.groups["alice"], "admins");
    assert_eq!(plugin.groups["bob"], "admins,ops");
    assert!(!plugin.groups.contains_key("carol"));

    let error = config(r#"{"consumers": {"alice": ["k1"]}, "groups": {"admins": ["zed"]}}"#)
        .err()
        .unwrap();
    assert!(
        error.message().contains("group `admins` names `zed`"),
        "{error}"
    );
    let error = config(r#"{"consumers": {"alice": ["k1"]}, "groups": {"a,b": ["alice"]}}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("group `a,b`"), "{error}");
}
