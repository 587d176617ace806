//! Verification keys: parsed once at load time from a secret, a PEM public key or a JWK, each
//! bound to the algorithms its type allows, so a token can never pick how its key is used
//! (an RSA public key is never taken as an HMAC secret: the classic algorithm confusion).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey, traits::PublicKeyParts};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::token::Alg;

/// The smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048 bits).
const MIN_RSA_BITS: usize = 2048;

/// A public key or secret, parsed.
#[derive(Clone)]
pub(crate) enum Material {
    Hmac(Vec<u8>),
    Rsa(Box<RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl Material {
    /// What the key is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Material::Hmac(_) => "an HMAC secret",
            Material::Rsa(_) => "an RSA key",
            Material::P256(_) => "a P-256 key",
            Material::P384(_) => "a P-384 key",
            Material::Ed25519(_) => "an Ed25519 key",
        }
    }

    /// The algorithms a key of this type can verify.
    fn algorithms(&self) -> Vec<Alg> {
        use Alg::*;
        match self {
            // A secret shorter than the hash weakens HMAC (RFC 7518 §3.2).
            Material::Hmac(secret) => [(HS256, 32), (HS384, 48), (HS512, 64)]
                .into_iter()
                .filter(|(_, min)| secret.len() >= *min)
                .map(|(alg, _)| alg)
                .collect(),
            Material::Rsa(_) => vec![RS256, RS384, RS512, PS256, PS384, PS512],
            Material::P256(_) => vec![ES256],
            Material::P384(_) => vec![ES384],
            Material::Ed25519(_) => vec![EdDSA],
        }
    }
}

/// A verification key and the algorithms it may be used with.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) algorithms: Vec<Alg>,
    material: Material,
}

impl Key {
    /// A key from its material, restricted to `alg` when given. Errors say what does not fit.
    pub(crate) fn new(
        kid: Option<String>,
        alg: Option<&str>,
        material: Material,
    ) -> Result<Self, String> {
        let possible = material.algorithms();
        if let Material::Hmac(secret) = &material
            && possible.is_empty()
        {
            return Err(format!(
                "the secret is {} bytes long; HMAC needs at least 32 (HS256), 48 (HS384) or 64 (HS512)",
                secret.len()
            ));
        }
        let algorithms = match alg {
            None => possible,
            Some(name) => {
                let alg = parse_alg(name)?;
                if !possible.contains(&alg) {
                    return Err(match &material {
                        Material::Hmac(secret) if alg.name().starts_with("HS") => format!(
                            "`alg` {name} needs a secret of at least {} bytes; this one has {}",
                            hash_len(alg),
                            secret.len()
                        ),
                        _ => format!("`alg` {name} cannot be used with {}", material.kind()),
                    });
                }
                vec![alg]
            }
        };
        Ok(Self {
            kid,
            algorithms,
            material,
        })
    }

    /// Whether `signature` over `input` is valid under this key with `alg`. `alg` must be one of
    /// the key's algorithms; any other is refused here too.
    pub(crate) fn verify(&self, alg: Alg, input: &[u8], signature: &[u8]) -> bool {
        if !self.algorithms.contains(&alg) {
            return false;
        }
        match (&self.material, alg) {
            (Material::Hmac(secret), Alg::HS256) => {
                hmac_ok::<Hmac<Sha256>>(secret, input, signature)
            }
            (Material::Hmac(secret), Alg::HS384) => {
                hmac_ok::<Hmac<Sha384>>(secret, input, signature)
            }
            (Material::Hmac(secret), Alg::HS512) => {
                hmac_ok::<Hmac<Sha512>>(secret, input, signature)
            }
            (Material::Rsa(key), Alg::RS256) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(input),
                    signature,
                )
                .is_ok(),
            (Material::Rsa(key), Alg::RS384) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha384>(),
                    &Sha384::digest(input),
                    signature,
                )
                .is_ok(),
            (Material::Rsa(key), Alg::RS512) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha512>(),
                    &Sha512::digest(input),
                    signature,
                )
                .is_ok(),
            (Material::Rsa(key), Alg::PS256) => key
                .verify(Pss::new::<Sha256>(), &Sha256::digest(input), signature)
                .is_ok(),
            (Material::Rsa(key), Alg::PS384) => key
                .verify(Pss::new::<Sha384>(), &Sha384::digest(input), signature)
                .is_ok(),
            (Material::Rsa(key), Alg::PS512) => key
                .verify(Pss::new::<Sha512>(), &Sha512::digest(input), signature)
                .is_ok(),
            (Material::P256(key), Alg::ES256) => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(input, &sig).is_ok())
            }
            (Material::P384(key), Alg::ES384) => {
                use p384::ecdsa::signature::Verifier;
                p384::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(input, &sig).is_ok())
            }
            (Material::Ed25519(key), Alg::EdDSA) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(input, &sig).is_ok()),
            _ => false,
        }
    }
}

fn hmac_ok<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
    let Ok(mut mac) = <M as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(input);
    // `verify_slice` compares in constant time.
    mac.verify_slice(signature).is_ok()
}

fn hash_len(alg: Alg) -> usize {
    match alg {
        Alg::HS384 => 48,
        Alg::HS512 => 64,
        _ => 32,
    }
}

/// The algorithm named `name`, with a message for `none` and for unknown names.
pub(crate) fn parse_alg(name: &str) -> Result<Alg, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err(
            "`none` is not an algorithm this plugin accepts: unsigned tokens are always refused"
                .into(),
        );
    }
    Alg::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Alg::ALL.iter().map(|alg| alg.name()).collect();
        format!("unknown algorithm `{name}`; known: {}", known.join(", "))
    })
}

/// An HMAC secret given as text (its UTF-8 bytes) or base64.
pub(crate) fn secret(text: Option<&str>, base64: Option<&str>) -> Result<Material, String> {
    match (text, base64) {
        (Some(text), None) => Ok(Material::Hmac(text.as_bytes().to_vec())),
        (None, Some(encoded)) => STANDARD
            .decode(encoded.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim().trim_end_matches('=')))
            .map(Material::Hmac)
            .map_err(|e| format!("`secret-base64` is not base64: {e}")),
        _ => Err("give one of `secret` and `secret-base64`".into()),
    }
}

/// A public key in PEM: SPKI (`PUBLIC KEY`, any of the supported types) or PKCS#1
/// (`RSA PUBLIC KEY`).
pub(crate) fn from_pem(pem: &str) -> Result<Material, String> {
    use p256::pkcs8::DecodePublicKey;
    use rsa::pkcs1::DecodeRsaPublicKey;

    let pem = pem.trim();
    let label = pem
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("-----BEGIN "))
        .and_then(|line| line.strip_suffix("-----"))
        .ok_or("not a PEM block: it should start with `-----BEGIN PUBLIC KEY-----`")?;
    match label {
        "PUBLIC KEY" => {
            if let Ok(key) = RsaPublicKey::from_public_key_pem(pem) {
                return rsa_material(key);
            }
            if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
                return Ok(Material::P256(key));
            }
            if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_pem(pem) {
                return Ok(Material::P384(key));
            }
            if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
                return Ok(Material::Ed25519(key));
            }
            Err("a public key of an unsupported type (supported: RSA, EC P-256, EC P-384, Ed25519), or a damaged one".into())
        }
        "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_pem(pem)
            .map_err(|e| format!("not a valid PKCS#1 RSA public key: {e}"))
            .and_then(rsa_material),
        label if label.contains("PRIVATE KEY") => Err(format!(
            "this is a private key (`{label}`): give the public key only (`openssl pkey -in key.pem -pubout`)"
        )),
        "CERTIFICATE" => Err(
            "certificates are not read: extract the public key (`openssl x509 -in cert.pem -pubkey -noout`)".into(),
        ),
        other => Err(format!(
            "a PEM `{other}` block; expected `PUBLIC KEY` or `RSA PUBLIC KEY`"
        )),
    }
}

fn rsa_material(key: RsaPublicKey) -> Result<Material, String> {
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    Ok(Material::Rsa(Box::new(key)))
}

/// A key from a JWK (RFC 7517): `kty` `oct`, `RSA`, `EC` (P-256, P-384) or `OKP` (Ed25519).
/// `kid` and `alg` are taken from the JWK; a `use` other than `sig` is refused.
pub(crate) fn from_jwk(jwk: &Value) -> Result<Key, String> {
    let Value::Object(fields) = jwk else {
        return Err("a JWK must be a JSON object".into());
    };
    let text = |name: &str| -> Result<Option<&str>, String> {
        match fields.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{name}` must be a string")),
        }
    };
    let required = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name)?.ok_or_else(|| format!("`{name}` is missing"))?;
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|_| format!("`{name}` is not base64url"))
    };
    if let Some(usage) = text("use")?
        && usage != "sig"
    {
        return Err(format!(
            "`use` is `{usage}`: only signature keys (`sig`) verify tokens"
        ));
    }
    let material = match text("kty")? {
        Some("oct") => Material::Hmac(required("k")?),
        Some("RSA") => {
            let n = BigUint::from_bytes_be(&required("n")?);
            let e = BigUint::from_bytes_be(&required("e")?);
            let key = RsaPublicKey::new(n, e).map_err(|e| format!("not a valid RSA key: {e}"))?;
            rsa_material(key)?
        }
        Some("EC") => {
            let (x, y) = (required("x")?, required("y")?);
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            match text("crv")? {
                Some("P-256") if x.len() == 32 && y.len() == 32 => Material::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|_| "`x` and `y` are not a point on P-256")?,
                ),
                Some("P-384") if x.len() == 48 && y.len() == 48 => Material::P384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|_| "`x` and `y` are not a point on P-384")?,
                ),
                Some(crv @ ("P-256" | "P-384")) => {
                    return Err(format!("`x` or `y` has the wrong length for {crv}"));
                }
                Some(crv) => {
                    return Err(format!(
                        "unsupported curve `{crv}` (supported: P-256, P-384)"
                    ));
                }
                None => return Err("`crv` is missing".into()),
            }
        }
        Some("OKP") => match text("crv")? {
            Some("Ed25519") => {
                let x: [u8; 32] = required("x")?
                    .try_into()
                    .map_err(|_| "`x` of an Ed25519 key must be 32 bytes")?;
                Material::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&x)
                        .map_err(|_| "`x` is not a valid Ed25519 public key")?,
                )
            }
            Some(crv) => return Err(format!("unsupported curve `{crv}` (supported: Ed25519)")),
            None => return Err("`crv` is missing".into()),
        },
        Some(kty) => {
            return Err(format!(
                "unsupported `kty` `{kty}` (supported: oct, RSA, EC, OKP)"
            ));
        }
        None => return Err("`kty` is missing".into()),
    };
    Key::new(text("kid")?.map(str::to_owned), text("alg")?, material)
}

/// Every signature key of a JWKS (`{"keys": [...]}`; keys with `use` other than `sig` are
/// skipped); errors name the key by index and `kid`.
pub(crate) fn from_jwks(jwks: &Value) -> Result<Vec<Key>, String> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("a JWKS is a JSON object with a `keys` array")?;
    keys.iter()
        .enumerate()
        // Identity providers publish encryption keys in the same set: they are not for us.
        .filter(|(_, jwk)| jwk.get("use").is_none_or(|usage| usage == "sig"))
        .map(|(i, jwk)| {
            from_jwk(jwk).map_err(|e| match jwk.get("kid").and_then(Value::as_str) {
                Some(kid) => format!("key {i} (kid `{kid}`): {e}"),
                None => format!("key {i}: {e}"),
            })
        })
        .collect()
}
