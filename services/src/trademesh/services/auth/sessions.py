"""Redis adapters of the auth ports: refresh-token families and login throttling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from redis.asyncio import Redis

from trademesh.kernel.errors import ResourceExhausted
from trademesh.services.auth.model import RefreshRotation, RotationStatus

TOKEN_PREFIX = "auth:rt:"
FAMILY_PREFIX = "auth:fam:"
USER_FAMILIES_PREFIX = "auth:user-fams:"
THROTTLE_PREFIX = "auth:login-fail:"

# Rotation must be atomic: of two concurrent refreshes with one token, exactly one sees it active.
# KEYS[1] = token key; ARGV[1] = family key prefix.
_ROTATE = """
local data = redis.call('HMGET', KEYS[1], 'family', 'user', 'state')
if not data[1] then return {'missing', '', ''} end
local family_key = ARGV[1] .. data[1]
if redis.call('EXISTS', family_key) == 0 or redis.call('HGET', family_key, 'revoked') == '1' then
  return {'revoked', data[1], data[2]}
end
if data[3] ~= 'active' then
  redis.call('HSET', family_key, 'revoked', '1')
  return {'reused', data[1], data[2]}
end
redis.call('HSET', KEYS[1], 'state', 'used')
return {'ok', data[1], data[2]}
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisSessionStore:
    """Refresh tokens (by hash) grouped in families; a family is what one login started."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._rotate = redis.register_script(_ROTATE)

    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, ttl: timedelta) -> None:
        seconds = int(ttl.total_seconds())
        family_key = FAMILY_PREFIX + family_id
        user_key = USER_FAMILIES_PREFIX + user_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(TOKEN_PREFIX + token_hash, mapping={"family": family_id, "user": user_id, "state": "active"})
            pipe.expire(TOKEN_PREFIX + token_hash, seconds)
            pipe.hsetnx(family_key, "user", user_id)
            pipe.hsetnx(family_key, "revoked", "0")
            pipe.expire(family_key, seconds)
            pipe.sadd(user_key, family_id)
            pipe.expire(user_key, seconds)
            await pipe.execute()

    async def rotate(self, token_hash: str) -> RefreshRotation:
        status, family, user = await self._rotate(keys=[TOKEN_PREFIX + token_hash], args=[FAMILY_PREFIX])
        return RefreshRotation(status=RotationStatus(_text(status)), family_id=_text(family), user_id=_text(user))

    async def revoke_family(self, family_id: str) -> None:
        # Only mark an existing family: a missing one has expired and needs nothing.
        family_key = FAMILY_PREFIX + family_id
        if await self._redis.exists(family_key):
            await self._redis.hset(family_key, "revoked", "1")

    async def family_of(self, token_hash: str) -> tuple[str, str] | None:
        family, user = await self._redis.hmget(TOKEN_PREFIX + token_hash, ["family", "user"])
        if family is None or user is None:
            return None
        return _text(family), _text(user)

    async def revoke_user_families(self, user_id: str) -> list[str]:
        families = [_text(item) for item in await self._redis.smembers(USER_FAMILIES_PREFIX + user_id)]
        for family_id in families:
            await self.revoke_family(family_id)
        return families


class RedisLoginThrottle:
    """Fixed-window failure counters per key; a key at its limit is refused until the window ends."""

    def __init__(self, redis: Redis, window: timedelta) -> None:
        self._redis = redis
        self._window = int(window.total_seconds())

    async def check(self, keys: Sequence[tuple[str, int]]) -> None:
        names = [THROTTLE_PREFIX + key for key, _ in keys]
        counts = await self._redis.mget(names)
        for (key, limit), name, count in zip(keys, names, counts, strict=True):
            if count is not None and int(count) >= limit:
                ttl_ms = await self._redis.pttl(name)
                retry = max(1, math.ceil(ttl_ms / 1000)) if ttl_ms > 0 else self._window
                scope = "account" if key.startswith("account:") else "address"
                raise ResourceExhausted(
                    f"too many failed logins; try again in {retry} seconds",
                    retry_after_seconds=retry,
                    reason="LOGIN_THROTTLED",
                    metadata={"scope": scope, "retry_after_seconds": str(retry)},
                )

    async def record_failure(self, keys: Sequence[str]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.incr(THROTTLE_PREFIX + key)
                pipe.expire(THROTTLE_PREFIX + key, self._window, nx=True)
            await pipe.execute()

    async def reset(self, key: str) -> None:
        await self._redis.delete(THROTTLE_PREFIX + key)
