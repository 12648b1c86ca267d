"""The ports of MAE/MFE (decision 0270): recorded extremes, live ticks and stored bars, as Protocols.

Adapters: `excursion_store.py` (MongoExcursionStore), `tick_feed.py` (RedisTickFeed: the market-data tick
backplane), `bars.py` (GrpcBarSource: market data's GetBars); in-memory fakes in tests/analytics/excursion_fakes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from trademesh.services.analytics.model import Instrument
from trademesh.services.analytics.model.excursions import BarWindow, ExcursionQuality, PriceRange, Recording


@dataclass(frozen=True, slots=True)
class TickBatch:
    """The extremes of one instrument's ticks received in one flush interval (times: market data's receipt)."""

    instrument: Instrument
    low_micros: int
    high_micros: int
    first_us: int
    last_us: int


class ExcursionStore(Protocol):
    """Per open position (user, instrument, open time): the extremes of the traded prices seen while it is open.

    Every write is idempotent ($max/$min, set-on-insert), so replicas may repeat each other's writes.
    """

    async def track(
        self, user_id: str, open_positions: Sequence[tuple[Instrument, int]], now_us: int, allowance_us: int
    ) -> None:
        """Start recording the user's open positions (instrument, open time) not yet recorded, from `now_us`;
        close the user's other recorded positions at `now_us`, keeping how far their instrument's listening
        reached (`covered_until_us`) and a gap when it did not run without one since recording began."""
        ...

    async def open_instruments(self) -> set[Instrument]:
        """Return the instruments of every open recorded position (all users)."""
        ...

    async def record(self, batches: Sequence[TickBatch]) -> None:
        """Widen the range of every open position of each batch's instrument that was open for the whole batch."""
        ...

    async def confirm(self, instruments: Iterable[Instrument], now_us: int, allowance_us: int) -> None:
        """Record, per instrument, that its ticks were listened to until `now_us`; an instrument unconfirmed for
        longer than `allowance_us` starts a new uninterrupted run (positions recorded before it get a gap)."""
        ...

    async def recordings(
        self, user_id: str, keys: Sequence[tuple[Instrument, int]]
    ) -> dict[tuple[Instrument, int], Recording]:
        """Return the user's recordings of the given positions (instrument, open time) that exist."""
        ...

    async def user_recordings(self, user_id: str) -> dict[tuple[Instrument, int], Recording]:
        """Return every recording of the user that measured something (a range or a kept bars result)."""
        ...

    async def keep_computed(
        self, user_id: str, key: tuple[Instrument, int], quality: ExcursionQuality, prices: PriceRange
    ) -> None:
        """Keep a result computed from bars for a closed round trip (bars expire; the result need not)."""
        ...


class TickFeed(Protocol):
    """Live traded prices of chosen instruments (the market-data backplane)."""

    #: Called with (instrument, price micros, receipt time µs) for every tick of a watched instrument.
    on_tick: Callable[[Instrument, int, int], None] | None

    async def watch(self, instruments: set[Instrument]) -> None:
        """Receive the ticks of exactly these instruments from now on."""
        ...

    def listening(self) -> bool:
        """Return whether the feed is connected and subscribed (ticks are not being missed)."""
        ...

    async def run(self) -> None:
        """Read ticks until closed, reconnecting on failure."""
        ...

    def close(self) -> None:
        """Ask `run` to stop."""
        ...


class BarSource(Protocol):
    """Stored 1-minute bars of market data, read with the end user's own credentials."""

    async def bars(self, instrument: Instrument, start_us: int, end_us: int, authorization: str) -> BarWindow:
        """Return the bars starting in [start, end) and the oldest retained bar's start (Unavailable on failure)."""
        ...
