use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;

const NOW: f64 = 1_800_000_000.0;
const SECRET: &str = "a-shared-secret-of-sixty-four-bytes-for-every-hmac-algorithm-ok!";

const RSA_KEY: &str = include_str!("../tests/keys/rsa.key");
const RSA_PUB: &str = include_str!("../tests/keys/rsa.pub.pem");
const RSA_PKCS1_PUB: &str = include_str!("../tests/keys/rsa.pkcs1.pub.pem");
const OTHER_RSA_KEY: &str = include_str!("../tests/keys/other-rsa.key");
const P256_KEY: &str = include_str!("../tests/keys/p256.key");
const P256_PUB: &str = include_str!("../tests/keys/p256.pub.pem");
const P384_KEY: &str = include_str!("../tests/keys/p384.key");
const P384_PUB: &str = include_str!("../tests/keys/p384.pub.pem");
const ED_KEY: &str = include_str!("../tests/keys/ed25519.key");
const ED_PUB: &str = include_str!("../tests/keys/ed25519.pub.pem");
const JWKS: &str = include_str!("../tests/keys/jwks.json");

fn verifier(config: Value) -> Result<Verifier, Error> {
    let config: Config = serde_json::from_value(config).map_err(Error::from)?;
    Verifier::new(config)
}

fn config_error(config: Value) -> String {
    match verifier(config) {
        Ok(_) => panic!("the config was accepted"),
        Err(e) => e.message().to_owned(),
    }
}

fn all_keys() -> Verifier {
    verifier(json!({
        "keys": [
            { "secret": SECRET },
            { "pem": RSA_PUB },
            { "pem": P256_PUB },
            { "pem": P384_PUB },
            { "pem": ED_PUB },
        ]
    }))
    .unwrap()
}

fn encoding_key(alg: Algorithm) -> EncodingKey {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => EncodingKey::from_secret(SECRET.as_bytes()),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap()
        }
        ES256 => EncodingKey::from_ec_pem(P256_KEY.as_bytes()).unwrap(),
        ES384 => EncodingKey::from_ec_pem(P384_KEY.as_bytes()).unwrap(),
        EdDSA => EncodingKey::from_ed_pem(ED_KEY.as_bytes()).unwrap(),
    }
}

/// A token signed by `jsonwebtoken` (ring), not by the plugin.
fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &encoding_key(alg)).unwrap()
}

fn valid_claims() -> Value {
    json!({ "sub": "alice", "exp": NOW + 300.0, "iat": NOW - 10.0 })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn rejection(result: Result<Identity, Rejection>) -> String {
    let rejection = result.expect_err("the token was accepted");
    assert_eq!(rejection.status, 401);
    assert_eq!(rejection.error, Some("invalid_token"));
    rejection.message
}

const EVERY_ALGORITHM: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[test]
fn every_supported_algorithm_verifies_a_token_signed_by_jsonwebtoken() {
    let verifier = all_keys();
    assert_eq!(verifier.algorithms(), Alg::ALL);
    for alg in EVERY_ALGORITHM {
        let token = sign(alg, None, &valid_claims());
        let identity = verifier
            .verify(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        assert_eq!(identity.consumer.as_deref(), Some("alice"), "{alg:?}");
    }
}

#[test]
fn keys_from_a_jwks_verify_tokens_by_kid() {
    for jwks in [
        serde_json::from_str::<Value>(JWKS).unwrap(),
        Value::String(JWKS.into()),
    ] {
        let verifier = verifier(json!({ "jwks": jwks })).unwrap();
        for (alg, kid) in [
            (Algorithm::RS256, "rsa-1"),
            (Algorithm::PS512, "rsa-1"),
            (Algorithm::ES256, "p256-1"),
            (Algorithm::ES384, "p384-1"),
            (Algorithm::EdDSA, "ed-1"),
        ] {
            let token = sign(alg, Some(kid), &valid_claims());
            assert!(verifier.verify(&token, NOW).is_ok(), "{alg:?}");
        }
        let token = sign(Algorithm::RS256, Some("rotated-away"), &valid_claims());
        assert!(rejection(verifier.verify(&token, NOW)).contains("kid"));
    }
}

#[test]
fn a_kid_picks_its_keys_and_falls_back_to_keys_without_a_kid() {
    let verifier = verifier(json!({
        "keys": [{ "kid": "labelled", "pem": P256_PUB }, { "pem": RSA_PUB }]
    }))
    .unwrap();
    assert!(
        verifier
            .verify(
                &sign(Algorithm::ES256, Some("labelled"), &valid_claims()),
                NOW
            )
            .is_ok()
    );
    assert!(
        verifier
            .verify(
                &sign(Algorithm::RS256, Some("from-the-idp"), &valid_claims()),
                NOW
            )
            .is_ok()
    );
    let message = rejection(verifier.verify(
        &sign(Algorithm::RS256, Some("labelled"), &valid_claims()),
        NOW,
    ));
    assert!(
        message.contains("no key for the algorithm RS256"),
        "{message}"
    );
    let only_labelled =
        self::verifier(json!({ "keys": [{ "kid": "a", "pem": RSA_PUB }] })).unwrap();
    let message =
        rejection(only_labelled.verify(&sign(Algorithm::RS256, Some("b"), &valid_claims()), NOW));
    assert!(message.contains("kid"), "{message}");
}

#[test]
fn a_jwk_in_keys_and_a_pkcs1_rsa_pem_are_accepted() {
    let jwks: Value = serde_json::from_str(JWKS).unwrap();
    let verifier = verifier(json!({
        "keys": [
            { "jwk": jwks["keys"][1].clone() },
            { "pem": RSA_PKCS1_PUB, "alg": "RS256" },
            { "jwk": { "kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET) } },
        ]
    }))
    .unwrap();
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::HS512] {
        assert!(
            verifier
                .verify(&sign(alg, None, &valid_claims()), NOW)
                .is_ok(),
            "{alg:?}"
        );
    }
    // `alg = "RS256"` pins the key: PS256 with the same key is refused.
    assert!(
        verifier
            .verify(&sign(Algorithm::PS256, None, &valid_claims()), NOW)
            .is_err()
    );
}

#[test]
fn alg_none_is_refused_in_any_spelling() {
    let verifier = all_keys();
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&json!({ "alg": alg, "typ": "JWT" })),
            b64(&valid_claims())
        );
        assert!(
            rejection(verifier.verify(&token, NOW)).contains("alg none"),
            "{alg}"
        );
    }
    assert!(
        config_error(json!({ "keys": [{ "secret": SECRET }], "algorithms": ["none"] }))
            .contains("unsigned")
    );
}

#[test]
fn an_rsa_public_key_is_never_used_as_an_hmac_secret() {
    // The classic confusion: sign HS256 with the server's public key as the secret.
    let verifier = verifier(json!({ "keys": [{ "pem": RSA_PUB }] })).unwrap();
    let header = Header::new(Algorithm::HS256);
    let token = encode(
        &header,
        &valid_claims(),
        &EncodingKey::from_secret(RSA_PUB.as_bytes()),
    )
    .unwrap();
    let message = rejection(verifier.verify(&token, NOW));
    assert!(
        message.contains("not accepted") || message.contains("no key"),
        "{message}"
    );
}

#[test]
fn an_algorithm_outside_the_allow_list_is_refused() {
    let verifier = verifier(json!({
        "keys": [{ "pem": RSA_PUB }],
        "algorithms": ["PS256"],
    }))
    .unwrap();
    assert!(
        verifier
            .verify(&sign(Algorithm::PS256, None, &valid_claims()), NOW)
            .is_ok()
    );
    let message = rejection(verifier.verify(&sign(Algorithm::RS256, None, &valid_claims()), NOW));
    assert!(message.contains("RS256 is not accepted"), "{message}");
}

#[test]
fn a_token_signed_by_another_key_or_altered_is_refused() {
    let verifier = all_keys();
    let other = encode(
        &Header::new(Algorithm::RS256),
        &valid_claims(),
        &EncodingKey::from_rsa_pem(OTHER_RSA_KEY.as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(rejection(verifier.verify(&other, NOW)).contains("signature"));

    let token = sign(Algorithm::ES256, None, &valid_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&json!({ "sub": "admin", "exp": NOW + 300.0 })),
        parts[2]
    );
    assert!(rejection(verifier.verify(&forged, NOW)).contains("signature"));
}

#[test]
fn malformed_tokens_are_refused_with_a_reason_and_never_panic() {
    let verifier = all_keys();
    let good = sign(Algorithm::HS256, None, &valid_claims());
    let (head, rest) = good.split_once('.').unwrap();
    let cases = [
        String::new(),
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "!!.!!.!!".to_owned(),
        format!("{}.e30.", b64(&json!("just a string"))),
        format!("{}.e30.", b64(&json!({ "typ": "JWT" }))),
        format!("{head}.{rest}x"),
        format!("{head}.%%%.{}", good.rsplit('.').next().unwrap()),
        format!("{}.{}", b64(&json!({ "alg": "HS256" })), "bm90IGpzb24.AAAA"),
        "é.é.é".to_owned(),
        "x".repeat(token::MAX_TOKEN_LEN + 1),
    ];
    for token in cases {
        let message = rejection(verifier.verify(&token, NOW));
        assert!(!message.is_empty());
    }
    // A valid signature over a payload that is not a JSON object.
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let signed_string = encode(&Header::new(Algorithm::HS256), &json!([1, 2]), &key).unwrap();
    assert!(rejection(verifier.verify(&signed_string, NOW)).contains("payload"));
}

#[test]
fn unknown_algorithms_and_crit_headers_are_refused() {
    let verifier = all_keys();
    let token = format!(
        "{}.{}.AAAA",
        b64(&json!({ "alg": "HS1" })),
        b64(&valid_claims())
    );
    assert!(rejection(verifier.verify(&token, NOW)).contains("not supported"));
    let token = format!(
        "{}.{}.AAAA",
        b64(&json!({ "alg": "HS256", "crit": ["exp"] })),
        b64(&valid_claims())
    );
    assert!(rejection(verifier.verify(&token, NOW)).contains("crit"));
}

#[test]
fn exp_nbf_and_iat_are_checked_with_leeway() {
    let verifier = verifier(json!({ "keys": [{ "secret": SECRET }], "leeway": 30 })).unwrap();
    let at = |claims: Value| verifier.verify(&sign(Algorithm::HS256, None, &claims), NOW);
    assert!(
        at(json!({ "exp": NOW - 20.0 })).is_ok(),
        "expired within the leeway"
    );
    assert!(rejection(at(json!({ "exp": NOW - 31.0 }))).contains("expired"));
    assert!(at(json!({ "exp": NOW + 60.0, "nbf": NOW + 20.0 })).is_ok());
    assert!(rejection(at(json!({ "exp": NOW + 60.0, "nbf": NOW + 40.0 }))).contains("nbf"));
    assert!(rejection(at(json!({ "exp": NOW + 60.0, "iat": NOW + 40.0 }))).contains("iat"));
    assert!(rejection(at(json!({ "exp": "tomorrow" }))).contains("not a number"));
    assert!(
        rejection(at(json!({ "sub": "alice" }))).contains("`exp`"),
        "exp is required by default"
    );
}

#[test]
fn issuer_audience_and_required_claims_are_checked() {
    let verifier = verifier(json!({
        "keys": [{ "secret": SECRET }],
        "issuers": ["https://idp.example.com/"],
        "audiences": ["orders", "billing"],
        "required-claims": ["exp", "sub"],
    }))
    .unwrap();
    let at = |claims: Value| verifier.verify(&sign(Algorithm::HS256, None, &claims), NOW);
    let base = json!({ "exp": NOW + 60.0, "sub": "alice", "iss": "https://idp.example.com/" });
    let with = |extra: Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    assert!(at(with(json!({ "aud": "orders" }))).is_ok());
    assert!(at(with(json!({ "aud": ["other", "billing"] }))).is_ok());
    assert!(rejection(at(with(json!({ "aud": "other" })))).contains("aud"));
    assert!(rejection(at(base.clone())).contains("aud"));
    assert!(
        rejection(at(with(json!({ "aud": "orders", "iss": "https://evil/" })))).contains("iss")
    );
    let mut no_sub = with(json!({ "aud": "orders" }));
    no_sub.as_object_mut().unwrap().remove("sub");
    assert!(rejection(at(no_sub)).contains("`sub`"));
}

#[test]
fn the_consumer_groups_and_chosen_claims_are_extracted() {
    let verifier = verifier(json!({
        "keys": [{ "secret": SECRET }],
        "groups-claim": "roles",
        "claims-to-context": { "email": "jwt.email", "tier": "jwt.tier" },
        "claims-to-headers": { "email": "x-user-email", "org": "x-org" },
    }))
    .unwrap();
    let claims = json!({
        "exp": NOW + 60.0, "sub": "alice", "roles": ["admin", "ops"],
        "email": "alice@example.com", "tier": 3,
    });
    let identity = verifier
        .verify(&sign(Algorithm::HS256, None, &claims), NOW)
        .unwrap();
    assert_eq!(identity.consumer.as_deref(), Some("alice"));
    assert_eq!(identity.groups.as_deref(), Some("admin,ops"));
    assert_eq!(
        identity.context,
        [
            ("jwt.email".to_owned(), "alice@example.com".to_owned()),
            ("jwt.tier".to_owned(), "3".to_owned())
        ]
    );
    assert_eq!(
        identity.headers,
        [
            (
                "x-user-email".to_owned(),
                Some("alice@example.com".to_owned())
            ),
            ("x-org".to_owned(), None)
        ]
    );
    assert_eq!(
        claims::groups(Some(&json!("read write,admin"))).as_deref(),
        Some("read,write,admin")
    );
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (json!({}), "no key"),
        (
            json!({ "keys": [{ "secret": "short" }] }),
            "`keys[0]`: the secret is 5 bytes",
        ),
        (
            json!({ "keys": [{ "secret": SECRET, "alg": "RS256" }] }),
            "`keys[0]`: `alg` RS256 cannot be used with an HMAC secret",
        ),
        (
            json!({ "keys": [{ "secret": &SECRET[..40], "alg": "HS512" }] }),
            "HS512 needs a secret of at least 64 bytes",
        ),
        (
            json!({ "keys": [{ "pem": RSA_KEY }] }),
            "`keys[0]`: `pem`: this is a private key",
        ),
        (
            json!({ "keys": [{ "pem": "hello" }] }),
            "`keys[0]`: `pem`: not a PEM block",
        ),
        (
            json!({ "keys": [{ "kid": "a", "pem": RSA_PUB, "secret": SECRET }] }),
            "`keys[0]` (kid `a`): give exactly one",
        ),
        (
            json!({ "keys": [{ "pem": P256_PUB, "alg": "ES384" }] }),
            "ES384 cannot be used with a P-256 key",
        ),
        (
            json!({ "keys": [{ "jwk": { "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" } }] }),
            "`jwk`: unsupported curve `P-521`",
        ),
        (json!({ "jwks": "{not json" }), "`jwks` is not valid JSON"),
        (
            json!({ "jwks": { "keys": [{ "kty": "RSA", "kid": "k9", "n": "AQAB" }] } }),
            "`jwks`: key 0 (kid `k9`): `e` is missing",
        ),
        (
            json!({ "keys": [{ "pem": RSA_PUB }], "algorithms": ["ES256"] }),
            "`algorithms` lists ES256 but no key",
        ),
        (
            json!({ "keys": [{ "pem": RSA_PUB }], "algorithms": ["RS257"] }),
            "unknown algorithm `RS257`",
        ),
        (
            json!({ "keys": [{ "pem": RSA_PUB }], "leeway": 100000 }),
            "`leeway`",
        ),
        (
            json!({ "keys": [{ "pem": RSA_PUB }], "claims-to-headers": { "sub": "bad header" } }),
            "`claims-to-headers`",
        ),
        (
            json!({ "keys": [{ "pem": RSA_PUB }], "realm": "a\"b" }),
            "`realm`",
        ),
        (
            json!({ "keys": [{ "pem": RSA_PUB }], "leway": 5 }),
            "unknown field `leway`",
        ),
    ];
    for (config, expected) in cases {
        let message = config_error(config.clone());
        assert!(message.contains(expected), "{config}: {message}");
    }
}

#[test]
fn a_jwks_skips_encryption_keys() {
    let mut jwks: Value = serde_json::from_str(JWKS).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB" }));
    assert!(verifier(json!({ "jwks": jwks })).is_ok());
    let only_enc = json!({ "keys": [{ "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB" }] });
    assert!(config_error(json!({ "jwks": only_enc })).contains("no signature key"));
}

#[test]
fn the_token_is_found_after_bearer_or_in_a_cookie() {
    assert_eq!(bearer("Bearer abc.def.ghi", true), Some("abc.def.ghi"));
    assert_eq!(bearer("bearer   abc ", true), Some("abc"));
    assert_eq!(bearer("Basic YWxpY2U6eA==", true), None);
    assert_eq!(bearer("abc.def.ghi", true), None);
    assert_eq!(bearer("abc.def.ghi", false), Some("abc.def.ghi"));
    assert_eq!(bearer("Bearer ", true), None);
    assert_eq!(cookie("a=1; jwt=abc.def; b=2", "jwt"), Some("abc.def"));
    assert_eq!(cookie("a=1", "jwt"), None);
}

#[test]
fn error_descriptions_are_safe_inside_a_quoted_string() {
    assert_eq!(description("bad \"x\" \\ é\n"), "bad 'x' ' ''");
}
