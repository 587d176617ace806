//! JWT and JWKS parsing in `jwt-auth`, compiled natively: fuzzed tokens against keys of every
//! type (HMAC, RSA, EC, Ed25519 from the plugin's test keys), and fuzzed JWKS documents and key
//! configs. Never a panic; a token is accepted only if it verifies, which a fuzzer cannot forge.
#![no_main]

use std::sync::OnceLock;

use jwt_auth::{Config, Jwks, Verifier};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// A fixed time, so claims checks are deterministic (2026-01-01).
const NOW: f64 = 1_767_225_600.0;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let keys = portcullis_fuzz::workspace().join("plugins/jwt-auth/tests/keys");
        let read = |name: &str| std::fs::read_to_string(keys.join(name)).expect("a test key");
        let jwks: serde_json::Value =
            serde_json::from_str(&read("jwks.json")).expect("the test JWKS");
        let config = json!({
            "keys": [
                { "kid": "hmac", "secret": "fuzz-secret-fuzz-secret-fuzz-secret-fuzz-secret-fuzz-secret-0123" },
                { "pem": read("rsa.pub.pem") },
                { "pem": read("p256.pub.pem") },
                { "pem": read("p384.pub.pem") },
                { "pem": read("ed25519.pub.pem") },
            ],
            "jwks": jwks,
        });
        let config: Config = serde_json::from_value(config).expect("the fuzz config");
        Verifier::new(config).expect("the fuzz keys")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        // A token.
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                let _ = verifier().verify(token, NOW);
            }
        }
        // A whole config: keys, JWKS, claims rules.
        1 => {
            if let Ok(config) = serde_json::from_slice::<Config>(rest) {
                let _ = Verifier::new(config);
            }
        }
        // A JWKS document, as `config-files = { jwks = ... }` delivers it.
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let config = Config {
                    jwks: Some(Jwks::Text(text.to_owned())),
                    ..serde_json::from_value(json!({})).expect("the default config")
                };
                let _ = Verifier::new(config);
            }
        }
    }
});
