"""`RedisMembership`: the live notification replicas in a Redis sorted set (decision 0340).

    notify:members:<database>   sorted set: member id → last heartbeat (Redis server time, seconds)
    notify:members              pub/sub: "the members changed" (a join or a graceful leave), heard by every
                                replica's backplane, which makes its `Shard` beat at once

The time is the Redis server's (`TIME`), so replicas' clocks never disagree about who is alive. A member whose
heartbeat is older than the member timeout is not live, and the next heartbeat of any member deletes it. The set
is per database: replicas sharing a database are one deployment (and parallel test databases stay apart).
Plain commands in a MULTI; there is no election or lock — the assignment is computed by every replica from the
members it reads (`service/sharding.py`), and firing stays exactly-once by the alert's generation check.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket

from redis.asyncio import Redis
from redis.exceptions import RedisError

from trademesh.services.notifications.ports import TickSource
from trademesh.services.notifications.service.sharding import Shard, ShardedTickSource
from trademesh.services.notifications.settings import NotificationsSettings

logger = logging.getLogger(__name__)

MEMBERS_PREFIX = "notify:members:"
MEMBERS_CHANNEL = "notify:members"


def new_member_id() -> str:
    """Return a member id, random per process (the host and pid only make logs readable)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class RedisMembership:
    """`Membership` over one Redis sorted set of member id → last heartbeat."""

    def __init__(self, redis: Redis, group: str, timeout_seconds: float, member_id: str | None = None) -> None:
        self._redis = redis
        self._key = MEMBERS_PREFIX + group
        self._timeout = timeout_seconds
        self._member_id = member_id or new_member_id()

    @property
    def member_id(self) -> str:
        """Return this replica's id."""
        return self._member_id

    async def _now(self) -> float:
        seconds, micros = await self._redis.time()
        return float(seconds) + micros / 1_000_000

    async def live(self) -> dict[str, float]:
        """Return the members whose last heartbeat is within the timeout, with the seconds each has left; delete
        the older ones."""
        now = await self._now()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._key, "-inf", f"({now - self._timeout}")
            pipe.zrange(self._key, 0, -1, withscores=True)
            _, members = await pipe.execute()
        return {
            (member.decode() if isinstance(member, bytes) else member): float(seen) + self._timeout - now
            for member, seen in members
        }

    async def heartbeat(self) -> None:
        """Record this replica alive now (the set outlives a silent deployment by a few timeouts only)."""
        now = await self._now()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key, {self._member_id: now})
            pipe.pexpire(self._key, int(self._timeout * 10_000))
            await pipe.execute()

    async def announce(self) -> None:
        """Tell every replica the members changed."""
        await self._redis.publish(MEMBERS_CHANNEL, self._member_id)

    async def leave(self) -> None:
        """Remove this replica and announce it."""
        await self._redis.zrem(self._key, self._member_id)
        await self.announce()


def build_shard(
    settings: NotificationsSettings, redis: Redis, backplane: TickSource
) -> tuple[Shard, ShardedTickSource]:
    """Return this replica's `Shard` and the tick source subscribing only its share of `backplane`."""
    shard = Shard(RedisMembership(redis, settings.mongo_database, settings.notifications_member_timeout_seconds))
    ticks = ShardedTickSource(backplane, shard.owns_instrument)
    shard.on_change(ticks.rebalance)
    return shard, ticks


async def join(shard: Shard) -> None:
    """Beat once (join); on failure the replica owns everything (overlap) until a beat succeeds."""
    try:
        await shard.beat()
    except (RedisError, OSError) as error:
        logger.warning("joining the notification replicas failed (%s); owning everything until it works", error)
