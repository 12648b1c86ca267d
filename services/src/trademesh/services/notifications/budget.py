"""The send budget (`SendBudget` port) on the `limits` library: a moving window per user and channel in Redis,
shared by every replica (so two replicas do not each grant the full budget)."""

from __future__ import annotations

from datetime import UTC, datetime

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis


class RedisSendBudget:
    """At most `per_minute` sends per user and channel in any 60 seconds."""

    def __init__(self, redis: Redis, redis_url: str, *, per_minute: int) -> None:
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix="notify:budget",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # options are passed to redis-py
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerMinute(per_minute)

    async def take(self, user_id: str, channel: str) -> datetime | None:
        """Spend one send; return None if allowed, else when the window has room again."""
        if await self._limiter.hit(self._item, channel, user_id):
            return None
        stats = await self._limiter.get_window_stats(self._item, channel, user_id)
        return datetime.fromtimestamp(stats.reset_time, UTC)
