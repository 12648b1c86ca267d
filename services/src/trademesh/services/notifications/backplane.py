"""The Redis side of the notifications service: ticks in, inbox and alert-change signals across replicas.

One pub/sub connection per replica carries:
  md:tick:<EXCHANGE:SYMBOL>   the market-data backplane's ticks, subscribed only for instruments with
                              armed alerts (payload layout: `trademesh.kernel.ticks`)
  notify:inbox:<user>         "the user's inbox changed" (pattern-subscribed: every replica hears every
                              user, a few bytes per notification, and no watcher waits on a SUBSCRIBE)
  notify:alerts               "this alert changed": each replica's evaluator reloads it
  notify:members              "the replicas changed" (a join or a graceful leave, decision 0340): the
                              replica's `Shard` beats at once
On every (re)connection every channel is subscribed again and `on_connect` runs (the evaluator
loads the alerts from the store, since changes announced while disconnected were missed).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence

from google.protobuf.message import DecodeError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX, tick_ltp
from trademesh.marketdata.v1 import quote_pb2
from trademesh.services.core.pubsub import pubsub_messages
from trademesh.services.notifications.model import Tick
from trademesh.services.notifications.sharding import MEMBERS_CHANNEL

logger = logging.getLogger(__name__)

TICK_PREFIX = TICK_CHANNEL_PREFIX
_parse_quote = quote_pb2.Quote.FromString
INBOX_PREFIX = "notify:inbox:"
ALERTS_CHANNEL = "notify:alerts"


def decode_tick(instrument: str, payload: bytes) -> Tick | None:
    """Decode a backplane tick payload (None when malformed, or when there was no trade yet): `last_trade`'s
    reading, without its intermediate object (this runs for every tick)."""
    try:
        received_ns, body = tick_ltp(payload)
        quote = _parse_quote(body)
    except (struct.error, ValueError, DecodeError):
        return None
    price = quote.last_price_micros
    if price == 0:
        return None
    return Tick(instrument, price, quote.change_micros, received_ns)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _InboxSubscription:
    def __init__(self, backplane: RedisBackplane, user_id: str) -> None:
        self._backplane = backplane
        self._user_id = user_id
        self._event = asyncio.Event()

    async def __aenter__(self) -> _InboxSubscription:
        self._backplane.inbox_watchers.setdefault(self._user_id, set()).add(self._event)
        return self

    async def __aexit__(self, *exc: object) -> None:
        watchers = self._backplane.inbox_watchers.get(self._user_id)
        if watchers is not None:
            watchers.discard(self._event)
            if not watchers:
                del self._backplane.inbox_watchers[self._user_id]

    async def wait(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class RedisBackplane:
    """Tick source, inbox signal and alert-change channel over one Redis pub/sub connection."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None
        self._instruments: set[str] = set()
        self._lock = asyncio.Lock()
        self._closed = False
        self.connected = asyncio.Event()
        self.inbox_watchers: dict[str, set[asyncio.Event]] = {}
        self.on_tick: Callable[[Tick], Awaitable[None]] | None = None
        self.on_alert_change: Callable[[str], Awaitable[None]] | None = None
        self.on_connect: Callable[[], Awaitable[object]] | None = None
        #: Called (synchronously, from the reader) when a replica announces a join or a leave.
        self.on_members_change: Callable[[], None] | None = None
        self.ticks_received = 0

    # TickSource
    async def watch(self, instruments: Iterable[str]) -> None:
        new = [instrument for instrument in instruments if instrument not in self._instruments]
        self._instruments.update(new)
        pubsub = self._pubsub
        if new and pubsub is not None:
            try:
                async with self._lock:
                    await pubsub.subscribe(*(TICK_PREFIX + instrument for instrument in new))
            except (RedisError, OSError):
                logger.info("subscribing to ticks failed; the reconnect subscribes again")

    async def unwatch(self, instruments: Iterable[str]) -> None:
        gone = [instrument for instrument in instruments if instrument in self._instruments]
        self._instruments.difference_update(gone)
        pubsub = self._pubsub
        if gone and pubsub is not None:
            try:
                async with self._lock:
                    await pubsub.unsubscribe(*(TICK_PREFIX + instrument for instrument in gone))
            except (RedisError, OSError):
                logger.info("unsubscribing from ticks failed; the reconnect subscribes only to wanted instruments")

    @property
    def watched(self) -> frozenset[str]:
        """Return the instruments whose ticks this replica receives."""
        return frozenset(self._instruments)

    # InboxSignal
    async def publish(self, user_id: str) -> None:
        await self._redis.publish(INBOX_PREFIX + user_id, b"1")

    async def publish_many(self, user_ids: Collection[str]) -> None:
        await _publish_all(self._redis, [(INBOX_PREFIX + user_id, "1") for user_id in user_ids])

    def subscribe(self, user_id: str) -> _InboxSubscription:
        return _InboxSubscription(self, user_id)

    def close(self) -> None:
        """Ask `run` to stop."""
        self._closed = True

    async def run(self) -> None:
        """Read the pub/sub connection until closed, reconnecting on failure."""
        while not self._closed:
            try:
                await self._connect()
                if self.on_connect is not None:
                    await self.on_connect()
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not isinstance(error, RedisError | OSError):
                    logger.error("notifications backplane reader failed", exc_info=error)
                else:
                    logger.warning("notifications backplane lost (%s); reconnecting", error)
                self._disconnect()
                await asyncio.sleep(0.5)
        self._disconnect()

    async def _connect(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.psubscribe(INBOX_PREFIX + "*")
            channels = [
                ALERTS_CHANNEL,
                MEMBERS_CHANNEL,
                *(TICK_PREFIX + instrument for instrument in self._instruments),
            ]
            await pubsub.subscribe(*channels)
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        self._pubsub = pubsub

    def _disconnect(self) -> None:
        self.connected.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            task = asyncio.get_running_loop().create_task(pubsub.aclose())  # type: ignore[no-untyped-call]
            task.add_done_callback(lambda done: done.exception() if not done.cancelled() else None)

    async def _read(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        async for kind, name, data in pubsub_messages(pubsub, self._lock, lambda: self._closed):
            if kind == "psubscribe":
                self.connected.set()  # subscriptions are answered in order: the first one sent is confirmed
            elif kind == "pmessage":
                for event in self.inbox_watchers.get(name[len(INBOX_PREFIX) :], ()):
                    event.set()
            elif kind == "message":
                await self._dispatch(name, data)

    async def _dispatch(self, channel: str, data: bytes) -> None:
        if channel.startswith(TICK_PREFIX):
            instrument = channel[len(TICK_PREFIX) :]
            tick = decode_tick(instrument, data)
            if tick is not None and self.on_tick is not None and instrument in self._instruments:
                self.ticks_received += 1
                try:
                    await self.on_tick(tick)
                except Exception:
                    logger.warning("evaluating a tick of %s failed", instrument, exc_info=True)
        elif channel == MEMBERS_CHANNEL:
            if self.on_members_change is not None:
                self.on_members_change()
        elif channel == ALERTS_CHANNEL and self.on_alert_change is not None:
            try:
                await self.on_alert_change(_text(data))
            except Exception:
                logger.warning("reloading alert %r failed", data, exc_info=True)


class RedisAlertChanges:
    """Announce alert changes on `notify:alerts`."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, alert_id: str) -> None:
        await self._redis.publish(ALERTS_CHANNEL, alert_id)

    async def publish_many(self, alert_ids: Collection[str]) -> None:
        await _publish_all(self._redis, [(ALERTS_CHANNEL, alert_id) for alert_id in alert_ids])


async def _publish_all(redis: Redis, messages: Sequence[tuple[str, str]]) -> None:
    """Publish the messages in one pipeline (one round trip, no transaction)."""
    if not messages:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for channel, message in messages:
            pipe.publish(channel, message)
        await pipe.execute()
