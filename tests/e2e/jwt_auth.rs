//! `jwt-auth` in front of a real upstream: tokens signed here by `jsonwebtoken` (ring), keys from
//! the plugin's committed test keys, the JWKS given inline as the JSON text of a JWKS file.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway, TestResponse};
use serde_json::{Value, json};

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../plugins/jwt-auth/tests/keys"
);
const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn key_file(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).expect("a committed test key")
}

/// The route: JWKS (RSA, EC, Ed25519) plus one HMAC secret; the groups and an email claim go
/// upstream, the groups through the context and the `headers` plugin.
fn manifest(upstream: &EchoUpstream) -> String {
    one_route(
        upstream,
        &format!(
            r#"
[[routes.api.plugins]]
plugin = "jwt-auth"

[routes.api.plugins.config]
jwks = '''{jwks}'''
keys = [{{ kid = "hmac-1", secret = "{SECRET}" }}]
issuers = ["https://idp.test/"]
groups-claim = "groups"
claims-to-headers = {{ email = "x-user-email" }}

[[routes.api.plugins]]
plugin = "headers"
config = {{ request = {{ set = {{ x-groups = "${{consumer.groups}}" }} }} }}
"#,
            jwks = key_file("jwks.json")
        ),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn claims() -> Value {
    json!({
        "sub": "alice",
        "iss": "https://idp.test/",
        "exp": now() + 300,
        "iat": now(),
        "groups": ["admins", "ops"],
        "email": "alice@example.com",
    })
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key).expect("jsonwebtoken signs")
}

fn rsa_token(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(key_file("rsa.key").as_bytes()).expect("RSA key");
    sign(Algorithm::RS256, "rsa-1", &key, claims)
}

async fn get_with_token(gateway: &TestGateway, token: &str) -> TestResponse {
    gateway
        .client()
        .get_with("/orders", &[("authorization", &format!("Bearer {token}"))])
        .await
}

fn challenge(response: &TestResponse) -> &str {
    response
        .header("www-authenticate")
        .expect("a WWW-Authenticate challenge")
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_with_a_bearer_challenge_and_never_reaches_the_upstream()
{
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway.client().get("/orders").await;

    assert_eq!(response.status, 401);
    assert_eq!(challenge(&response), r#"Bearer realm="portcullis""#);
    assert_eq!(response.json()["error"], "unauthorized");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_valid_rs256_token_from_the_jwks_passes_with_consumer_groups_and_claims_upstream() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    let response = gateway
        .client()
        .get_with(
            "/orders",
            &[
                ("authorization", &format!("Bearer {}", rsa_token(&claims()))),
                ("x-consumer", "spoofed-admin"),
            ],
        )
        .await;

    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.upstream_saw_header("x-consumer"), ["alice"]);
    assert_eq!(response.upstream_saw_header("x-groups"), ["admins,ops"]);
    assert_eq!(
        response.upstream_saw_header("x-user-email"),
        ["alice@example.com"]
    );
}

#[tokio::test]
async fn es256_eddsa_and_hs256_tokens_pass_too() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let p256 = EncodingKey::from_ec_pem(key_file("p256.key").as_bytes()).expect("P-256 key");
    let ed = EncodingKey::from_ed_pem(key_file("ed25519.key").as_bytes()).expect("Ed25519 key");
    let hmac = EncodingKey::from_secret(SECRET.as_bytes());

    for token in [
        sign(Algorithm::ES256, "p256-1", &p256, &claims()),
        sign(Algorithm::EdDSA, "ed-1", &ed, &claims()),
        sign(Algorithm::HS256, "hmac-1", &hmac, &claims()),
    ] {
        let response = get_with_token(&gateway, &token).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        assert_eq!(response.upstream_saw_header("x-consumer"), ["alice"]);
    }
}

#[tokio::test]
async fn an_expired_token_gets_401_invalid_token_with_an_error_description() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);

    let response = get_with_token(&gateway, &rsa_token(&expired)).await;

    assert_eq!(response.status, 401);
    assert_eq!(
        challenge(&response),
        r#"Bearer realm="portcullis", error="invalid_token", error_description="the token has expired""#
    );
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_wrong_issuer_a_forged_token_and_alg_none_get_401() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;
    let mut other_issuer = claims();
    other_issuer["iss"] = json!("https://evil.test/");
    let stranger =
        EncodingKey::from_rsa_pem(key_file("other-rsa.key").as_bytes()).expect("RSA key");
    let unsigned = {
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&json!({ "alg": "none" })), b64(&claims()))
    };

    for (token, reason) in [
        (rsa_token(&other_issuer), "issuer"),
        (
            sign(Algorithm::RS256, "rsa-1", &stranger, &claims()),
            "signature",
        ),
        (unsigned, "alg none"),
    ] {
        let response = get_with_token(&gateway, &token).await;
        assert_eq!(response.status, 401, "{reason}");
        assert!(challenge(&response).contains(r#"error="invalid_token""#));
        assert!(
            response.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{reason}: {:?}",
            response.body
        );
    }
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn malformed_authorization_headers_get_a_clean_401_not_an_error() {
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream)).await;

    for value in [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ...",
        "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer",
    ] {
        let response = gateway
            .client()
            .get_with("/orders", &[("authorization", value)])
            .await;
        assert_eq!(response.status, 401, "{value}: {:?}", response.body);
        assert_eq!(response.json()["error"], "unauthorized", "{value}");
    }
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_bad_config_is_refused_at_load_time_with_the_plugins_own_message() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        r#"
[[routes.api.plugins]]
plugin = "jwt-auth"
config = { keys = [{ secret = "too-short" }] }
"#,
    );

    let error = TestGateway::try_start(&manifest)
        .await
        .err()
        .expect("the manifest is refused");

    assert!(
        error.contains("plugin `jwt-auth` on route `api` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("`keys[0]`: the secret is 9 bytes long"),
        "{error}"
    );
}

#[tokio::test]
async fn a_jwks_file_named_in_config_files_is_read_at_load_time() {
    let upstream = EchoUpstream::start("echo").await;
    let manifest = one_route(
        &upstream,
        &format!(
            r#"
[[routes.api.plugins]]
plugin = "jwt-auth"
config-files = {{ jwks = "{KEYS}/jwks.json" }}
"#
        ),
    );
    let gateway = TestGateway::start(&manifest).await;

    let response = get_with_token(&gateway, &rsa_token(&claims())).await;

    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.upstream_saw_header("x-consumer"), ["alice"]);
}
