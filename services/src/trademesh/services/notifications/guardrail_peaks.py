"""`RedisDayPeaks`: the guardrails' day peaks in Redis (decision 0300).

    notify:peaks:<IST day>   sorted set: user id → the day's highest P&L (micros; exact below 2^53)

`ZADD … GT` keeps the larger of the stored and the new score in one command, so replicas that read one user's
P&L in turn (a stream moved by sharding, a restart) never lower it. The key expires two days after its day.
"""

from __future__ import annotations

from redis.asyncio import Redis

PEAKS_PREFIX = "notify:peaks:"
#: Kept this long after its last raise: a day's peak is not needed once the day is over.
PEAK_TTL_SECONDS = 2 * 24 * 3600


class RedisDayPeaks:
    """`DayPeaks` over one Redis sorted set per IST day."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def raise_to(self, user_id: str, trading_date: str, pnl_micros: int) -> int:
        key = PEAKS_PREFIX + trading_date
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {user_id: pnl_micros}, gt=True)
            pipe.zscore(key, user_id)
            pipe.expire(key, PEAK_TTL_SECONDS)
            _, peak, _ = await pipe.execute()
        return int(peak)
