"""What the market-data use cases need from the outside world: quote cache, tick hub, stream leases, bars, clock.

Quotes travel pre-encoded (see `mapping.EncodedQuote`): the ingest serialises a tick once per mode, and
fan-out concatenates those bytes. The ports therefore speak of a `WireQuote`, a quote that knows its
sequence and can hand out its serialised forms, without naming the protobuf types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from trademesh.kernel.errors import DomainError
from trademesh.services.marketdata.model import Bar, BarInterval, InstrumentKey, Mode, RawTick, Source
from trademesh.services.marketdata.model.watchlists import WatchlistBook


class WireQuote(Protocol):
    """One instrument's latest tick as it travels: its identity, freshness and serialised forms per mode."""

    @property
    def key(self) -> str:
        """Return the instrument, `EXCHANGE:SYMBOL`."""
        ...

    @property
    def sequence(self) -> int:
        """Return the tick's per-instrument sequence number."""
        ...

    @property
    def receive_time_ns(self) -> int:
        """Return when the ingest received the tick."""
        ...

    @property
    def changed(self) -> frozenset[Mode]:
        """Return the modes whose view this tick changed."""
        ...

    def body(self, mode: Mode) -> bytes:
        """Return the serialised quote for `mode`."""
        ...

    def entry(self, mode: Mode) -> bytes:
        """Return the quote for `mode` as one serialised element of a stream batch."""
        ...

    def with_stale(self, mode: Mode) -> bytes:
        """Return the batch element for `mode` with `stale` set."""
        ...


QuoteReader = Callable[[Sequence[str]], Awaitable[dict[str, WireQuote]]]


class QuoteCache(Protocol):
    """The latest quote of every instrument that has ticked (written by the ingest)."""

    async def get_many(self, instruments: Sequence[str]) -> dict[str, WireQuote]:
        """Return the latest quote of each instrument (`EXCHANGE:SYMBOL`) that has one."""
        ...


class TickSink(Protocol):
    """A consumer of ticks (one SubscribeQuotes stream), fed by the hub."""

    def deliver(self, update: WireQuote) -> None:
        """Take one tick of an instrument the sink subscribed to (must not block)."""

    def resnapshot(self) -> None:
        """Send a fresh snapshot: ticks may have been missed (backplane reconnected)."""

    def fail(self, error: DomainError) -> None:
        """End the stream with `error`."""


class QuoteStream(TickSink, Protocol):
    """One open quote stream: fed ticks by the hub, read message by message by the transport."""

    write_started: float | None
    """When the transport's write in progress started (loop time), None between writes."""

    def messages(self, read: QuoteReader) -> AsyncIterator[bytes]:
        """Yield the stream's serialised responses (snapshot first) until it fails or the caller stops."""
        ...

    def close(self) -> None:
        """Count the stream as ended."""


class StreamFactory(Protocol):
    """Open the state of a new stream."""

    def __call__(self, instruments: Sequence[str], mode: Mode, rate: int, *, expires_at: float | None) -> QuoteStream:
        """Return a stream of `instruments` in `mode` at `rate` updates/s per instrument, ending at `expires_at`."""
        ...


class TickHub(Protocol):
    """This replica's fan-in of published ticks, fanned out to its streams."""

    async def subscribe(self, instruments: Iterable[str], sink: TickSink) -> None:
        """Deliver the instruments' ticks to `sink` from now on (Unavailable when the backplane is down)."""

    async def unsubscribe(self, instruments: Iterable[str], sink: TickSink) -> None:
        """Stop delivering to `sink`."""


class StreamCounter(Protocol):
    """Each user's open streams, counted across every replica."""

    async def acquire(self, user: str, limit: int) -> tuple[str | None, int]:
        """Register a new stream; return (stream id, active count), or (None, active) at the limit."""
        ...

    async def release(self, stream_id: str) -> None:
        """Forget a stream that ended."""


class BarStore(Protocol):
    """Bars by instrument, interval and time: 1-minute bars and their exact 5-minute and IST-day roll-ups."""

    async def save(self, bars: Sequence[Bar]) -> None:
        """Upsert 1-minute bars (a later write of the same minute replaces the earlier one) and roll them up."""

    async def range(
        self,
        key: InstrumentKey,
        start_ns: int,
        end_ns: int,
        limit: int,
        interval: BarInterval = BarInterval.ONE_MINUTE,
    ) -> tuple[list[Bar], bool]:
        """Return up to `limit` bars with start in [start_ns, end_ns), oldest first, and whether more exist."""
        ...

    async def earliest(
        self, key: InstrumentKey, horizon_ns: int, now_ns: int, interval: BarInterval = BarInterval.ONE_MINUTE
    ) -> int | None:
        """Return the start of the oldest retained bar of `interval` at or after `horizon_ns`, or None."""
        ...


class Feed(Protocol):
    """A source of raw ticks, delivered in small batches."""

    source: Source

    def batches(self) -> AsyncIterator[list[RawTick]]:
        """Yield ticks as they arrive, a batch at a time, until closed."""
        ...

    @property
    def bad_frames(self) -> int:
        """Return how many malformed frames or ticks the feed itself dropped."""
        ...

    def close(self) -> None:
        """Stop the feed (its iterator ends)."""


class Clock(Protocol):
    """Wall-clock time."""

    def now_ns(self) -> int:
        """Return nanoseconds since the Unix epoch."""
        ...


class WatchlistStore(Protocol):
    """Each user's watchlist book, written only over the revision it was read at."""

    async def load(self, user_id: str) -> WatchlistBook:
        """Return the user's book (revision 0 and no lists when the user never saved one)."""
        ...

    async def save(self, book: WatchlistBook, expected_revision: int) -> bool:
        """Store `book` if the stored one is still at `expected_revision`; return False if it moved on."""
        ...
