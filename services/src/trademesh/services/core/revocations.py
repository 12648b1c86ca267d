"""Revoked token and session ids, shared by every process through Redis and kept in memory.

A revocation is written to a Redis sorted set (member = id, score = when it may be forgotten) and
announced on a pub/sub channel. Every process keeps the live set in memory, so checking a token
costs no I/O: a background task subscribes, then (re)loads the whole set on every (re)connect, so
a message missed during an outage is recovered. A process that cannot reach Redis keeps the last
set it knew; the revoking process itself is always up to date.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

REVOKED_KEY = "auth:revoked"
REVOKED_CHANNEL = "auth:revocations"


class RevocationList:
    """In-memory view of revoked ids, fed from Redis."""

    def __init__(self, redis: Redis, *, retry_seconds: float = 1.0) -> None:
        self._redis = redis
        self._retry_seconds = retry_seconds
        self._revoked: dict[str, float] = {}
        self._closed = False

    def is_revoked(self, *ids: str) -> bool:
        """Tell whether any of `ids` is revoked (expired entries are ignored)."""
        now = time.time()
        for item in ids:
            until = self._revoked.get(item)
            if until is not None and until > now:
                return True
        return False

    async def revoke(self, item: str, until: float) -> None:
        """Revoke `item` until the epoch time `until` (when every token it covers has expired)."""
        self._revoked[item] = until
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(REVOKED_KEY, {item: until})
            pipe.zremrangebyscore(REVOKED_KEY, "-inf", time.time())
            pipe.publish(REVOKED_CHANNEL, f"{item} {until}")
            await pipe.execute()

    def close(self) -> None:
        """Ask `run` to return within a second (cancellation alone can be lost inside redis-py)."""
        self._closed = True

    async def run(self) -> None:
        """Keep the in-memory set in sync with Redis until closed or cancelled."""
        while not self._closed:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                logger.warning("revocation feed interrupted (%s); retrying", error)
            await asyncio.sleep(self._retry_seconds)

    async def _follow(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(REVOKED_CHANNEL)
            # Subscribe first, then load: a revocation between the two is seen at least once.
            now = time.time()
            entries: list[Any] = await self._redis.zrangebyscore(REVOKED_KEY, now, "+inf", withscores=True)
            for member, score in entries:
                name = member.decode() if isinstance(member, bytes) else str(member)
                self._revoked[name] = max(float(score), self._revoked.get(name, 0.0))
            self._prune()
            idle = 0
            while not self._closed:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    idle += 1
                    if idle % 30 == 0:
                        self._prune()
                        await pubsub.ping()
                    continue
                data: bytes | str = message["data"]
                text = data.decode() if isinstance(data, bytes) else data
                item, _, until = text.rpartition(" ")
                if item:
                    self._revoked[item] = float(until)

    def _prune(self) -> None:
        now = time.time()
        for item in [item for item, until in self._revoked.items() if until <= now]:
            del self._revoked[item]
