"""Signing and verifying access tokens (JWT, EdDSA over Ed25519)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crosstalk_common.auth.claims import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    SERVICE_ISSUER,
    AccessClaims,
)
from crosstalk_common.errors import Unauthenticated

# Tolerated clock difference between identity and a verifier.
LEEWAY_SECONDS = 30


def sign_access_token(claims: AccessClaims, key: Ed25519PrivateKey, kid: str) -> str:
    return jwt.encode(claims.to_payload(), key, algorithm=ALGORITHM, headers={"kid": kid})


def public_jwk(key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """The RFC 8037 JSON Web Key of a public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def public_key_from_jwk(jwk: Mapping[str, str]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError(f"unsupported key {jwk.get('kid')!r}: want an OKP Ed25519 key")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def token_kid(token: str) -> str:
    """The key id a token names (unverified); raises Unauthenticated if unreadable."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the access token is not a readable JWT") from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("the access token names no signing key")
    return kid


def verify_access_token(token: str, keys: Mapping[str, Ed25519PublicKey]) -> AccessClaims:
    """Check signature, algorithm, issuer, audience and lifetime; return the claims."""
    kid = token_kid(token)
    key = keys.get(kid)
    if key is None:
        raise Unauthenticated("the access token was signed by an unknown key")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # never "none", never a symmetric algorithm
            audience=AUDIENCE,
            # Either issuer; from_payload checks it against the subject.
            issuer=[ISSUER, SERVICE_ISSUER],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the access token has expired; refresh it") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the access token is not valid: {exc}") from exc
    return AccessClaims.from_payload(payload)
