"""Tokens of a logged-in session and the policy that decides when to refresh them.

Access tokens live 15 minutes; the refresh token is single-use (each Refresh rotates it, and presenting
a rotated one revokes the whole session). So the refresh token is a secret that must never reach a log,
and every rotation must be saved (see ``on_tokens`` of :func:`trademesh.sdk.connect`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from trademesh.auth.v1 import auth_pb2

__all__ = ["Clock", "Tokens", "utc_now"]

#: Returns the current time (timezone-aware, UTC); injectable for tests.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Tokens:
    """An access token and the refresh token that renews it. ``repr`` never shows either token."""

    #: The JWT sent as ``authorization: Bearer <access_token>``.
    access_token: str = field(repr=False)
    #: When the server stops accepting the access token.
    access_expires_at: datetime
    #: The opaque, single-use refresh token (secret: never logged, never in ``repr``).
    refresh_token: str = field(repr=False)
    #: When the refresh token (and its session) expires.
    refresh_expires_at: datetime
    #: When this pair was received; with ``access_expires_at`` it gives the access token's lifetime.
    issued_at: datetime

    @classmethod
    def from_proto(cls, pair: auth_pb2.TokenPair, *, now: datetime | None = None) -> Tokens:
        """Build from a ``TokenPair`` of Register, Login or Refresh."""
        return cls(
            access_token=pair.access_token,
            access_expires_at=pair.access_token_expire_time.ToDatetime(tzinfo=UTC),
            refresh_token=pair.refresh_token,
            refresh_expires_at=pair.refresh_token_expire_time.ToDatetime(tzinfo=UTC),
            issued_at=now or utc_now(),
        )

    def needs_refresh(self, now: datetime, margin: timedelta) -> bool:
        """Return True if the access token expires within ``margin`` (at most a quarter of its lifetime)."""
        lifetime = self.access_expires_at - self.issued_at
        return now >= self.access_expires_at - min(margin, lifetime / 4)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (contains the secrets: store it with owner-only permissions)."""
        return {
            "access_token": self.access_token,
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_token": self.refresh_token,
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "issued_at": self.issued_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokens:
        """Inverse of :meth:`to_json`.

        Raises:
            KeyError, ValueError: ``data`` is not what :meth:`to_json` wrote.
        """
        return cls(
            access_token=str(data["access_token"]),
            access_expires_at=datetime.fromisoformat(data["access_expires_at"]),
            refresh_token=str(data["refresh_token"]),
            refresh_expires_at=datetime.fromisoformat(data["refresh_expires_at"]),
            issued_at=datetime.fromisoformat(data["issued_at"]),
        )
