"""One SubscribeQuotes stream: snapshot, conflated batches, heartbeats, and its ways to end.

A stream is a `TickSink` of the replica's `TickHub`: the hub calls `deliver` synchronously for each
tick of the stream's instruments, which only stores the tick in the stream's conflation dict (the
bounded queue: one entry per instrument) and wakes the stream if it was idle. The stream's own
coroutine (the RPC handler) sends at most one batch per batching interval, respecting the
per-instrument rate; while the client is slow to read, `yield` waits and ticks keep conflating.
No task or timer exists per instrument, and a stream's work is proportional to its updates.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from trademesh.kernel.errors import DomainError, Unauthenticated
from trademesh.services.marketdata.mapping import (
    EncodedQuote,
    batch_response,
    heartbeat_response,
    quote_entry,
    quote_to_proto,
)
from trademesh.services.marketdata.model import (
    Mode,
    StreamConflator,
    StreamPolicy,
    batch_cadence,
    empty_quote,
    is_stale,
)
from trademesh.services.marketdata.ports import QuoteReader, WireQuote


class _WakeClock:
    """One timer per few milliseconds for all the streams of an event loop.

    Every stream sleeps between batches (8 times a second at 4 or 8 updates/s); a `call_later` per sleep
    costs a timer-heap push and pop, each a handful of Python-level comparisons, and with a
    thousand streams that was a noticeable share of the replica's loop. Deadlines are rounded up
    to the next `RESOLUTION` step, so a stream never wakes early (the rate cap holds) and at most
    one timer per step exists, whatever the number of streams.
    """

    RESOLUTION = 0.005

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    def wake(self, when: float, waiter: asyncio.Future[None]) -> None:
        slot = math.ceil(when / self.RESOLUTION)
        waiters = self._slots.get(slot)
        if waiters is None:
            waiters = self._slots[slot] = []
            self._loop.call_at(slot * self.RESOLUTION, self._fire, slot)
        waiters.append(waiter)

    def _fire(self, slot: int) -> None:
        for waiter in self._slots.pop(slot, ()):
            if not waiter.done():
                waiter.set_result(None)


_CLOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WakeClock] = weakref.WeakKeyDictionary()


def _clock(loop: asyncio.AbstractEventLoop) -> _WakeClock:
    clock = _CLOCKS.get(loop)
    if clock is None:
        clock = _CLOCKS[loop] = _WakeClock(loop)
    return clock


_COUNTS: dict[str, Callable[[QuoteStream], int]] = {
    "conflated": lambda stream: stream.conflator.conflated,
    "updates": lambda stream: stream.updates_sent,
    "messages": lambda stream: stream.messages_sent,
}


class _StreamTotals:
    """What the process's streams did, for the metrics: open streams plus the ones that ended."""

    def __init__(self) -> None:
        self.open: weakref.WeakSet[QuoteStream] = weakref.WeakSet()
        self.ended = dict.fromkeys(_COUNTS, 0)

    def close(self, stream: QuoteStream) -> None:
        if stream in self.open:
            self.open.discard(stream)
            for name, count in _COUNTS.items():
                self.ended[name] += count(stream)

    def total(self, name: str) -> int:
        count = _COUNTS[name]
        return self.ended[name] + sum(count(stream) for stream in list(self.open))


TOTALS = _StreamTotals()


def _observe(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(TOTALS.total(name))

    return observe


_meter = metrics.get_meter(__name__)
# Prometheus names: trademesh_marketdata_active_streams (the HPA's optional per-pod metric),
# trademesh_marketdata_conflated_updates_total, ..._updates_sent_total, ..._messages_sent_total.
_meter.create_observable_up_down_counter(
    "trademesh.marketdata.active_streams",
    [lambda options: [Observation(len(TOTALS.open))]],
    description="Open SubscribeQuotes streams in this replica.",
)
_meter.create_observable_counter(
    "trademesh.marketdata.conflated_updates",
    [_observe("conflated")],
    description="Ticks replaced by a newer one before they were sent (rate cap or slow client).",
)
_meter.create_observable_counter(
    "trademesh.marketdata.updates_sent", [_observe("updates")], description="Quotes sent on streams."
)
_meter.create_observable_counter(
    "trademesh.marketdata.messages_sent", [_observe("messages")], description="Stream messages sent."
)


class QuoteStream:
    """The state of one open stream."""

    conflator: StreamConflator
    messages_sent: int
    updates_sent: int

    def __init__(
        self,
        instruments: Sequence[str],
        mode: Mode,
        rate: int,
        policy: StreamPolicy,
        *,
        expires_at: float | None = None,
    ) -> None:
        self.instruments = list(instruments)
        self.mode = mode
        self.rate = rate
        self.conflator = StreamConflator(rate)
        self.messages_sent = 0
        self.updates_sent = 0
        #: When the write in progress started (loop time), None between writes: the servicer's
        #: slow-consumer watchdog reads it instead of arming a timeout per write.
        self.write_started: float | None = None
        TOTALS.open.add(self)
        self._policy = policy
        self._expires_at = expires_at
        self._cadence = batch_cadence(rate, policy.batch_interval)
        self._pending = self.conflator.pending  # the same dict for the stream's life (take empties it)
        self._waiter: asyncio.Future[None] | None = None
        self._want_data = False
        self._error: DomainError | None = None
        self._resnapshot = False
        # The newest quote the client holds per instrument, and which of them it holds as stale:
        # a feed that goes quiet in session sends no tick, so the stream itself re-sends the held
        # quote with `stale` flipped (same sequence), and flips it back when the session closes.
        self._held: dict[str, WireQuote] = {}
        self._held_stale: set[str] = set()

    # ---- TickSink (called by the hub, synchronously, per tick)

    def deliver(self, update: WireQuote) -> None:
        """Queue a tick (conflating an unsent older one of the same instrument)."""
        # Called for every tick times every stream that wants it (200,000 times a second in the
        # benchmark): keep it to a few dict operations.
        if self.mode not in update.changed:
            return
        pending = self._pending
        key = update.key
        if key in pending:
            self.conflator.conflated += 1
        pending[key] = update
        if self._want_data:
            self._want_data = False
            self._wake()

    def close(self) -> None:
        """Count the stream as ended (its totals stay in the process metrics)."""
        TOTALS.close(self)

    def resnapshot(self) -> None:
        """Send a fresh snapshot next."""
        self._resnapshot = True
        self._wake()

    def fail(self, error: DomainError) -> None:
        """End the stream with `error` at its next step."""
        if self._error is None:
            self._error = error
        self._wake()

    # ---- the stream's own coroutine

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _sleep(self, seconds: float, want_data: bool) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._want_data = want_data
        _clock(loop).wake(loop.time() + max(seconds, 0.0), waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            self._want_data = False

    async def _snapshot(self, read: QuoteReader) -> bytes:
        quotes = await read(self.instruments)
        now_ns = time.time_ns()
        policy = self._policy
        entries = []
        pending = self.conflator.pending
        self._held.clear()
        self._held_stale.clear()
        for instrument in self.instruments:
            quote = quotes.get(instrument)
            if quote is None:
                listed = policy.universe.get_by_name(instrument)
                message = quote_to_proto(empty_quote(listed, policy.source), self.mode)
                message.stale = is_stale(0, 0, now_ns, policy.session_policy, policy.stale_after)
                entries.append(quote_entry(message.SerializeToString()))
                continue
            held = pending.get(instrument)
            if isinstance(held, EncodedQuote) and held.sequence <= quote.sequence:
                del pending[instrument]  # already covered by the snapshot
            self._held[instrument] = quote
            if is_stale(quote.sequence, quote.receive_time_ns, now_ns, policy.session_policy, policy.stale_after):
                self._held_stale.add(instrument)
                entries.append(quote.with_stale(self.mode))
            else:
                entries.append(quote.entry(self.mode))
        self.messages_sent += 1
        return batch_response(
            entries, snapshot=True, server_time_ns=now_ns, conflated=self.conflator.conflated, rate=self.rate
        )

    def _stale_changes(self, now_ns: int) -> list[bytes]:
        """Return re-sent quotes whose `stale` flag changed since the client got them."""
        policy = self._policy
        pending = self.conflator.pending
        entries = []
        for key, quote in self._held.items():
            if key in pending:
                continue  # a fresh tick is about to be sent anyway
            stale = is_stale(quote.sequence, quote.receive_time_ns, now_ns, policy.session_policy, policy.stale_after)
            if stale and key not in self._held_stale:
                self._held_stale.add(key)
                entries.append(quote.with_stale(self.mode))
            elif not stale and key in self._held_stale:
                self._held_stale.discard(key)
                entries.append(quote.entry(self.mode))
        return entries

    async def messages(self, read: QuoteReader) -> AsyncIterator[bytes]:
        """Yield the stream's serialised responses until it fails (raises) or the caller stops."""
        loop = asyncio.get_running_loop()
        policy = self._policy
        yield await self._snapshot(read)
        last_sent = last_batch = loop.time()
        stale_check_at = last_sent + policy.stale_check_interval
        while True:
            if self._error is not None:
                raise self._error
            if self._expires_at is not None and time.time() >= self._expires_at:
                raise Unauthenticated("the access token of this stream expired", reason="TOKEN_EXPIRED")
            if self._resnapshot:
                self._resnapshot = False
                yield await self._snapshot(read)
                last_sent = last_batch = loop.time()
                continue
            now = loop.time()
            conflator = self.conflator
            if now >= stale_check_at:
                stale_check_at = now + policy.stale_check_interval
                changes = self._stale_changes(time.time_ns())
                if changes:
                    self.messages_sent += 1
                    self.updates_sent += len(changes)
                    yield batch_response(
                        changes,
                        snapshot=False,
                        server_time_ns=time.time_ns(),
                        conflated=conflator.conflated,
                        rate=self.rate,
                    )
                    last_sent = last_batch = loop.time()
                    continue
            if self._pending:
                due = last_batch + self._cadence
                if now >= due:
                    ready, retry_at = conflator.take(now)
                    if ready:
                        # The cadence counts from when the batch was cut, not from when the client
                        # took it: an instrument sent now is free again exactly some cadences later.
                        last_batch = now
                        mode = self.mode
                        held = self._held
                        for update in ready:
                            held[update.key] = update  # type: ignore[attr-defined,assignment]
                        held_stale = self._held_stale
                        if held_stale:  # those just got a fresh, non-stale quote
                            held_stale.difference_update(update.key for update in ready)  # type: ignore[attr-defined]
                        self.messages_sent += 1
                        self.updates_sent += len(ready)
                        yield batch_response(
                            [update.entry(mode) for update in ready],  # type: ignore[attr-defined]
                            snapshot=False,
                            server_time_ns=time.time_ns(),
                            conflated=conflator.conflated,
                            rate=self.rate,
                        )
                        last_sent = loop.time()
                        continue
                    due = retry_at if retry_at is not None else now + self._cadence
                await self._sleep(self._bounded(min(due, stale_check_at) - now), want_data=False)
            else:
                heartbeat_at = last_sent + policy.heartbeat
                if now >= heartbeat_at:
                    self.messages_sent += 1
                    yield heartbeat_response(time.time_ns(), conflator.conflated)
                    last_sent = loop.time()
                    continue
                await self._sleep(self._bounded(min(heartbeat_at, stale_check_at) - now), want_data=True)

    def _bounded(self, timeout: float) -> float:
        if self._expires_at is None:
            return timeout
        return min(timeout, self._expires_at - time.time() + 0.001)
