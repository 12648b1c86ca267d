"""The Redis backplane: latest-quote cache, fenced tick publishing, per-replica fan-in, stream counts.

Keys and channels (one per instrument, `EXCHANGE:SYMBOL`):
  md:quote:<instrument>    latest tick payload (codec.EncodedQuote bytes), written by the ingest
  md:tick:<instrument>     pub/sub channel, one message per accepted tick
  md:ingest:lock:<feed>    the active ingest's lease (value = fencing token "<epoch>:<id>")
  md:ingest:epoch:<feed>   fencing epoch, incremented on every acquisition
  md:streams:<user>        sorted set of the user's open streams (score = lease expiry, ms)

Each replica holds ONE pub/sub connection and subscribes only to the instruments its own streams
want, reference-counted; every tick read from it is decoded once and handed to the interested
streams in memory (`RedisTickHub`). The ingest writes and publishes through a Lua script that first
checks it still holds the lock, so an ingest that lost its lease (paused, partitioned) cannot
overwrite its successor's quotes: that check is the fence.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from trademesh.kernel.errors import DomainError, Unavailable
from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX
from trademesh.services.core.pubsub import pubsub_messages
from trademesh.services.marketdata.mapping import EncodedQuote
from trademesh.services.marketdata.ports import TickSink, WireQuote

logger = logging.getLogger(__name__)

QUOTE_PREFIX = "md:quote:"
TICK_PREFIX = TICK_CHANNEL_PREFIX
LOCK_PREFIX = "md:ingest:lock:"
EPOCH_PREFIX = "md:ingest:epoch:"
STREAMS_PREFIX = "md:streams:"

_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i])
  redis.call('PUBLISH', 'md:tick:' .. string.sub(KEYS[i], 10), ARGV[i])
end
return #KEYS - 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_ACQUIRE_STREAM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local active = redis.call('ZCARD', KEYS[1])
if active >= tonumber(ARGV[3]) then return {0, active} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, active + 1}
"""


def quote_key(instrument: str) -> str:
    """Return the Redis key of an instrument's latest quote."""
    return QUOTE_PREFIX + instrument


class RedisQuoteCache:
    """Read the latest quotes the ingest wrote."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get_many(self, instruments: Sequence[str]) -> dict[str, WireQuote]:
        """Return the latest quote of each instrument that has one."""
        if not instruments:
            return {}
        values: list[Any] = await self._redis.mget([quote_key(item) for item in instruments])
        return {item: EncodedQuote(item, value) for item, value in zip(instruments, values, strict=True) if value}


class IngestLease:
    """A Redis lease that makes one ingest per feed active; the token doubles as the fence."""

    def __init__(self, redis: Redis, feed: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._key = LOCK_PREFIX + feed
        self._epoch_key = EPOCH_PREFIX + feed
        self._ttl_ms = int(ttl_seconds * 1000)
        self.token: str | None = None
        self._publish = redis.register_script(_PUBLISH)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def renew_interval(self) -> float:
        """Return how often the holder renews (a third of the lease)."""
        return self._ttl_ms / 3000

    async def try_acquire(self) -> bool:
        """Take the lease when it is free; return whether this process now holds it."""
        epoch = await self._redis.incr(self._epoch_key)
        token = f"{epoch}:{uuid.uuid4().hex}"
        if await self._redis.set(self._key, token, nx=True, px=self._ttl_ms):
            self.token = token
            return True
        return False

    async def renew(self) -> bool:
        """Extend the lease; False means it was lost (expired and taken, or Redis lost it)."""
        if self.token is None:
            return False
        held = bool(await self._renew(keys=[self._key], args=[self.token, self._ttl_ms]))
        if not held:
            self.token = None
        return held

    async def release(self) -> None:
        """Give the lease up so another ingest can take over at once."""
        if self.token is not None:
            token, self.token = self.token, None
            await self._release(keys=[self._key], args=[token])

    async def publish(self, quotes: Sequence[EncodedQuote]) -> bool:
        """Store and publish `quotes` if this process still holds the lease; False when fenced off."""
        if self.token is None:
            return False
        keys = [self._key, *(quote_key(quote.key) for quote in quotes)]
        args: list[str | bytes] = [self.token, *(quote.payload for quote in quotes)]
        written = await self._publish(keys=keys, args=args)
        if written == -1:
            self.token = None
            return False
        return True


class RedisStreamCounter:
    """Count each user's open streams across all replicas (sorted set of leases per user)."""

    def __init__(self, redis: Redis, lease_seconds: float = 30.0) -> None:
        self._redis = redis
        self._lease_ms = int(lease_seconds * 1000)
        self._acquire = redis.register_script(_ACQUIRE_STREAM)
        self._local: dict[str, str] = {}  # stream id → user

    @property
    def renew_interval(self) -> float:
        """Return how often the leases of this replica's streams are renewed."""
        return self._lease_ms / 3000

    async def acquire(self, user: str, limit: int) -> tuple[str | None, int]:
        """Register a new stream; return (stream id, active count), or (None, active) at the limit."""
        stream_id = uuid.uuid4().hex
        now = int(time.time() * 1000)
        ok, active = await self._acquire(
            keys=[STREAMS_PREFIX + user], args=[now, now + self._lease_ms, limit, stream_id, self._lease_ms * 2]
        )
        if not ok:
            return None, int(active)
        self._local[stream_id] = user
        return stream_id, int(active)

    async def release(self, stream_id: str) -> None:
        """Forget a stream that ended (a lost release expires with its lease)."""
        user = self._local.pop(stream_id, None)
        if user is not None:
            try:
                await self._redis.zrem(STREAMS_PREFIX + user, stream_id)
            except RedisError:
                logger.warning("could not release stream %s; its lease will expire", stream_id)

    async def run(self) -> None:
        """Renew this replica's stream leases until cancelled."""
        while True:
            await asyncio.sleep(self.renew_interval)
            if not self._local:
                continue
            expiry = int(time.time() * 1000) + self._lease_ms
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for stream_id, user in list(self._local.items()):
                        pipe.zadd(STREAMS_PREFIX + user, {stream_id: expiry}, xx=True)
                    await pipe.execute()
            except RedisError:
                logger.warning("renewing stream leases failed", exc_info=True)


class RedisTickHub:
    """This replica's single fan-in from Redis pub/sub, fanned out in memory to its streams."""

    def __init__(self, redis: Redis, *, retry_seconds: float) -> None:
        self._redis = redis
        self._retry_seconds = retry_seconds
        self._sinks: dict[str, set[TickSink]] = {}
        self._pubsub: PubSub | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._connected = asyncio.Event()
        self._closed = False
        self._lock = asyncio.Lock()
        self.ticks_received = 0

    @property
    def subscribed(self) -> frozenset[str]:
        """Return the instruments this replica is subscribed to."""
        return frozenset(self._sinks)

    async def subscribe(self, instruments: Iterable[str], sink: TickSink) -> None:
        """Add `sink` to the instruments' audiences, subscribing in Redis to new ones (confirmed)."""
        if not self._connected.is_set():
            raise Unavailable("the quote backplane is unavailable; retry later", reason="SERVICE_UNAVAILABLE")
        new: list[str] = []
        for instrument in instruments:
            sinks = self._sinks.get(instrument)
            if sinks is None:
                sinks = self._sinks[instrument] = set()
                new.append(instrument)
            sinks.add(sink)
        if new:
            await self._subscribe_channels(new)
        else:
            # Another stream's SUBSCRIBE for the same instruments may still be in flight.
            pending = [self._confirmations[i] for i in instruments if i in self._confirmations]
            if pending:
                await self._wait_confirmed(pending)

    async def _subscribe_channels(self, instruments: list[str]) -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for instrument in instruments:
            future = self._confirmations.get(instrument)
            if future is None:
                future = self._confirmations[instrument] = loop.create_future()
            futures.append(future)
        pubsub = self._pubsub
        if pubsub is None:
            raise Unavailable("the quote backplane is unavailable; retry later", reason="SERVICE_UNAVAILABLE")
        try:
            async with self._lock:
                await pubsub.subscribe(*(TICK_PREFIX + instrument for instrument in instruments))
        except (RedisError, OSError) as error:
            raise Unavailable(
                "the quote backplane is unavailable; retry later", reason="SERVICE_UNAVAILABLE"
            ) from error
        await self._wait_confirmed(futures)

    async def _wait_confirmed(self, futures: list[asyncio.Future[None]]) -> None:
        try:
            async with asyncio.timeout(self._retry_seconds + 2):
                await asyncio.gather(*(asyncio.shield(future) for future in futures))
        except TimeoutError as error:
            raise Unavailable(
                "the quote backplane did not confirm; retry later", reason="SERVICE_UNAVAILABLE"
            ) from error

    async def unsubscribe(self, instruments: Iterable[str], sink: TickSink) -> None:
        """Remove `sink`; unsubscribe in Redis from instruments no local stream wants any more."""
        gone = []
        for instrument in instruments:
            sinks = self._sinks.get(instrument)
            if sinks is None:
                continue
            sinks.discard(sink)
            if not sinks:
                del self._sinks[instrument]
                gone.append(instrument)
        pubsub = self._pubsub
        if gone and pubsub is not None and self._connected.is_set():
            try:
                async with self._lock:
                    await pubsub.unsubscribe(*(TICK_PREFIX + instrument for instrument in gone))
            except (RedisError, OSError):
                logger.info("unsubscribe failed; the reconnect will subscribe only to wanted instruments")

    def close(self) -> None:
        """Ask `run` to stop."""
        self._closed = True

    def fail_all(self, error: DomainError) -> None:
        """End every stream of this replica with `error` (drain, lost backplane)."""
        for sink in {sink for sinks in self._sinks.values() for sink in sinks}:
            sink.fail(error)

    async def wait_connected(self, seconds: float) -> bool:
        """Wait until the pub/sub connection is up; return whether it is."""
        try:
            async with asyncio.timeout(seconds):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Read ticks until closed; reconnect on failure, then resnapshot or end the streams."""
        lost_since: float | None = None
        first = True
        while not self._closed:
            try:
                await self._connect()
                if lost_since is not None:
                    logger.info("quote backplane reconnected after %.1fs", time.monotonic() - lost_since)
                    for sink in {sink for sinks in self._sinks.values() for sink in sinks}:
                        sink.resnapshot()
                lost_since = None
                first = False
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not isinstance(error, RedisError | OSError):
                    logger.error("quote backplane reader failed", exc_info=error)
                self._disconnect()
                now = time.monotonic()
                if lost_since is None and not first:
                    logger.warning("quote backplane lost (%s); retrying for %.1fs", error, self._retry_seconds)
                    lost_since = now
                if lost_since is not None and now - lost_since >= self._retry_seconds and self._sinks:
                    self.fail_all(
                        Unavailable("the quote backplane is unavailable; reconnect", reason="SERVICE_UNAVAILABLE")
                    )
                await asyncio.sleep(0.2)
        self._disconnect()

    async def _connect(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.ping()
            channels = [TICK_PREFIX + instrument for instrument in self._sinks]
            loop = asyncio.get_running_loop()
            for instrument in self._sinks:
                self._confirmations.setdefault(instrument, loop.create_future())
            if channels:
                await pubsub.subscribe(*channels)
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        self._pubsub = pubsub
        self._connected.set()

    def _disconnect(self) -> None:
        self._connected.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            task = asyncio.get_running_loop().create_task(pubsub.aclose())  # type: ignore[no-untyped-call]
            task.add_done_callback(lambda done: done.exception() if not done.cancelled() else None)
        for future in self._confirmations.values():
            if not future.done():
                future.set_exception(Unavailable("backplane lost", reason="SERVICE_UNAVAILABLE"))
                future.exception()
        self._confirmations.clear()

    async def _read(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        prefix = len(TICK_PREFIX)
        async for kind, channel, data in pubsub_messages(pubsub, self._lock, lambda: self._closed):
            name = channel[prefix:]
            if kind == "message":
                sinks = self._sinks.get(name)
                if not sinks:
                    continue
                self.ticks_received += 1
                update = EncodedQuote(name, data)
                for sink in sinks:
                    sink.deliver(update)
            elif kind == "subscribe":
                future = self._confirmations.pop(name, None)
                if future is not None and not future.done():
                    future.set_result(None)
