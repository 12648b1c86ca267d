"""WatchPnl: a user's live P&L, snapshot first, then throttled deltas as ticks and journal writes arrive.

Transport-free: it yields domain messages that the servicer maps to protos. Quotes come through the
`QuoteStream` port with the caller's own credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from trademesh.kernel.errors import ResourceExhausted, Unauthenticated, Unavailable
from trademesh.services.analytics.model import Instrument, Mark, OpenPosition, PnlState, PnlTotals, pnl_state
from trademesh.services.analytics.model.slices import Slice
from trademesh.services.analytics.ports import QuoteStream
from trademesh.services.analytics.service import AnalyticsService

logger = logging.getLogger(__name__)

VERSION_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class PnlUpdate:
    """A snapshot (every position) or a delta (changed positions and instruments that went flat)."""

    snapshot: bool
    totals: PnlTotals
    positions: tuple[OpenPosition, ...]
    closed_instruments: tuple[Instrument, ...]
    server_time_us: int
    journal_version: int
    effective_max_updates_per_second: int


@dataclass(frozen=True, slots=True)
class PnlHeartbeat:
    """Keeps an idle stream alive."""

    server_time_us: int
    journal_version: int


@dataclass(slots=True)
class _Stream:
    marks: dict[Instrument, Mark] = field(default_factory=dict)
    dirty: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set by the tick pump: wakes an idle stream at once (it would otherwise sleep until the next poll).
    ticked: asyncio.Event = field(default_factory=asyncio.Event)


class PnlWatcher:
    """Serve WatchPnl streams: per-user stream limits, throttling, heartbeats, re-snapshots."""

    def __init__(
        self,
        service: AnalyticsService,
        quotes: QuoteStream,
        *,
        net: bool = True,
        default_rate: int = 4,
        max_rate: int = 10,
        max_per_user: int = 5,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._service = service
        self._quotes = quotes
        self._default_rate = default_rate
        self._max_rate = max_rate
        self._max_per_user = max_per_user
        self._heartbeat = heartbeat_seconds
        #: False serves the gross figures only (the pre-0150 path; benchmarks compare against it).
        self._net = net
        self._active: dict[str, int] = {}
        self._streams: dict[str, list[_Stream]] = {}
        self.stopping: asyncio.Event | None = None
        service.listeners.append(self._journal_changed)

    def _journal_changed(self, user_id: str) -> None:
        for stream in self._streams.get(user_id, ()):
            stream.changed.set()

    def rate(self, requested: int) -> int:
        """Return the applied message rate: 0 → default, clamped to the maximum."""
        return self._default_rate if requested == 0 else min(requested, self._max_rate)

    async def watch(
        self,
        user_id: str,
        authorization: str,
        requested_rate: int,
        expires_at_us: int,
        chosen: Slice | None = None,
    ) -> AsyncIterator[PnlUpdate | PnlHeartbeat]:
        """Stream the user's P&L (of a slice's positions, decision 0250) until the token expires, the server
        drains or the client leaves."""
        active = self._active.get(user_id, 0)
        if active >= self._max_per_user:
            raise ResourceExhausted(
                "too many open WatchPnl streams",
                reason="TOO_MANY_STREAMS",
                metadata={"limit": str(self._max_per_user), "active": str(active)},
            )
        self._active[user_id] = active + 1
        stream = _Stream()
        self._streams.setdefault(user_id, []).append(stream)
        try:
            rate = self.rate(requested_rate)
            async for message in self._run(user_id, authorization, rate, expires_at_us, stream, chosen):
                yield message
        finally:
            self._active[user_id] -= 1
            if not self._active[user_id]:
                del self._active[user_id]
            self._streams[user_id].remove(stream)
            if not self._streams[user_id]:
                del self._streams[user_id]

    async def _run(
        self, user_id: str, authorization: str, rate: int, expires_at_us: int, stream: _Stream, chosen: Slice | None
    ) -> AsyncIterator[PnlUpdate | PnlHeartbeat]:
        interval = 1.0 / rate
        while True:
            # One epoch per snapshot: a journal change, a day rollover or a lost quote stream starts a new one.
            stream.changed.clear()
            journal = await self._service.journal(user_id)
            instruments = [cycle.instrument for cycle in journal.open_cycles()]
            stream.marks = {}
            known: set[Instrument] = set()
            if instruments:
                try:
                    stream.marks, known = await self._quotes.quotes(instruments, authorization)
                except Unavailable:
                    logger.warning("market data unavailable; positions start unmarked")
            # Net figures per position change (this epoch), not per tick: ticks only re-price the exit orders.
            net = await self._service.net_book(user_id, journal) if self._net else None
            state = pnl_state(journal, stream.marks, self._service.now(), net, chosen)
            yield self._update(True, state, state.positions.values(), (), journal.version, rate)
            last_sent = last_message = time.monotonic()
            next_version_check = last_sent + VERSION_POLL_SECONDS
            # Only instruments market data knows: one unknown instrument would fail the whole subscription.
            ticks = self._tick_task([i for i in instruments if i in known], authorization, rate, stream)
            try:
                while True:
                    now = time.monotonic()
                    wake = min(last_message + self._heartbeat, next_version_check)
                    if stream.dirty:
                        wake = min(wake, last_sent + interval)
                    await _wait_any((stream.changed, stream.ticked), max(0.0, wake - now))
                    stream.ticked.clear()
                    self._check_open(expires_at_us)
                    if ticks is not None and ticks.done():
                        error = ticks.exception() if not ticks.cancelled() else None
                        if isinstance(error, Unauthenticated):
                            raise error
                        logger.info("quote stream ended (%r); re-snapshotting", error)
                        await asyncio.sleep(min(1.0, self._heartbeat))
                        break
                    if stream.changed.is_set():
                        break
                    now = time.monotonic()
                    if now >= next_version_check:
                        next_version_check = now + VERSION_POLL_SECONDS
                        # Another replica may have applied this user's events: compare versions.
                        if await self._service.applied_version(user_id) > journal.version:
                            break
                    current_time = self._service.now()
                    if stream.dirty and now - last_sent >= interval:
                        stream.dirty = False
                        new_state = pnl_state(journal, stream.marks, current_time, net, chosen)
                        if new_state.totals.trading_date != state.totals.trading_date:
                            break
                        changed = [
                            position
                            for instrument, position in new_state.positions.items()
                            if state.positions.get(instrument) != position
                        ]
                        if changed or new_state.totals != state.totals:
                            state = new_state
                            yield self._update(False, state, changed, (), journal.version, rate)
                            last_sent = last_message = now
                    if now - last_message >= self._heartbeat:
                        yield PnlHeartbeat(current_time, journal.version)
                        last_message = now
            finally:
                if ticks is not None:
                    ticks.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await ticks

    def _check_open(self, expires_at_us: int) -> None:
        if self.stopping is not None and self.stopping.is_set():
            raise Unavailable("the server is shutting down; reconnect", reason="SERVER_DRAINING")
        if self._service.now() >= expires_at_us:
            raise Unauthenticated("the access token expired; refresh it and reconnect", reason="TOKEN_EXPIRED")

    def _tick_task(
        self, instruments: list[Instrument], authorization: str, rate: int, stream: _Stream
    ) -> asyncio.Task[None] | None:
        if not instruments:
            return None

        async def pump() -> None:
            async for batch in self._quotes.subscribe(instruments, authorization, rate):
                stream.marks.update(batch)
                stream.dirty = True
                stream.ticked.set()

        task = asyncio.create_task(pump())
        # Wake the stream loop when the quote stream fails, so it can re-snapshot or end.
        task.add_done_callback(lambda _: stream.changed.set() if not task.cancelled() else None)
        return task

    def _update(
        self,
        snapshot: bool,
        state: PnlState,
        positions: Iterable[OpenPosition],
        closed: tuple[Instrument, ...],
        version: int,
        rate: int,
    ) -> PnlUpdate:
        return PnlUpdate(
            snapshot=snapshot,
            totals=state.totals,
            positions=tuple(positions),
            closed_instruments=closed,
            server_time_us=self._service.now(),
            journal_version=version,
            effective_max_updates_per_second=rate,
        )


async def _wait_any(events: tuple[asyncio.Event, ...], seconds: float) -> None:
    """Wait until one of the events is set or `seconds` passed."""
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
