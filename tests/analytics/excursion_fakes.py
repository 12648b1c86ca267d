"""In-memory fakes of the MAE/MFE ports (trademesh.services.analytics.excursion_ports), for fast use-case tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from trademesh.kernel.errors import Unavailable
from trademesh.services.analytics.excursion_ports import TickBatch
from trademesh.services.analytics.model import Instrument
from trademesh.services.analytics.model.excursions import BarWindow, ExcursionQuality, PriceRange, Recording

Key = tuple[str, Instrument, int]


class InMemoryExcursionStore:
    """The ExcursionStore port over a dict, with the same idempotent rules as the MongoDB adapter."""

    def __init__(self) -> None:
        self.recorded: dict[Key, Recording] = {}
        #: Per instrument: the current uninterrupted listening run (since, until).
        self.coverage: dict[Instrument, tuple[int, int]] = {}
        self.writes = 0

    async def track(
        self, user_id: str, open_positions: Sequence[tuple[Instrument, int]], now_us: int, allowance_us: int
    ) -> None:
        self.writes += 1
        keys = {(user_id, instrument, open_time) for instrument, open_time in open_positions}
        for key in keys:
            held = self.recorded.get(key)
            if held is None:
                self.recorded[key] = Recording(user_id, key[1], key[2], now_us, now_us, False, None, None)
            elif held.closed_us is not None:
                self.recorded[key] = replace(held, closed_us=None, gap=True)
        for key, held in list(self.recorded.items()):
            if key[0] == user_id and held.closed_us is None and key not in keys:
                run = self.coverage.get(held.instrument)
                gap = held.gap or run is None or run[0] > held.watch_from_us + allowance_us
                until = run[1] if run else 0
                self.recorded[key] = replace(held, closed_us=now_us, covered_until_us=until, gap=gap)

    async def open_instruments(self) -> set[Instrument]:
        return {held.instrument for held in self.recorded.values() if held.closed_us is None}

    async def record(self, batches: Sequence[TickBatch]) -> None:
        self.writes += 1
        for batch in batches:
            seen = PriceRange(batch.low_micros, batch.high_micros)
            for key, held in list(self.recorded.items()):
                if (
                    held.instrument == batch.instrument
                    and held.closed_us is None
                    and held.open_time_us <= batch.first_us
                ):
                    prices = seen if held.range is None else held.range.widen(seen)
                    self.recorded[key] = replace(held, range=prices)

    async def confirm(self, instruments: Iterable[Instrument], now_us: int, allowance_us: int) -> None:
        self.writes += 1
        for instrument in instruments:
            since, until = self.coverage.get(instrument, (now_us, now_us))
            if until < now_us - allowance_us:
                since = now_us
            if until < now_us - allowance_us // 2:
                until = now_us
            self.coverage[instrument] = (since, until)

    async def recordings(
        self, user_id: str, keys: Sequence[tuple[Instrument, int]]
    ) -> dict[tuple[Instrument, int], Recording]:
        return {
            (instrument, open_time): self.recorded[(user_id, instrument, open_time)]
            for instrument, open_time in keys
            if (user_id, instrument, open_time) in self.recorded
        }

    async def user_recordings(self, user_id: str) -> dict[tuple[Instrument, int], Recording]:
        return {
            (held.instrument, held.open_time_us): held
            for key, held in self.recorded.items()
            if key[0] == user_id and (held.range is not None or held.computed is not None)
        }

    async def keep_computed(
        self, user_id: str, key: tuple[Instrument, int], quality: ExcursionQuality, prices: PriceRange
    ) -> None:
        full = (user_id, *key)
        held = self.recorded.get(full) or Recording(user_id, key[0], key[1], 0, 0, True, 0, None)
        self.recorded[full] = replace(held, computed=(quality, prices))


class FakeTickFeed:
    """A TickFeed the test pushes ticks into."""

    def __init__(self) -> None:
        self.on_tick: Callable[[Instrument, int, int], None] | None = None
        self.watched: set[Instrument] = set()
        self.connected = True

    async def watch(self, instruments: set[Instrument]) -> None:
        self.watched = set(instruments)

    def listening(self) -> bool:
        return self.connected

    async def run(self) -> None:
        return None

    def close(self) -> None:
        return None

    def tick(self, instrument: Instrument, price_micros: int, time_us: int) -> None:
        if instrument in self.watched and self.on_tick is not None:
            self.on_tick(instrument, price_micros, time_us)


class InMemoryBarSource:
    """The BarSource port over a dict of instruments' bar windows; `down` makes it unavailable."""

    def __init__(self) -> None:
        self.windows: dict[Instrument, BarWindow] = {}
        self.calls: list[tuple[Instrument, int, int, str]] = []
        self.down = False

    async def bars(self, instrument: Instrument, start_us: int, end_us: int, authorization: str) -> BarWindow:
        self.calls.append((instrument, start_us, end_us, authorization))
        if self.down:
            raise Unavailable("market data down", reason="SERVICE_UNAVAILABLE")
        window = self.windows.get(instrument, BarWindow((), None))
        return BarWindow(
            tuple(bar for bar in window.bars if start_us <= bar.start_us < end_us), window.earliest_available_us
        )
