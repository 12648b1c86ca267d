"""Helpers of the auth end-to-end tests: new users, registration, reading the mail drop, forged tokens."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from trademesh.auth.v1 import auth_service_pb2

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub as AuthServiceStub
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.settings import AuthSettings

PASSWORD = "Correct-Horse-42"


def _new_user() -> tuple[str, str]:
    name = f"trader_{uuid.uuid4().hex[:8]}"
    return f"{name}@Example.com", name


async def _register(stub: AuthServiceStub) -> auth_service_pb2.RegisterResponse:
    email, username = _new_user()
    return await stub.Register(auth_service_pb2.RegisterRequest(email=email, username=username, password=PASSWORD))


async def _outbox_token(settings: AuthSettings, email: str, kind: str) -> str:
    """Return the code of the newest `kind` mail to `email`, as the recipient reads it (the mail drop)."""
    assert settings.mail_drop_dir is not None
    texts = [(path.stat().st_mtime_ns, path.read_text()) for path in settings.mail_drop_dir.glob(f"{kind}-*.txt")]
    mine = sorted((stamp, text) for stamp, text in texts if f"To: {email}\n" in text)
    assert mine, f"no {kind} mail for {email}"
    match = re.search(r": (\S+)\n$", mine[-1][1])
    assert match
    return match.group(1)


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test URL
        assert response.headers["Content-Type"].startswith("application/json")
        return json.load(response)  # type: ignore[no-any-return]


def _claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged_tokens(valid: str, key_dir: Path, settings: AuthSettings) -> dict[str, str]:
    claims = _claims_of(valid)
    active = KeyRing.from_files([key_dir / "active.pem"])
    stranger = KeyRing.from_files([key_dir / "stranger.pem"]).private_keys[0]
    header, payload, signature = valid.split(".")
    tampered_payload = _b64(json.dumps({**claims, "roles": ["admin"]}).encode())
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": active.active_kid}).encode())
    now = int(time.time())
    return {
        "expired": active.sign({**claims, "iat": now - 3600, "nbf": now - 3600, "exp": now - 1800}),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "alg_none": f"{none_header}.{payload}.",
        "unknown_kid": jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "not-a-known-key"}),
        "wrong_key_same_kid": jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": active.active_kid}),
        "wrong_audience": active.sign({**claims, "aud": "someone-else"}),
        "wrong_issuer": active.sign({**claims, "iss": "evil"}),
        "garbage": "not.a.jwt",
    }
