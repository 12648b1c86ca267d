"""Access tokens an attacker might send: unsigned, HMAC with the public key, foreign keys, header tricks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trademesh.services.auth.keys import KeyRing, public_jwk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(subject: str, *, lifetime: float = 600, issued: float | None = None, **extra: Any) -> dict[str, Any]:
    """Return the claims of a normal access token for `subject` (override any with keywords)."""
    now = time.time() if issued is None else issued
    values: dict[str, Any] = {
        "iss": "trademesh-auth",
        "aud": "trademesh",
        "sub": subject,
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now + lifetime),
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "roles": ["user"],
    }
    values.update(extra)
    return values


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """Return a JWT with exactly this header and payload and the given (raw) signature."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(payload).encode())
    return f"{head}.{body}.{_b64(signature)}"


def alg_none(ring: KeyRing, payload: dict[str, Any]) -> str:
    """`alg: none`, no signature."""
    return unsigned({"alg": "none", "typ": "JWT", "kid": ring.active_kid}, payload)


def hmac_with_public_key(ring: KeyRing, payload: dict[str, Any]) -> str:
    """Key confusion: HS256 keyed with the server's public key (what a naive verifier would accept)."""
    public = ring.public_keys()[ring.active_kid]
    key = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": ring.active_kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return unsigned(header, payload, signature)


def stranger_key() -> Ed25519PrivateKey:
    """Return a key the mesh does not know."""
    return Ed25519PrivateKey.generate()


def raw_signed(key: Ed25519PrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Return an EdDSA JWT with any header at all (PyJWT refuses some, e.g. a non-string kid)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    return unsigned(header, payload, key.sign(signing_input.encode()))


def signed(key: Ed25519PrivateKey, payload: dict[str, Any], **header: Any) -> str:
    """Return a real EdDSA JWT signed by `key` with extra header fields."""
    return jwt.encode(payload, key, algorithm="EdDSA", headers=header)


def embedded_jwk(key: Ed25519PrivateKey, payload: dict[str, Any], kid: str) -> str:
    """Signed by a stranger who ships their public key in the `jwk` header."""
    return signed(key, payload, kid=kid, jwk=public_jwk(key.public_key()))


def remote_key_url(key: Ed25519PrivateKey, payload: dict[str, Any], kid: str, field: str) -> str:
    """Signed by a stranger who points `jku` / `x5u` at their own key set."""
    return signed(key, payload, kid=kid, **{field: "https://attacker.example/jwks.json"})
