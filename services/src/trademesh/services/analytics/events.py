"""The trade-event consumer: a Redis consumer group on `trade-events` that keeps journals fresh.

Entries are read in batches (up to `batch_size` per XREADGROUP), decoded, grouped by user and applied as
one journal merge per user (`AnalyticsService.apply_changes`: an import of N fills costs about one
rebuild, not N; docs/decisions/0113), then acknowledged together (XACK after apply), so a crash mid-batch
leaves the unacknowledged entries pending; XAUTOCLAIM hands entries idle for longer than
`claim_idle_seconds` to a live consumer. Applying is idempotent (the journal version only moves forward
and a trade's older versions are ignored), so a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from trademesh.kernel.events import STREAM, EventEnvelope
from trademesh.services.analytics.mapping import change_from_event
from trademesh.services.analytics.model import JournalChange
from trademesh.services.analytics.service import AnalyticsService

logger = logging.getLogger(__name__)

GROUP = "analytics"


class TradeEventConsumer:
    """Consume `trade-events` in the `analytics` group and apply each event to the journals."""

    def __init__(
        self,
        redis: Redis,
        service: AnalyticsService,
        *,
        consumer: str,
        block_seconds: float = 1.0,
        claim_idle_seconds: float = 30.0,
        batch_size: int = 5_000,
        stream: str = STREAM,
        group: str = GROUP,
    ) -> None:
        self._redis = redis
        self._service = service
        self._consumer = consumer
        self._block_ms = max(1, int(block_seconds * 1000))
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._batch = batch_size
        self._stream = stream
        self._group = group
        self._closed = False
        self.applied = 0

    async def ensure_group(self) -> None:
        """Create the consumer group (from the start of the retained stream) if it does not exist."""
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def close(self) -> None:
        """Ask `run` to return."""
        self._closed = True

    async def process(self, entries: list[tuple[Any, dict[bytes, bytes]]]) -> None:
        """Apply a batch of entries (grouped per user, one journal merge each), then acknowledge them all."""
        changes: list[JournalChange] = []
        for entry_id, fields in entries:
            if fields:
                envelope = EventEnvelope.decode(fields)
                change = None if envelope is None else change_from_event(envelope)
                if change is None:
                    logger.warning("skipping trade event %r that is not a journal change", entry_id)
                else:
                    changes.append(change)
        if changes:
            await self._service.apply_changes(changes)
            self.applied += len(changes)
        if entries:
            await self._redis.xack(self._stream, self._group, *(entry_id for entry_id, _ in entries))

    async def claim_stale(self) -> int:
        """Take over entries another consumer left pending (it crashed mid-batch) and apply them."""
        claimed = 0
        start = "0-0"
        while True:
            response: Any = await self._redis.xautoclaim(
                self._stream, self._group, self._consumer, self._claim_idle_ms, start_id=start, count=self._batch
            )
            start, entries = response[0], response[1]
            start = start.decode() if isinstance(start, bytes) else str(start)
            await self.process(entries)
            claimed += len(entries)
            if start == "0-0":
                return claimed

    async def poll(self) -> int:
        """Read and apply one batch of new entries (own pending ones first); return how many."""
        # "0" re-reads this consumer's own pending entries (a previous attempt failed mid-batch).
        for cursor in ("0", ">"):
            response: Any = await self._redis.xreadgroup(
                self._group,
                self._consumer,
                {self._stream: cursor},
                count=self._batch,
                block=None if cursor == "0" else self._block_ms,
            )
            entries = [entry for _, batch in response or () for entry in batch]
            if entries:
                await self.process(entries)
                return len(entries)
        return 0

    async def run(self) -> None:
        """Consume until closed; claim stale entries of dead consumers every `claim_idle_seconds`."""
        loop = asyncio.get_running_loop()
        next_claim = 0.0
        while not self._closed:
            try:
                await self.ensure_group()
                if loop.time() >= next_claim:
                    await self.claim_stale()
                    next_claim = loop.time() + self._claim_idle_ms / 1000
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("consuming trade events failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
