//! The config of `jwt-auth`, and the checks that run at load time: keys are parsed here, once.

use std::collections::BTreeMap;

use portcullis_sdk::Error;
use serde::Deserialize;
use serde_json::Value;

use crate::keys::{self, Key};
use crate::token::Alg;

/// `jwt-auth`'s config (see docs/plugins/jwt-auth.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Keys given one by one.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// A JWKS, inline as a table or as JSON text.
    #[serde(default)]
    pub jwks: Option<Jwks>,
    /// The algorithms accepted; by default every algorithm some key can verify.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Accepted `iss` values; empty accepts any.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted `aud` values (one must match); empty accepts any.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Claims every token must carry.
    #[serde(default = "default_required_claims")]
    pub required_claims: Vec<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(default = "default_leeway")]
    pub leeway: u64,
    /// The header the token comes in; `authorization` expects the `Bearer` scheme.
    #[serde(default = "default_header")]
    pub header: String,
    /// A query parameter the token may come in (after the header).
    #[serde(default)]
    pub query_param: Option<String>,
    /// A cookie the token may come in (after the header and the query).
    #[serde(default)]
    pub cookie: Option<String>,
    /// The claim naming the consumer, written to the context as `consumer`; `""` for none.
    #[serde(default = "default_consumer_claim")]
    pub consumer_claim: String,
    /// The claim listing the consumer's groups, written to the context as `consumer.groups`.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Header carrying the consumer upstream; `""` for none.
    #[serde(default = "default_consumer_header")]
    pub consumer_header: String,
    /// Claim to context key.
    #[serde(default)]
    pub claims_to_context: BTreeMap<String, String>,
    /// Claim to upstream header.
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Remove the token from the request before the upstream sees it.
    #[serde(default)]
    pub hide_credentials: bool,
    /// The realm in the `WWW-Authenticate` challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
}

/// One key in `keys`: exactly one of `secret`, `secret-base64`, `pem` and `jwk`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyConfig {
    /// Matched against the token's `kid` header.
    #[serde(default)]
    pub kid: Option<String>,
    /// Restricts the key to one algorithm.
    #[serde(default)]
    pub alg: Option<String>,
    /// An HMAC secret, as text.
    #[serde(default)]
    pub secret: Option<String>,
    /// An HMAC secret, base64.
    #[serde(default)]
    pub secret_base64: Option<String>,
    /// A PEM public key.
    #[serde(default)]
    pub pem: Option<String>,
    /// A JWK, as a table.
    #[serde(default)]
    pub jwk: Option<Value>,
}

/// A JWKS: a table (`{ keys = [...] }`) or the JSON text of one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Jwks {
    /// JSON text, as served by an identity provider's `jwks_uri`.
    Text(String),
    /// A table.
    Table(Value),
}

fn default_required_claims() -> Vec<String> {
    vec!["exp".to_owned()]
}

fn default_leeway() -> u64 {
    30
}

fn default_header() -> String {
    "authorization".to_owned()
}

fn default_consumer_claim() -> String {
    "sub".to_owned()
}

fn default_consumer_header() -> String {
    "x-consumer".to_owned()
}

fn default_realm() -> String {
    "portcullis".to_owned()
}

/// Longest leeway accepted: beyond a day, `exp` means little.
const MAX_LEEWAY: u64 = 86_400;

/// What `validate` builds: the keys and the accepted algorithms.
pub(crate) struct Checked {
    pub(crate) keys: Vec<Key>,
    pub(crate) algorithms: Vec<Alg>,
}

impl Config {
    /// Checks the config and parses its keys.
    pub(crate) fn validate(&self) -> Result<Checked, Error> {
        let mut keys = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            let name = match &key.kid {
                Some(kid) => format!("`keys[{i}]` (kid `{kid}`)"),
                None => format!("`keys[{i}]`"),
            };
            keys.push(
                key.parse()
                    .map_err(|e| Error::new(format!("{name}: {e}")))?,
            );
        }
        if let Some(jwks) = &self.jwks {
            let value = match jwks {
                Jwks::Text(text) => serde_json::from_str(text)
                    .map_err(|e| Error::new(format!("`jwks` is not valid JSON: {e}")))?,
                Jwks::Table(value) => value.clone(),
            };
            let found = keys::from_jwks(&value).map_err(|e| Error::new(format!("`jwks`: {e}")))?;
            if found.is_empty() {
                return Err("`jwks` has no signature key".into());
            }
            keys.extend(found);
        }
        if keys.is_empty() {
            return Err("no key: give `keys` (secrets, PEM public keys or JWKs) or `jwks`".into());
        }
        let usable: Vec<Alg> = Alg::ALL
            .into_iter()
            .filter(|alg| keys.iter().any(|key| key.algorithms.contains(alg)))
            .collect();
        let algorithms = match &self.algorithms {
            None => usable,
            Some(names) if names.is_empty() => {
                return Err("`algorithms` is empty: no token could ever be accepted".into());
            }
            Some(names) => {
                let mut algorithms = Vec::new();
                for name in names {
                    let alg = keys::parse_alg(name)
                        .map_err(|e| Error::new(format!("`algorithms`: {e}")))?;
                    if !usable.contains(&alg) {
                        return Err(Error::new(format!(
                            "`algorithms` lists {name} but no key can verify it"
                        )));
                    }
                    algorithms.push(alg);
                }
                algorithms
            }
        };
        if self.leeway > MAX_LEEWAY {
            return Err(Error::new(format!(
                "`leeway` is {} seconds; at most {MAX_LEEWAY} (a day) is accepted",
                self.leeway
            )));
        }
        if !is_token(&self.header) {
            return Err(Error::new(format!(
                "`header` `{}` is not a valid header name",
                self.header
            )));
        }
        if !self.consumer_header.is_empty() && !is_token(&self.consumer_header) {
            return Err(Error::new(format!(
                "`consumer-header` `{}` is not a valid header name",
                self.consumer_header
            )));
        }
        for (claim, header) in &self.claims_to_headers {
            if !is_token(header) {
                return Err(Error::new(format!(
                    "`claims-to-headers`: `{header}` (for claim `{claim}`) is not a valid header name"
                )));
            }
        }
        for (claim, key) in &self.claims_to_context {
            if key.is_empty() || key.len() > 256 {
                return Err(Error::new(format!(
                    "`claims-to-context`: the context key for claim `{claim}` must be 1 to 256 bytes"
                )));
            }
        }
        for (field, value) in [("query-param", &self.query_param), ("cookie", &self.cookie)] {
            if value.as_deref().is_some_and(str::is_empty) {
                return Err(Error::new(format!(
                    "`{field}` is empty; leave it out for none"
                )));
            }
        }
        if self.realm.contains(['"', '\\']) || self.realm.chars().any(char::is_control) {
            return Err("`realm` may not contain quotes, backslashes or control characters".into());
        }
        Ok(Checked { keys, algorithms })
    }
}

impl KeyConfig {
    fn parse(&self) -> Result<Key, String> {
        let given = [
            self.secret.is_some(),
            self.secret_base64.is_some(),
            self.pem.is_some(),
            self.jwk.is_some(),
        ];
        if given.iter().filter(|given| **given).count() != 1 {
            return Err("give exactly one of `secret`, `secret-base64`, `pem` and `jwk`".into());
        }
        if let Some(jwk) = &self.jwk {
            let mut jwk = jwk.clone();
            // The entry's own `kid` and `alg` win over the JWK's.
            if let Value::Object(fields) = &mut jwk {
                if let Some(kid) = &self.kid {
                    fields.insert("kid".into(), Value::String(kid.clone()));
                }
                if let Some(alg) = &self.alg {
                    fields.insert("alg".into(), Value::String(alg.clone()));
                }
            }
            return keys::from_jwk(&jwk).map_err(|e| format!("`jwk`: {e}"));
        }
        let material = match &self.pem {
            Some(pem) => keys::from_pem(pem).map_err(|e| format!("`pem`: {e}"))?,
            None => keys::secret(self.secret.as_deref(), self.secret_base64.as_deref())?,
        };
        Key::new(self.kid.clone(), self.alg.as_deref(), material)
    }
}

/// Whether `name` is an HTTP token (a valid header name).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
