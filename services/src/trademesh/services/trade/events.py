"""Trade events: the outbox relay (MongoDB → Redis streams) and the per-user feed WatchTrades reads.

Every trade write stores its event inside the trade document (`outbox`). After the write, the
request publishes the document's pending events and removes them; the background relay publishes
whatever a crash or a Redis outage left behind. Publishing is one Lua script per event that XADDs
to the shared `trade-events` stream (consumer groups) and the user's own stream (WatchTrades replay),
but only if the trade's last published version is lower — so a re-publish after a crash is a no-op
and a trade's events always enter the streams in version order (docs/decisions/0010).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from trademesh.kernel.events import STREAM, user_stream
from trademesh.services.trade.mapping import event_to_proto
from trademesh.services.trade.model import EventType, Trade, TradeEvent, new_event
from trademesh.services.trade.store import MongoTradeStore, pending_events

logger = logging.getLogger(__name__)

RETENTION = timedelta(days=7)
PUBLISH_BATCH = 500

# KEYS: shared stream, user stream, per-trade "last published version" marker.
# ARGV: version, event_id, user_id, trade_id, type, payload, min id kept, marker ttl seconds.
_PUBLISH = """
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[1]) <= last then return false end
local entry = redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[7], '*',
  'event_id', ARGV[2], 'type', ARGV[5], 'version', ARGV[1], 'trade_id', ARGV[4], 'payload', ARGV[6])
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[7], '*',
  'event_id', ARGV[2], 'user_id', ARGV[3], 'trade_id', ARGV[4], 'type', ARGV[5], 'version', ARGV[1],
  'user_entry', entry, 'payload', ARGV[6])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[8])
return entry
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisEventPublisher:
    """Publish change events to the shared and per-user streams, idempotently and in version order."""

    def __init__(self, redis: Redis, *, stream: str = STREAM, retention: timedelta = RETENTION) -> None:
        self._redis = redis
        self._stream = stream
        self._retention = retention
        self._script = redis.register_script(_PUBLISH)

    async def publish(self, events: Sequence[TradeEvent]) -> int:
        """Publish events (callers pass each trade's events in version order); return how many were new."""
        published = 0
        min_id = f"{int((time.time() - self._retention.total_seconds()) * 1000)}-0"
        ttl = str(int(self._retention.total_seconds()) + 86400)
        for start in range(0, len(events), PUBLISH_BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events[start : start + PUBLISH_BATCH]:
                    trade = event.trade
                    await self._script(
                        keys=[self._stream, user_stream(trade.user_id), f"{self._stream}:published:{trade.id}"],
                        args=[
                            trade.version,
                            event.event_id,
                            trade.user_id,
                            trade.id,
                            EventType(event.type).value,
                            event_to_proto(event).SerializeToString(),
                            min_id,
                            ttl,
                        ],
                        client=pipe,
                    )
                results = await pipe.execute()
            published += sum(1 for result in results if result)
        return published


class OutboxRelay:
    """The EventSink: publish the pending events of written trades now, and sweep leftovers later."""

    def __init__(
        self,
        store: MongoTradeStore,
        publisher: RedisEventPublisher,
        *,
        scan_interval: float,
        grace: timedelta = timedelta(seconds=60),
    ) -> None:
        self._store = store
        self._grace = grace
        self._publisher = publisher
        self._scan_interval = scan_interval
        self._wake = asyncio.Event()
        self._closed = False
        # Creates published by their requests whose events are still to be cleared (see `created`).
        self._published_creates: list[str] = []
        self._clearing: asyncio.Task[None] | None = None

    async def committed(self, trades: Sequence[Trade]) -> None:
        """Publish and clear the pending events of these trades; on failure leave them to the sweep."""
        try:
            for trade in trades:
                document = await self._store.pending_of(trade.id)
                if document is not None:
                    await self._flush(document)
        except Exception:
            logger.warning("publishing trade events failed; the relay will retry", exc_info=True)
            self._wake.set()

    async def created(self, trade: Trade, event: TradeEvent) -> None:
        """Publish a just-created trade's CREATED event as written; on failure leave it to the sweep. The outbox
        is not read back: this request wrote it a moment ago. Clearing it is left to one task that clears the
        creates published meanwhile together, off the request's path (one update for all of them; until then
        the event is only a pending copy of one already published). Should a sweep publish it again in between,
        consumers take a trade's version once."""
        try:
            await self._publisher.publish([event])
        except Exception:
            logger.warning("publishing trade events failed; the relay will retry", exc_info=True)
            self._wake.set()
            return
        self._published_creates.append(trade.id)
        if self._clearing is None or self._clearing.done():
            self._clearing = asyncio.create_task(self._clear_published_creates())

    async def _clear_published_creates(self) -> None:
        while self._published_creates:
            trade_ids, self._published_creates = self._published_creates, []
            try:
                await self._store.clear_created(trade_ids)
            except Exception:
                # Left pending: a later sweep publishes them again (their version once) and clears them.
                logger.warning(
                    "clearing %d published events failed; the relay will retry", len(trade_ids), exc_info=True
                )

    async def drain(self) -> None:
        """Wait for the clearing of published creates (at shutdown)."""
        while self._clearing is not None and not self._clearing.done():
            await asyncio.shield(self._clearing)

    async def committed_batch(self, batch_id: str, trades: Sequence[Trade]) -> None:
        """Publish the CREATED events of a bulk insert recorded by `start_batch` (an import, a reconcile),
        then forget the batch.

        A trade already changed again (version > 1) is skipped: its own later events carry it, and
        the CREATED state it had is no longer known (see docs/decisions/0010).
        """
        try:
            created = [trade for trade in trades if trade.version == 1]
            await self._publisher.publish([new_event(EventType.CREATED, t, t.create_time) for t in created])
            await self._store.batch_published(batch_id)
        except Exception:
            logger.warning("publishing batch events failed; the relay will retry", exc_info=True)
            self._wake.set()

    async def _flush(self, document: dict[str, Any]) -> None:
        events = pending_events(document)
        if not events:
            # Erase a purged trade, or clear the flag a publishing request left (else every sweep
            # would read this trade again).
            await self._store.settle(document)
            return
        await self._publisher.publish(events)
        await self._store.clear_events(str(document["_id"]), [event.trade.version for event in events])

    async def sweep(self, grace: timedelta | None = None) -> int:
        """Publish events still pending in the database (written more than `grace` ago, if given).

        Returns how many documents were flushed.
        """
        flushed = 0
        after = ""
        written_before = datetime.now(UTC) - grace if grace is not None else None
        for record in await self._store.batches_with_pending_events(written_before):
            trades = await self._store.get_many([str(trade_id) for trade_id in record["trade_ids"]])
            # A write whose events were left behind may not have moved its users' revisions on (0370).
            await self._store.bump_revisions(trade.user_id for trade in trades)
            await self.committed_batch(str(record["_id"]), trades)
            flushed += len(trades)
        while True:
            documents = await self._store.pending_documents(500, after, written_before)
            left = [document for document in documents if document.get("outbox")]
            await self._store.bump_revisions(str(document["user_id"]) for document in left if "user_id" in document)
            for document in documents:
                await self._flush(document)
            # Documents whose events were published by their request only had a flag to clear.
            flushed += len(left)
            if len(documents) < 500:
                return flushed
            after = str(documents[-1]["_id"])

    def close(self) -> None:
        """Ask `run` to return."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Sweep at start (recovering events a crash left behind), then periodically and when woken."""
        first = True
        while not self._closed:
            try:
                # At start-up everything pending is a leftover (a crash); later sweeps leave recent
                # writes to the requests that made them.
                flushed = await self.sweep(None if first else self._grace)
                first = False
                if flushed:
                    logger.info("relay published pending events of %d trades", flushed)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("outbox relay sweep failed; retrying", exc_info=True)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._scan_interval)
        await self.drain()


class RedisTradeFeed:
    """Read one user's event stream (for WatchTrades)."""

    def __init__(self, redis: Redis, *, block_seconds: float) -> None:
        self._redis = redis
        self._block_ms = max(1, int(block_seconds * 1000))

    async def position(self, user_id: str) -> str:
        """Return the user's stream position now: the events after it are exactly those added from now on.

        That is the newest event's id, or — when there is none, or it is old — an id at Redis' clock
        (one millisecond back: new entries never get a smaller id than the server time), so a resume
        token taken from a quiet journal stays valid for the whole retention window.
        """
        entries: Any = await self._redis.xrevrange(user_stream(user_id), count=1)
        seconds, microseconds = await self._redis.time()
        now_ms = int(seconds) * 1000 + int(microseconds) // 1000 - 1
        if entries:
            newest = _text(entries[0][0])
            millis, _, counter = newest.partition("-")
            if (int(millis), int(counter or 0)) >= (now_ms, 0):
                return newest
        return f"{now_ms}-0"

    async def read_after(self, user_id: str, entry_id: str, count: int = 200) -> list[tuple[str, bytes]]:
        """Return up to `count` events after `entry_id`, waiting briefly for new ones."""
        response: Any = await self._redis.xread({user_stream(user_id): entry_id}, count=count, block=self._block_ms)
        items: list[tuple[str, bytes]] = []
        for _, entries in response or ():
            for entry, values in entries:
                payload = values.get(b"payload", b"")
                items.append((_text(entry), payload if isinstance(payload, bytes) else bytes(payload)))
        return items


class FaultInjectingSink:
    """Test-only EventSink wrapper: end the process right after the database write, before publishing."""

    def __init__(self, inner: OutboxRelay) -> None:
        self._inner = inner

    async def committed(self, trades: Sequence[Trade]) -> None:
        logger.error("TRADEMESH_FAULT_EXIT_AFTER_WRITE: exiting after the write, before publishing")
        os._exit(86)

    async def created(self, trade: Trade, event: TradeEvent) -> None:
        await self.committed([trade])

    async def committed_batch(self, batch_id: str, trades: Sequence[Trade]) -> None:
        await self.committed(trades)


class RedisRateLimiter:
    """Fixed-window counters in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def hit(self, key: str, limit: int, window: timedelta) -> float | None:
        """Count one call; return seconds until the window resets when over `limit`."""
        bucket = int(time.time() // window.total_seconds())
        name = f"trade:ratelimit:{key}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, int(window.total_seconds()) + 1)
                count, _ = await pipe.execute()
        except RedisError as error:
            # Named in one line: during a Redis outage every call passes here.
            logger.warning("rate limiter unavailable (%r); allowing the call", error)
            return None
        if int(count) > limit:
            return (bucket + 1) * window.total_seconds() - time.time()
        return None
