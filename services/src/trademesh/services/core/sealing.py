"""Sealing of secrets at rest: AES-256-GCM under named keys, so keys can rotate (one way for every service).

A key setting (e.g. `TRADEMESH_BROKER_CREDENTIALS_KEY`, `TRADEMESH_WEBHOOK_SECRETS_KEY`) holds one or
more keys, comma-separated, each `<key id>:<key>` with the key as 32 bytes in URL-safe base64
(`new_key_text` makes one). The first key seals; every listed key opens. To rotate: put a new key first
and keep the old one after it, restart, re-seal what is stored (`Sealer.reseal`), then drop the old key.
A bare key without an id is accepted and gets the id `default`. The caller's `context` (e.g. the owner
and the record's id) is the associated data: a sealed value copied onto another record does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DEFAULT_KEY_ID = "default"
NONCE_BYTES = 12
KEY_BYTES = 32


class KeyConfigError(ValueError):
    """Raise when a key setting is malformed (the message never contains key material)."""


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A ciphertext with the id of the key that sealed it (so keys can rotate)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def _decode_key(text: str) -> bytes:
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        raise KeyConfigError("a key is not URL-safe base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyConfigError(f"a key must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def parse_keys(setting: str) -> list[tuple[str, bytes]]:
    """Parse `id:key[,id:key...]` into (key id, key bytes), the sealing key first."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in setting.split(",")):
        if not item:
            continue
        key_id, sep, material = item.partition(":")
        if not sep:
            key_id, material = DEFAULT_KEY_ID, item
        key_id = key_id.strip()
        if not key_id or len(key_id) > 32 or not key_id.replace("-", "").replace("_", "").isalnum():
            raise KeyConfigError("a key id must be 1-32 letters, digits, '-' or '_'")
        if any(existing == key_id for existing, _ in keys):
            raise KeyConfigError(f"key id {key_id!r} is listed twice")
        keys.append((key_id, _decode_key(material)))
    if not keys:
        raise KeyConfigError("no key given")
    return keys


def new_key_text(key_id: str) -> str:
    """Return a fresh key in the setting's `id:key` form."""
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip('=')}"


class Sealer:
    """Seal and open secrets with AES-256-GCM; the caller's context is the associated data."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyConfigError("no key given")
        self._active_id = keys[0][0]
        self._active_material = keys[0][1]
        self._keys = {key_id: AESGCM(material) for key_id, material in keys}

    @classmethod
    def from_setting(cls, setting: str) -> Sealer:
        """Build the sealer from a key setting's value."""
        return cls(parse_keys(setting))

    @property
    def active_key_id(self) -> str:
        """Return the id of the key that seals."""
        return self._active_id

    def derive(self, purpose: bytes) -> bytes:
        """Return a 32-byte key for `purpose` derived from the sealing key (HKDF-SHA256): knowing it reveals
        nothing about the sealing key, and no extra secret needs managing."""
        return HKDF(SHA256(), 32, salt=None, info=purpose).derive(self._active_material)

    def seal(self, plaintext: bytes, context: bytes) -> SealedSecret:
        """Encrypt under the active key; `context` must be given again to open."""
        nonce = os.urandom(NONCE_BYTES)
        return SealedSecret(self._active_id, nonce, self._keys[self._active_id].encrypt(nonce, plaintext, context))

    def open(self, secret: SealedSecret, context: bytes) -> bytes:
        """Decrypt; raise ValueError for an unknown key id, a wrong context or tampering."""
        cipher = self._keys.get(secret.key_id)
        if cipher is None:
            raise ValueError(f"no key with id {secret.key_id!r} is configured")
        try:
            return cipher.decrypt(secret.nonce, secret.ciphertext, context)
        except InvalidTag:
            raise ValueError("the secret cannot be decrypted (wrong key, context or tampered)") from None

    def reseal(self, secret: SealedSecret, context: bytes) -> SealedSecret | None:
        """Return the secret sealed under the active key, or None if it already is."""
        if secret.key_id == self._active_id:
            return None
        return self.seal(self.open(secret, context), context)
