"""Encryption at rest of broker sessions: `trademesh.services.core.sealing` (AES-256-GCM under named keys).

`TRADEMESH_BROKER_CREDENTIALS_KEY` holds one or more keys, comma-separated, each `<key id>:<key>`
with the key as 32 bytes in URL-safe base64 (`python -m trademesh.services.sync.admin generate-key`
prints one). The first key seals; every listed key opens. To rotate: put a new key first and keep
the old one after it, restart (the service re-encrypts stored sessions under the first key at
start-up; `python -m trademesh.services.sync.admin rotate` does the same on demand), then drop the
old key.
A bare key without an id is accepted and gets the id `default`.
"""

from __future__ import annotations

from collections.abc import Sequence

from trademesh.services.core.sealing import (
    DEFAULT_KEY_ID,
    NONCE_BYTES,
    KeyConfigError,
    SealedSecret,
    Sealer,
    new_key_text,
    parse_keys,
)
from trademesh.services.sync.model import EncryptedSecret

__all__ = ["DEFAULT_KEY_ID", "NONCE_BYTES", "CredentialCipher", "KeyConfigError", "new_key_text", "parse_keys"]


class CredentialCipher:
    """Seal and open broker secrets with the shared `Sealer` (AES-256-GCM); the account's identity is the
    associated data."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        self._sealer = Sealer(keys)
        # Page tokens are signed with a key derived from the sealing key: no extra secret to manage,
        # and knowing a token key reveals nothing about the encryption key.
        self.token_secret = self._sealer.derive(b"trademesh.sync page tokens")

    @classmethod
    def from_setting(cls, setting: str) -> CredentialCipher:
        """Build the cipher from the `TRADEMESH_BROKER_CREDENTIALS_KEY` value."""
        return cls(parse_keys(setting))

    @property
    def active_key_id(self) -> str:
        """Return the id of the key that seals."""
        return self._sealer.active_key_id

    def seal(self, plaintext: bytes, context: bytes) -> EncryptedSecret:
        """Encrypt under the active key; `context` must be given again to open."""
        sealed = self._sealer.seal(plaintext, context)
        return EncryptedSecret(sealed.key_id, sealed.nonce, sealed.ciphertext)

    def open(self, secret: EncryptedSecret, context: bytes) -> bytes:
        """Decrypt; raise ValueError for an unknown key id, a wrong context or tampering."""
        return self._sealer.open(SealedSecret(secret.key_id, secret.nonce, secret.ciphertext), context)

    def reseal(self, secret: EncryptedSecret, context: bytes) -> EncryptedSecret | None:
        """Return the secret sealed under the active key, or None if it already is."""
        if secret.key_id == self.active_key_id:
            return None
        return self.seal(self.open(secret, context), context)
