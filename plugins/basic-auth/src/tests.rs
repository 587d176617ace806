//! Hashes come from tests/hashes.json, made by Python's `bcrypt` and `argon2-cffi`
//! (tests/generate.py), not by the crates the plugin verifies with.

use serde_json::{Value, json};

use super::*;

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../tests/hashes.json")).unwrap()
}

fn hash(user: &str) -> String {
    fixtures()[user]["hash"].as_str().unwrap().to_owned()
}

fn password(user: &str) -> String {
    fixtures()[user]["password"].as_str().unwrap().to_owned()
}

fn plugin(config: Value) -> Result<BasicAuth, Error> {
    let config: Config = serde_json::from_value(config).map_err(Error::from)?;
    BasicAuth::new(config)
}

fn users() -> BasicAuth {
    plugin(json!({
        "consumers": { "alice": hash("alice"), "bob": hash("bob"), "carol": hash("carol") },
        "groups": { "admins": ["alice", "bob"], "ops": ["bob"] },
    }))
    .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn bcrypt_argon2id_and_argon2i_hashes_verify_their_passwords() {
    let plugin = users();
    for user in ["alice", "bob", "carol"] {
        let header = basic(user, &password(user));
        assert_eq!(plugin.authenticate(Some(&header)), Ok(user), "{user}");
    }
}

#[test]
fn a_wrong_password_or_an_unknown_user_is_invalid() {
    let plugin = users();
    for header in [
        basic("alice", "wrong"),
        basic("alice", ""),
        basic("mallory", &password("alice")),
        basic("bob", &password("alice")),
    ] {
        assert_eq!(
            plugin.authenticate(Some(&header)),
            Err(Refusal::Invalid),
            "{header}"
        );
    }
}

#[test]
fn missing_and_malformed_credentials_are_told_apart() {
    let plugin = users();
    assert_eq!(plugin.authenticate(None), Err(Refusal::Missing));
    assert_eq!(
        plugin.authenticate(Some("Bearer abc")),
        Err(Refusal::Missing)
    );
    assert_eq!(plugin.authenticate(Some("Basic")), Err(Refusal::Missing));
    for header in ["Basic !!!", "Basic YWxpY2U=", "Basic /w==", "basic %%%"] {
        assert_eq!(
            plugin.authenticate(Some(header)),
            Err(Refusal::Malformed),
            "{header}"
        );
    }
    // The scheme is case-insensitive and the password may hold colons.
    assert_eq!(
        credentials("bAsIc YTpiOmM="),
        Ok(("a".into(), "b:c".into()))
    );
}

#[test]
fn groups_are_joined_per_consumer() {
    let plugin = users();
    assert_eq!(plugin.users["alice"].groups, "admins");
    assert_eq!(plugin.users["bob"].groups, "admins,ops");
    assert_eq!(plugin.users["carol"].groups, "");
}

#[test]
fn a_successful_verification_is_cached_and_a_failed_one_is_not() {
    let plugin =
        plugin(json!({ "consumers": { "alice": hash("alice") }, "cache-size": 1 })).unwrap();
    assert!(plugin.authenticate(Some(&basic("alice", "wrong"))).is_err());
    assert_eq!(plugin.cache.borrow().len(), 0);
    assert!(
        plugin
            .authenticate(Some(&basic("alice", &password("alice"))))
            .is_ok()
    );
    assert_eq!(plugin.cache.borrow().len(), 1);
    assert!(
        plugin
            .authenticate(Some(&basic("alice", &password("alice"))))
            .is_ok()
    );
    // The cache never lets a wrong password through.
    assert!(plugin.authenticate(Some(&basic("alice", "wrong"))).is_err());

    let mut cache = Cache::new(2);
    for n in 0..5 {
        cache.insert(Cache::key("u", &n.to_string()));
    }
    assert_eq!(cache.len(), 2);
    assert!(cache.contains(&Cache::key("u", "4")) && !cache.contains(&Cache::key("u", "0")));
    assert_ne!(Cache::key("ab", "c"), Cache::key("a", "bc"));
}

#[test]
fn config_errors_name_the_field() {
    let alice = hash("alice");
    let cases = [
        (json!({ "consumers": {} }), "`consumers` is empty"),
        (
            json!({ "consumers": { "alice": "secret" } }),
            "consumer `alice`: the password hash is neither",
        ),
        (
            json!({ "consumers": { "alice": "$2b$10$short" } }),
            "consumer `alice`: the password hash is not a valid bcrypt hash",
        ),
        (
            json!({ "consumers": { "alice": "$argon2id$v=19$m=x" } }),
            "consumer `alice`: the password hash has invalid Argon2 parameters",
        ),
        (
            json!({ "consumers": { "alice": "$argon2id$v=19$" } }),
            "not a valid Argon2 hash",
        ),
        (
            json!({ "consumers": { "alice": alice.replacen("$04$", "$15$", 1) } }),
            "bcrypt cost 15 is too slow",
        ),
        (json!({ "consumers": { "a:b": alice } }), "consumer `a:b`"),
        (
            json!({ "consumers": { "alice": alice }, "groups": { "admins": ["zed"] } }),
            "group `admins` names `zed`",
        ),
        (
            json!({ "consumers": { "alice": alice }, "groups": { "a,b": ["alice"] } }),
            "group `a,b`",
        ),
        (
            json!({ "consumers": { "alice": alice }, "cache-size": 1_000_000 }),
            "`cache-size`",
        ),
        (
            json!({ "consumers": { "alice": alice }, "password": "x" }),
            "unknown field `password`",
        ),
    ];
    for (config, expected) in cases {
        let message = match plugin(config.clone()) {
            Ok(_) => panic!("accepted: {config}"),
            Err(e) => e.message().to_owned(),
        };
        assert!(message.contains(expected), "{config}: {message}");
    }
}
