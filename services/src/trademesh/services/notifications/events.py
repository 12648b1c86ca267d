"""The trade-event consumer: the `notifications` group on `trade-events`, summarising runs into notices.

An entry that belongs to an import or a sync run is held (not acknowledged) until its run's notice is
written; the others are acknowledged at once. A crash loses nothing: the held entries stay pending, are
read again at start (this consumer's own pending first) or claimed by a live replica after
`claim_idle_seconds`, and the notice they rebuild has the same id, which the inbox stores once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from trademesh.kernel.events import STREAM, EventEnvelope
from trademesh.services.notifications.ports import Clock
from trademesh.services.notifications.service import Notifier, TradeActivity, TradeRunNotices
from trademesh.trade.v1 import trade_event_pb2, trade_pb2

logger = logging.getLogger(__name__)

GROUP = "notifications"
_RUN_TYPES = {trade_event_pb2.TRADE_EVENT_TYPE_CREATED, trade_event_pb2.TRADE_EVENT_TYPE_UPDATED}


def activity_of(entry_id: str, envelope: EventEnvelope) -> TradeActivity | None:
    """Return the run activity an event is part of (an import's or a sync's trade), or None."""
    try:
        event = trade_event_pb2.TradeEvent.FromString(envelope.payload)
    except ValueError:
        return None
    if event.type not in _RUN_TYPES:
        return None
    trade = event.trade
    created = event.type == trade_event_pb2.TRADE_EVENT_TYPE_CREATED
    if trade.import_id:
        return TradeActivity(entry_id, envelope.user_id, "import", trade.import_id, created)
    if trade.source == trade_pb2.TRADE_SOURCE_SYNC:
        return TradeActivity(entry_id, envelope.user_id, "sync", trade.broker_account_id or "-", created)
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class TradeEventConsumer:
    """Consume `trade-events` in the `notifications` group; write one notice per finished run."""

    def __init__(
        self,
        redis: Redis,
        notifier: Notifier,
        *,
        consumer: str,
        clock: Clock,
        quiet_seconds: float = 2.0,
        block_seconds: float = 1.0,
        claim_idle_seconds: float = 30.0,
        batch_size: int = 500,
        stream: str = STREAM,
        group: str = GROUP,
    ) -> None:
        self._redis = redis
        self._notifier = notifier
        self._consumer = consumer
        self._clock = clock
        self._runs = TradeRunNotices(quiet_seconds=quiet_seconds)
        self._block_ms = max(1, int(min(block_seconds, quiet_seconds) * 1000))
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._batch = batch_size
        self._stream = stream
        self._group = group
        self._closed = False
        self.notices = 0

    async def ensure_group(self) -> None:
        """Create the consumer group at the stream's end if it does not exist (older events are not news)."""
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="$", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def close(self) -> None:
        """Ask `run` to return."""
        self._closed = True

    async def process(self, entries: list[tuple[Any, dict[bytes, bytes]]], now: datetime) -> None:
        """Count run entries into their runs; acknowledge every other entry at once."""
        done = []
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            envelope = EventEnvelope.decode(fields) if fields else None
            activity = None if envelope is None else activity_of(entry_id, envelope)
            if activity is None:
                done.append(entry_id)
            else:
                self._runs.add(activity, now)
        if done:
            await self._redis.xack(self._stream, self._group, *done)

    async def flush(self) -> int:
        """Write the notices of runs that went quiet and acknowledge their entries; return how many."""
        finished = self._runs.finished(self._clock())
        for run in finished:
            await self._notifier.notify(run.notification)
            await self._redis.xack(self._stream, self._group, *run.entries)
            self.notices += 1
        return len(finished)

    async def _read(self, cursor: str, block: int | None) -> list[tuple[Any, dict[bytes, bytes]]]:
        response: Any = await self._redis.xreadgroup(
            self._group, self._consumer, {self._stream: cursor}, count=self._batch, block=block
        )
        return [entry for _, batch in response or () for entry in batch]

    async def claim_stale(self) -> None:
        """Take over entries another consumer left pending (it crashed before its runs' notices)."""
        start = "0-0"
        while True:
            response: Any = await self._redis.xautoclaim(
                self._stream, self._group, self._consumer, self._claim_idle_ms, start_id=start, count=self._batch
            )
            start = _text(response[0])
            await self.process(response[1], self._clock())
            if start == "0-0":
                return

    async def run(self) -> None:
        """Consume until closed: own pending entries first, then new ones; claim stale ones periodically."""
        loop = asyncio.get_running_loop()
        next_claim = 0.0
        recovered = False
        while not self._closed:
            try:
                await self.ensure_group()
                if not recovered:
                    await self.process(await self._read("0", None), self._clock())
                    recovered = True
                if loop.time() >= next_claim:
                    await self.claim_stale()
                    next_claim = loop.time() + self._claim_idle_ms / 1000
                entries = await self._read(">", self._block_ms)
                if entries:
                    await self.process(entries, self._clock())
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("consuming trade events failed; retrying", exc_info=True)
                recovered = False
                await asyncio.sleep(1.0)
