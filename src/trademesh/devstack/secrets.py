"""The sync service's secrets (and the notifications service's webhook key) for the local dev stack, made on first
use in the data directory.

Dev-only (the devstack may use every service's tools; the services may not use each other's).

`make up` calls `ensure_dev_secrets` before starting the service: it writes a credentials key
(`sync-credentials.key`) once, and a service token (`sync-service.token`, role `service`, 30 days)
signed with the stack's auth signing key, re-issued when it is missing, was signed by another key
or has under a week left.
Both files are owner-only. In Kubernetes the same two values come from Secrets instead (README).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jwt

from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing
from trademesh.services.core.sealing import new_key_text

KEY_FILE = "sync-credentials.key"
WEBHOOK_KEY_FILE = "webhook-secrets.key"
TOKEN_FILE = "sync-service.token"
TOKEN_DAYS = 30
RENEW_BEFORE_SECONDS = 7 * 86400


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")
    # Atomic: the running service re-reads the token file when it changes and must never see half of it.
    temporary.replace(path)


def _needs_new_token(token_file: Path, keys: KeyRing) -> bool:
    """Tell whether the token is missing, not signed by the current key, or has under a week left."""
    try:
        token = token_file.read_text().strip()
        public = keys.public_keys()[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, public, algorithms=["EdDSA"], options={"verify_aud": False})
        return float(claims["exp"]) - time.time() < RENEW_BEFORE_SECONDS
    except (OSError, KeyError, jwt.InvalidTokenError, ValueError, TypeError):
        return True


def ensure_dev_secrets(
    keys_dir: Path, signing_key: Path, issuer: str = "trademesh-auth", audience: str = "trademesh"
) -> tuple[Path, Path]:
    """Return (credentials key file, service token file), creating or renewing them as needed."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file, token_file = keys_dir / KEY_FILE, keys_dir / TOKEN_FILE
    if not key_file.exists():
        _write_private(key_file, new_key_text("dev1"))
    keys = KeyRing.from_files([signing_key])
    if _needs_new_token(token_file, keys):
        _write_private(token_file, issue_service_token(keys, "sync", TOKEN_DAYS, issuer, audience))
    return key_file, token_file


def ensure_webhook_key(keys_dir: Path) -> Path:
    """Return the file holding the key that seals webhook signing secrets (TRADEMESH_WEBHOOK_SECRETS_KEY), made once."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = keys_dir / WEBHOOK_KEY_FILE
    if not key_file.exists():
        _write_private(key_file, new_key_text("dev1"))
    return key_file


VAPID_KEY_FILE = "vapid-private.key"


def ensure_vapid_key(keys_dir: Path) -> Path:
    """Return the file holding the Web Push VAPID private key (TRADEMESH_VAPID_PRIVATE_KEY: the raw P-256 scalar,
    base64url), made once per data directory so browsers' subscriptions stay valid across restarts."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec

    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = keys_dir / VAPID_KEY_FILE
    if not key_file.exists():
        scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
        _write_private(key_file, base64.urlsafe_b64encode(scalar).rstrip(b"=").decode())
    return key_file
