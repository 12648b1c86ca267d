"""The auth service's signing keys: Ed25519 private keys loaded from PEM files, published as a JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trademesh.services.core.tokens import ALGORITHM


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """Return the JWK of an Ed25519 public key with its RFC 7638 thumbprint as `kid`."""
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(canonical.encode()).digest())[:16]
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True)
class KeyRing:
    """Signing keys: the first signs, all verify (so rotation never invalidates live tokens)."""

    private_keys: Sequence[Ed25519PrivateKey]

    def __post_init__(self) -> None:
        if not self.private_keys:
            raise ValueError("at least one signing key is required")

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> KeyRing:
        """Load PEM-encoded Ed25519 private keys, the active one first."""
        keys = []
        for path in paths:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            keys.append(key)
        return cls(keys)

    @property
    def active_kid(self) -> str:
        """Return the key id new tokens are signed under."""
        return public_jwk(self.private_keys[0].public_key())["kid"]

    def jwks(self) -> list[dict[str, str]]:
        """Return the public JWKs of every key."""
        return [public_jwk(key.public_key()) for key in self.private_keys]

    def public_keys(self) -> dict[str, Any]:
        """Return kid → public key for verification."""
        return {public_jwk(key.public_key())["kid"]: key.public_key() for key in self.private_keys}

    def sign(self, claims: dict[str, object]) -> str:
        """Sign `claims` with the active key, naming it in the `kid` header."""
        return jwt.encode(claims, self.private_keys[0], algorithm=ALGORITHM, headers={"kid": self.active_kid})


def write_new_key(path: Path) -> None:
    """Generate an Ed25519 private key and write it as PKCS#8 PEM, readable by the owner only."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    path.chmod(0o600)
