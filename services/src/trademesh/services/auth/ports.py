"""The ports the auth use cases need; adapters: store.py (MongoDB), sessions.py (Redis), mail.py,
passwords.py, keys.py and core's revocation list. Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from trademesh.services.auth.model import Mail, RefreshRotation, TokenPurpose, User


class UserStore(Protocol):
    """Persist users; unique on email (case-insensitive) and username."""

    async def add(self, user: User) -> None:
        """Insert a user; raise AlreadyExists(reason EMAIL_TAKEN / USERNAME_TAKEN) on a collision."""

    async def get(self, user_id: str) -> User | None:
        """Return the user with id `user_id`, if any."""

    async def find_by_login(self, login: str) -> User | None:
        """Find by normalized email or username."""

    async def set_email_verified(self, user_id: str, now: datetime) -> User | None:
        """Mark the user's email verified; return the updated user, or None if there is none."""

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        """Replace the user's password hash."""

    async def set_roles(self, user_id: str, roles: tuple[str, ...], now: datetime) -> User | None:
        """Replace the user's roles; return the updated user, or None if there is none."""


class OneTimeTokenStore(Protocol):
    """Single-use, expiring codes (verification, reset) stored by hash."""

    async def add(
        self, token_hash: str, purpose: TokenPurpose, user_id: str, expires_at: datetime, now: datetime
    ) -> None:
        """Store a new code under its hash."""

    async def consume(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> str | None:
        """Mark the token used and return its user id, or None if unknown, used or expired."""


class Outbox(Protocol):
    """Record mail (without its code) and hand it to the mail transport."""

    async def send(self, mail: Mail, now: datetime) -> None:
        """Record `mail` and deliver it."""


class MailTransport(Protocol):
    """Deliver a message to its recipient: the only place a clear code goes."""

    async def deliver(self, mail: Mail) -> None:
        """Deliver `mail` with its clear code."""


class SessionStore(Protocol):
    """Refresh-token families: rotation with reuse detection, revocation."""

    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, ttl: timedelta) -> None:
        """Store an active refresh token of a family (creating the family if new)."""

    async def rotate(self, token_hash: str) -> RefreshRotation:
        """Atomically mark an active token used; a used token revokes its family (status "reused")."""

    async def revoke_family(self, family_id: str) -> None:
        """Revoke every refresh token of a family."""

    async def family_of(self, token_hash: str) -> tuple[str, str] | None:
        """Return (family id, user id) of a refresh token, if it exists."""

    async def revoke_user_families(self, user_id: str) -> list[str]:
        """Revoke every family of the user; return their ids."""


class LoginThrottle(Protocol):
    """Count failed logins per key within a window."""

    async def check(self, keys: Sequence[tuple[str, int]]) -> None:
        """Raise ResourceExhausted if any key reached its limit."""

    async def record_failure(self, keys: Sequence[str]) -> None:
        """Count one failure under each key."""

    async def reset(self, key: str) -> None:
        """Forget the failures counted under `key`."""


class PasswordHasher(Protocol):
    """Hash and verify passwords (slow on purpose)."""

    async def hash(self, password: str) -> str:
        """Return the hash of `password`."""

    async def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether `password` matches `password_hash`."""

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether `password_hash` was made with weaker parameters than the current ones."""


class TokenSigner(Protocol):
    """Sign access-token claims as a JWT and publish the keys that verify them."""

    def sign(self, claims: dict[str, object]) -> str:
        """Return the signed JWT of `claims`."""

    def jwks(self) -> list[dict[str, str]]:
        """Return the public JWKs of every verifying key."""


class Revoker(Protocol):
    """Deny token or session ids until a time (shared with every service)."""

    async def revoke(self, item: str, until: float) -> None:
        """Deny `item` until the Unix time `until`."""


class Clock(Protocol):
    """Tell the current time (timezone-aware UTC)."""

    def __call__(self) -> datetime:
        """Return the current time."""
