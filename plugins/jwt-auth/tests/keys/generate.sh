#!/bin/sh
# Regenerates the fixed test keys of jwt-auth's tests with OpenSSL and Python's `cryptography`
# (tools independent of the plugin). Private keys are PKCS#8 PEM (what the tests sign with);
# public keys are SPKI PEM, and jwks.json holds every public key as a JWK.
# These keys are for tests only: never use them anywhere else.
set -eu
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
openssl genpkey -algorithm ED25519 -out ed25519.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-rsa.key
for k in rsa p256 p384 ed25519 other-rsa; do
    openssl pkey -in "$k.key" -pubout -out "$k.pub.pem"
done
openssl rsa -in rsa.key -pubout -RSAPublicKey_out -out rsa.pkcs1.pub.pem 2>/dev/null
python3 - <<'PY'
import base64, json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def uint(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

def jwk(path, kid, alg):
    key = serialization.load_pem_public_key(open(path, "rb").read())
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        out = {"kty": "RSA", "n": uint(nums.n), "e": uint(nums.e)}
    elif isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
        out = {"kty": "EC", "crv": crv,
               "x": b64(nums.x.to_bytes(size, "big")), "y": b64(nums.y.to_bytes(size, "big"))}
    else:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        out = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    out.update({"kid": kid, "use": "sig"})
    if alg:
        out["alg"] = alg
    return out

keys = [
    jwk("rsa.pub.pem", "rsa-1", None),
    jwk("p256.pub.pem", "p256-1", "ES256"),
    jwk("p384.pub.pem", "p384-1", "ES384"),
    jwk("ed25519.pub.pem", "ed-1", "EdDSA"),
]
json.dump({"keys": keys}, open("jwks.json", "w"), indent=2)
open("jwks.json", "a").write("\n")
PY
