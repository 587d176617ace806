//! A compact JWS (the `header.payload.signature` form of a JWT) taken apart, before any trust:
//! nothing here checks the signature or believes a claim.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::Rejection;

/// The longest token accepted: larger ones are refused before any decoding.
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The signature algorithms the plugin verifies (RFC 7518, RFC 8037). `none` is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Alg {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The algorithm called `name` (exact JOSE spelling).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }
}

/// The JOSE header fields the plugin reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    /// Extensions the verifier must understand (RFC 7515 §4.1.11): none are, so any refuses.
    #[serde(default)]
    pub(crate) crit: Option<serde_json::Value>,
}

/// A token split and decoded, signature not yet checked.
#[derive(Debug)]
pub(crate) struct Token<'a> {
    pub(crate) header: Header,
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    /// The payload's base64url text (decoded only after the signature is checked).
    pub(crate) payload: &'a str,
    pub(crate) signature: Vec<u8>,
}

/// Splits and decodes a compact JWS.
pub(crate) fn decode(token: &str) -> Result<Token<'_>, Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::invalid("the token is too large"));
    }
    let mut parts = token.split('.');
    let (Some(header_text), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::invalid(
            "the token is malformed: a JWT has three dot-separated parts",
        ));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_text)
        .map_err(|_| Rejection::invalid("the token's header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| Rejection::invalid("the token's header is not a JSON object with `alg`"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::invalid("the token's signature is not base64url"))?;
    Ok(Token {
        header,
        signing_input: &token[..header_text.len() + 1 + payload.len()],
        payload,
        signature,
    })
}

/// Decodes the payload into a JSON object (after the signature was checked).
pub(crate) fn claims(
    payload: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Rejection::invalid("the token's payload is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| Rejection::invalid("the token's payload is not a JSON object"))
}
