"""Redis adapter of the analytics cache: per-user metadata, cached reports, hit/miss counters, locks.

Keys (all prefixed `analytics:`):

* `user:<id>` — hash: `version` (highest applied journal version), `generation` (bumped by a recompute),
  `settings` (current settings etag). Reports are cached under keys that embed all three, so an event,
  a recompute or a settings change makes older entries unreachable at once; they expire by TTL.
* `report:<user>:<version>.<generation>:<etag>:<query>` — a serialized GetAnalyticsResponse.
* `metrics` — hash of `cache_hits` / `cache_misses` counters (shared by every replica).
* `recompute:<user or *>` — the recompute lock.
"""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry import metrics
from redis.asyncio import Redis

from trademesh.services.analytics.ports import UserMeta

PREFIX = "analytics:"
METRICS_KEY = PREFIX + "metrics"

# Versions are int64 and Lua numbers are doubles, so versions are compared as decimal strings.
_ADVANCE = """
local old = redis.call('HGET', KEYS[1], 'version') or '0'
local new = ARGV[1]
if #new > #old or (#new == #old and new > old) then redis.call('HSET', KEYS[1], 'version', new) end
return old
"""
# One round trip: read the report and count the hit or miss.
_READ = """
local value = redis.call('GET', KEYS[1])
redis.call('HINCRBY', KEYS[2], value and 'cache_hits' or 'cache_misses', 1)
return value
"""
_LOCK = """
if KEYS[2] ~= KEYS[1] and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

_meter = metrics.get_meter("trademesh.analytics")
_cache_requests = _meter.create_counter(
    "analytics.report_cache.requests", unit="1", description="GetAnalytics cache lookups by result (hit/miss)."
)


def _user_key(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisAnalyticsCache:
    """The AnalyticsCache port on Redis."""

    def __init__(self, redis: Redis, *, report_ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl_ms = int(report_ttl_seconds * 1000)
        self._advance = redis.register_script(_ADVANCE)
        self._lock = redis.register_script(_LOCK)
        self._read = redis.register_script(_READ)
        self._token = uuid.uuid4().hex

    async def meta(self, user_id: str) -> UserMeta:
        """Return the user's cache metadata."""
        version, generation, etag = await self._redis.hmget(_user_key(user_id), ["version", "generation", "settings"])
        return UserMeta(
            journal_version=int(version or 0),
            generation=int(generation or 0),
            settings_etag=_text(etag) if etag is not None else None,
        )

    async def advance_version(self, user_id: str, version: int) -> int:
        """Record that journal `version` is applied; return the previous version."""
        return int(_text(await self._advance(keys=[_user_key(user_id)], args=[str(version)])))

    async def set_settings_etag(self, user_id: str, etag: str | None) -> None:
        """Record or forget the user's settings etag."""
        if etag is None:
            await self._redis.hdel(_user_key(user_id), "settings")
        else:
            await self._redis.hset(_user_key(user_id), "settings", etag)

    async def bump_generation(self, user_id: str) -> None:
        """Make every cached report of the user unreachable."""
        await self._redis.hincrby(_user_key(user_id), "generation", 1)

    async def get_report(self, key: str) -> bytes | None:
        """Return a cached report, counting the hit or miss."""
        value = await self._read(keys=[PREFIX + "report:" + key, METRICS_KEY])
        hit = value is not None
        _cache_requests.add(1, {"result": "hit" if hit else "miss"})
        return bytes(value) if hit else None

    async def put_report(self, key: str, report: bytes) -> None:
        """Cache a report for the TTL."""
        await self._redis.set(PREFIX + "report:" + key, report, px=self._ttl_ms)

    async def hit_rate(self) -> tuple[int, int]:
        """Return (hits, misses) counted by every replica."""
        hits, misses = await self._redis.hmget(METRICS_KEY, ["cache_hits", "cache_misses"])
        return int(hits or 0), int(misses or 0)

    async def lock_recompute(self, scope: str, ttl_seconds: float) -> bool:
        """Take the recompute lock of a scope (a user's recompute also waits for an all-users one)."""
        keys = [f"{PREFIX}recompute:{scope}", f"{PREFIX}recompute:*"]
        return bool(await self._lock(keys=keys, args=[self._token, int(ttl_seconds * 1000)]))

    async def unlock_recompute(self, scope: str) -> None:
        """Release the recompute lock of a scope."""
        await self._redis.delete(f"{PREFIX}recompute:{scope}")
