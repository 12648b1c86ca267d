"""Opaque, signed tokens (page tokens, resume tokens): a JSON payload with a truncated HMAC-SHA256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from trademesh.kernel.errors import FieldViolation, InvalidArgument


class Codec:
    """Sign and check opaque tokens with an HMAC key."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, payload: dict[str, object]) -> str:
        """Return a signed, URL-safe token carrying `payload`."""
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:16]
        return body.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def decode(self, token: str) -> dict[str, object] | None:
        """Return the payload of a token this codec signed, or None if malformed or tampered."""
        body, _, mac = token.partition(".")
        try:
            expected = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:16]
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
            if not hmac.compare_digest(expected, given):
                return None
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, UnicodeError):
            return None
        return payload if isinstance(payload, dict) else None


def page_token_invalid() -> InvalidArgument:
    """Return the error for a page token that is malformed, tampered or issued for other filters."""
    return InvalidArgument(
        "page_token is invalid, expired or was issued for other filters",
        [FieldViolation("page_token", "page token is invalid for this request")],
        reason="PAGE_TOKEN_INVALID",
    )
