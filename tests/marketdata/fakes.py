"""In-memory fakes of the market-data ports, for use-case tests without Redis, MongoDB or gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from trademesh.kernel.errors import DomainError
from trademesh.services.marketdata.model import Bar, BarInterval, InstrumentKey, Mode, interval_floor, roll_up
from trademesh.services.marketdata.ports import QuoteReader, TickSink, WireQuote


@dataclass
class FakeQuote:
    """A cached quote: its bodies are labels naming instrument, sequence and mode."""

    key: str
    sequence: int
    receive_time_ns: int
    changed: frozenset[Mode] = frozenset(Mode)

    def body(self, mode: Mode) -> bytes:
        return f"{self.key}#{self.sequence}/{mode.name}".encode()

    def entry(self, mode: Mode) -> bytes:
        return b"entry:" + self.body(mode)

    def with_stale(self, mode: Mode) -> bytes:
        return b"stale:" + self.body(mode)


class InMemoryQuoteCache:
    """Latest quotes by instrument."""

    def __init__(self, *quotes: FakeQuote) -> None:
        self.quotes: dict[str, WireQuote] = {quote.key: quote for quote in quotes}

    async def get_many(self, instruments: Sequence[str]) -> dict[str, WireQuote]:
        return {name: self.quotes[name] for name in instruments if name in self.quotes}


class InMemoryTickHub:
    """Audiences by instrument."""

    def __init__(self) -> None:
        self.sinks: dict[str, set[TickSink]] = {}

    async def subscribe(self, instruments: Iterable[str], sink: TickSink) -> None:
        for name in instruments:
            self.sinks.setdefault(name, set()).add(sink)

    async def unsubscribe(self, instruments: Iterable[str], sink: TickSink) -> None:
        for name in instruments:
            sinks = self.sinks.get(name, set())
            sinks.discard(sink)
            if not sinks:
                self.sinks.pop(name, None)


class InMemoryStreamCounter:
    """Open streams per user."""

    def __init__(self) -> None:
        self.open: dict[str, str] = {}  # stream id -> user
        self._next = 0

    async def acquire(self, user: str, limit: int) -> tuple[str | None, int]:
        active = sum(1 for owner in self.open.values() if owner == user)
        if active >= limit:
            return None, active
        self._next += 1
        stream_id = f"s{self._next}"
        self.open[stream_id] = user
        return stream_id, active + 1

    async def release(self, stream_id: str) -> None:
        self.open.pop(stream_id, None)


@dataclass(eq=False)
class FakeStream:
    """A stream's state as the hub and the transport see it; records what it was opened with."""

    instruments: Sequence[str]
    mode: Mode
    rate: int
    expires_at: float | None
    write_started: float | None = None
    delivered: list[WireQuote] = field(default_factory=list)
    closed: bool = False

    def deliver(self, update: WireQuote) -> None:
        self.delivered.append(update)

    def resnapshot(self) -> None:
        pass

    def fail(self, error: DomainError) -> None:
        pass

    async def messages(self, read: QuoteReader) -> AsyncIterator[bytes]:
        quotes = await read(self.instruments)
        for name in self.instruments:
            quote = quotes.get(name)
            yield quote.entry(self.mode) if quote is not None else b"empty:" + name.encode()

    def close(self) -> None:
        self.closed = True


class FakeStreamFactory:
    """Open `FakeStream`s and remember them."""

    def __init__(self) -> None:
        self.opened: list[FakeStream] = []

    def __call__(self, instruments: Sequence[str], mode: Mode, rate: int, *, expires_at: float | None) -> FakeStream:
        stream = FakeStream(list(instruments), mode, rate, expires_at)
        self.opened.append(stream)
        return stream


class InMemoryBarStore:
    """Bars by instrument and start: 1-minute bars, and roll-ups kept apart (they outlive the minutes)."""

    def __init__(self) -> None:
        self.bars: dict[tuple[InstrumentKey, int], Bar] = {}
        self.rollups: dict[BarInterval, dict[tuple[InstrumentKey, int], Bar]] = {
            BarInterval.FIVE_MINUTES: {},
            BarInterval.ONE_DAY: {},
        }

    async def save(self, bars: Sequence[Bar]) -> None:
        for bar in bars:
            self.bars[(bar.key, bar.start_ns)] = bar
        for interval, stored in self.rollups.items():
            for key, start in {(bar.key, interval_floor(bar.start_ns, interval)) for bar in bars}:
                minutes = [
                    bar
                    for (owner, minute), bar in self.bars.items()
                    if owner == key and interval_floor(minute, interval) == start
                ]
                stored[(key, start)] = roll_up(minutes, interval)[0]

    def _table(self, interval: BarInterval) -> dict[tuple[InstrumentKey, int], Bar]:
        return self.bars if interval is BarInterval.ONE_MINUTE else self.rollups[interval]

    async def range(
        self,
        key: InstrumentKey,
        start_ns: int,
        end_ns: int,
        limit: int,
        interval: BarInterval = BarInterval.ONE_MINUTE,
    ) -> tuple[list[Bar], bool]:
        found = sorted(
            (
                bar
                for (owner, start), bar in self._table(interval).items()
                if owner == key and start_ns <= start < end_ns
            ),
            key=lambda bar: bar.start_ns,
        )
        return found[:limit], len(found) > limit

    async def earliest(
        self, key: InstrumentKey, horizon_ns: int, now_ns: int, interval: BarInterval = BarInterval.ONE_MINUTE
    ) -> int | None:
        starts = [start for (owner, start) in self._table(interval) if owner == key and horizon_ns <= start <= now_ns]
        return min(starts, default=None)


@dataclass
class FixedClock:
    """A clock that moves only when told."""

    now: int

    def now_ns(self) -> int:
        return self.now
