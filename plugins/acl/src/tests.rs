use super::*;

fn acl(json: &str) -> Result<Acl, Error> {
    let config: Config = serde_json::from_str(json).map_err(Error::from)?;
    Acl::new(config)
}

fn decide(json: &str, consumer: Option<&str>, groups: Option<&str>) -> Decision {
    acl(json).unwrap().0.decide(consumer, groups)
}

#[test]
fn an_allow_list_lets_in_only_its_consumers_and_groups() {
    let config = r#"{"allow-consumers": ["alice"], "allow-groups": ["admins"]}"#;
    assert_eq!(decide(config, Some("alice"), None), Decision::Allow);
    assert_eq!(
        decide(config, Some("bob"), Some("ops,admins")),
        Decision::Allow
    );
    assert_eq!(decide(config, None, Some("admins")), Decision::Allow);
    let Decision::Deny(message) = decide(config, Some("bob"), Some("ops")) else {
        panic!("bob is not allowed");
    };
    assert_eq!(message, "consumer `bob` is not allowed here");
}

#[test]
fn deny_wins_over_allow() {
    let config = r#"{"allow-groups": ["staff"], "deny-consumers": ["mallory"], "deny-groups": ["suspended"]}"#;
    assert_eq!(
        decide(config, Some("alice"), Some("staff")),
        Decision::Allow
    );
    assert!(matches!(
        decide(config, Some("mallory"), Some("staff")),
        Decision::Deny(_)
    ));
    assert!(
        matches!(decide(config, Some("eve"), Some("staff, suspended")), Decision::Deny(m) if m.contains("suspended"))
    );
}

#[test]
fn a_deny_list_alone_lets_everyone_else_in() {
    let config = r#"{"deny-consumers": ["mallory"]}"#;
    assert_eq!(decide(config, Some("alice"), None), Decision::Allow);
    assert!(matches!(
        decide(config, Some("mallory"), None),
        Decision::Deny(_)
    ));
}

#[test]
fn a_request_with_no_consumer_is_denied() {
    let config = r#"{"deny-consumers": ["mallory"]}"#;
    assert!(
        matches!(decide(config, None, None), Decision::Deny(m) if m.contains("authentication plugin"))
    );
    assert!(matches!(
        decide(config, Some(""), Some(" , ")),
        Decision::Deny(_)
    ));
}

#[test]
fn group_names_match_exactly_not_by_prefix() {
    let config = r#"{"allow-groups": ["admin"]}"#;
    assert!(matches!(
        decide(config, Some("a"), Some("admins,administrator")),
        Decision::Deny(_)
    ));
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (r#"{}"#, "no rule"),
        (
            r#"{"allow-groups": ["a,b"]}"#,
            "`allow-groups` has the group `a,b`",
        ),
        (
            r#"{"allow-consumers": [""]}"#,
            "`allow-consumers` has the name ``",
        ),
        (
            r#"{"allow-consumers": ["a"], "deny-consumers": ["a"]}"#,
            "`a` is in both",
        ),
        (r#"{"allow": ["a"]}"#, "unknown field `allow`"),
    ];
    for (json, expected) in cases {
        let message = acl(json).err().unwrap().message().to_owned();
        assert!(message.contains(expected), "{json}: {message}");
    }
}
