"""In-memory fakes of the auth ports (services/auth/ports.py), with the semantics of the real adapters.

Each keeps what it stores in plain attributes so tests can assert on what was stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from trademesh.kernel.errors import ResourceExhausted
from trademesh.services.auth.model import (
    Mail,
    OneTimeCode,
    RefreshRotation,
    RotationStatus,
    TokenPurpose,
    User,
    ensure_not_taken,
    hash_token,
    normalize_email,
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2024, 7, 1, 9, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`."""
        self.now += delta


class InMemoryUserStore:
    """Users by id, unique on the lower-cased email and the username (as MongoUserStore's indexes)."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    async def add(self, user: User) -> None:
        email_taken = any(other.email_key == user.email_key for other in self.users.values())
        username_taken = any(other.username == user.username for other in self.users.values())
        ensure_not_taken(email_taken, username_taken)
        self.users[user.id] = user

    async def get(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def find_by_login(self, login: str) -> User | None:
        key = normalize_email(login)
        for user in self.users.values():
            if (user.email_key if "@" in key else user.username) == key:
                return user
        return None

    async def set_email_verified(self, user_id: str, now: datetime) -> User | None:
        return self._update(user_id, email_verified=True, updated_at=now)

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        self._update(user_id, password_hash=password_hash, updated_at=now)

    async def set_roles(self, user_id: str, roles: tuple[str, ...], now: datetime) -> User | None:
        return self._update(user_id, roles=roles, updated_at=now)

    def _update(self, user_id: str, **changes: Any) -> User | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        self.users[user_id] = replace(user, **changes)
        return self.users[user_id]


class InMemoryOneTimeTokenStore:
    """Single-use codes by hash (as MongoOneTimeTokenStore)."""

    def __init__(self) -> None:
        self.codes: dict[str, OneTimeCode] = {}

    async def add(
        self, token_hash: str, purpose: TokenPurpose, user_id: str, expires_at: datetime, now: datetime
    ) -> None:
        self.codes[token_hash] = OneTimeCode(token_hash, purpose, user_id, expires_at, created_at=now)

    async def consume(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> str | None:
        code = self.codes.get(token_hash)
        if code is None or not code.usable(purpose, now):
            return None
        self.codes[token_hash] = replace(code, used_at=now)
        return code.user_id


class InMemoryOutbox:
    """Outbox records without the code (as MongoOutbox stores them) and the mail the transport delivered."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.delivered: list[Mail] = []

    async def send(self, mail: Mail, now: datetime) -> None:
        self.records.append(
            {
                "to": mail.to,
                "subject": mail.subject,
                "body": mail.redacted_body,
                "code_hash": mail.code_hash,
                "kind": mail.kind,
                "token_expires_at": mail.token_expires_at,
                "created_at": now,
            }
        )
        self.delivered.append(mail)

    def last_code(self, to: str, kind: TokenPurpose) -> str:
        """Return the code of the newest `kind` mail delivered to `to`, as the recipient reads it."""
        codes = [mail.code for mail in self.delivered if mail.to == to and mail.kind == kind.value]
        assert codes, f"no {kind} mail for {to}"
        return codes[-1]


@dataclass
class _RefreshToken:
    family: str
    user: str
    state: str
    expires_at: datetime


@dataclass
class _Family:
    user: str
    expires_at: datetime
    revoked: bool = False


class InMemorySessionStore:
    """Refresh-token families with rotation and reuse detection (as RedisSessionStore and its Lua script)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.tokens: dict[str, _RefreshToken] = {}
        self.families: dict[str, _Family] = {}
        self.user_families: dict[str, set[str]] = {}

    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, ttl: timedelta) -> None:
        expires_at = self._clock() + ttl
        self.tokens[token_hash] = _RefreshToken(family_id, user_id, "active", expires_at)
        family = self.families.setdefault(family_id, _Family(user_id, expires_at))
        family.expires_at = expires_at
        self.user_families.setdefault(user_id, set()).add(family_id)

    async def rotate(self, token_hash: str) -> RefreshRotation:
        token = self._live_token(token_hash)
        if token is None:
            return RefreshRotation(RotationStatus.MISSING, "", "")
        family = self._live_family(token.family)
        if family is None or family.revoked:
            return RefreshRotation(RotationStatus.REVOKED, token.family, token.user)
        if token.state != "active":
            family.revoked = True
            return RefreshRotation(RotationStatus.REUSED, token.family, token.user)
        token.state = "used"
        return RefreshRotation(RotationStatus.OK, token.family, token.user)

    async def revoke_family(self, family_id: str) -> None:
        family = self._live_family(family_id)
        if family is not None:
            family.revoked = True

    async def family_of(self, token_hash: str) -> tuple[str, str] | None:
        token = self._live_token(token_hash)
        return (token.family, token.user) if token is not None else None

    async def revoke_user_families(self, user_id: str) -> list[str]:
        families = sorted(self.user_families.get(user_id, set()))
        for family_id in families:
            await self.revoke_family(family_id)
        return families

    def _live_token(self, token_hash: str) -> _RefreshToken | None:
        token = self.tokens.get(token_hash)
        return token if token is not None and self._clock() < token.expires_at else None

    def _live_family(self, family_id: str) -> _Family | None:
        family = self.families.get(family_id)
        return family if family is not None and self._clock() < family.expires_at else None


class InMemoryLoginThrottle:
    """Fixed-window failure counters per key (as RedisLoginThrottle)."""

    def __init__(self, window: timedelta, clock: FakeClock) -> None:
        self._window = window
        self._clock = clock
        self.counters: dict[str, tuple[int, datetime]] = {}

    async def check(self, keys: Sequence[tuple[str, int]]) -> None:
        for key, limit in keys:
            count, ends = self._counter(key)
            if count >= limit:
                retry = max(1, math.ceil((ends - self._clock()).total_seconds()))
                scope = "account" if key.startswith("account:") else "address"
                raise ResourceExhausted(
                    f"too many failed logins; try again in {retry} seconds",
                    retry_after_seconds=retry,
                    reason="LOGIN_THROTTLED",
                    metadata={"scope": scope, "retry_after_seconds": str(retry)},
                )

    async def record_failure(self, keys: Sequence[str]) -> None:
        for key in keys:
            count, ends = self._counter(key)
            self.counters[key] = (count + 1, ends if count else self._clock() + self._window)

    async def reset(self, key: str) -> None:
        self.counters.pop(key, None)

    def _counter(self, key: str) -> tuple[int, datetime]:
        count, ends = self.counters.get(key, (0, self._clock()))
        return (count, ends) if self._clock() < ends else (0, self._clock())


class FakePasswordHasher:
    """A cheap hash carrying its cost; a hash made at a lower `cost` than the current needs a rehash."""

    def __init__(self, cost: int = 1) -> None:
        self.cost = cost

    async def hash(self, password: str) -> str:
        return f"fake-hash${self.cost}${hash_token(password)}"

    async def verify(self, password_hash: str, password: str) -> bool:
        return password_hash.rsplit("$", 1)[-1] == hash_token(password)

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"fake-hash${self.cost}$")


class FakeSigner:
    """Sign claims as readable JSON (tests decode them with `claims_of`)."""

    JWKS = [{"kty": "OKP", "crv": "Ed25519", "x": "fake", "kid": "fake-kid", "alg": "EdDSA", "use": "sig"}]

    def sign(self, claims: dict[str, object]) -> str:
        return "signed:" + json.dumps(claims, sort_keys=True)

    def jwks(self) -> list[dict[str, str]]:
        return [dict(jwk) for jwk in self.JWKS]


def claims_of(access_token: str) -> dict[str, Any]:
    """Return the claims a FakeSigner token carries."""
    prefix, _, payload = access_token.partition(":")
    assert prefix == "signed"
    claims: dict[str, Any] = json.loads(payload)
    return claims


@dataclass
class RecordingRevoker:
    """The revocation list: item → until (Unix time)."""

    revoked: dict[str, float] = field(default_factory=dict)

    async def revoke(self, item: str, until: float) -> None:
        self.revoked[item] = until
