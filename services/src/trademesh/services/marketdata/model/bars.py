"""1-minute OHLCV bars built from quotes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum

from trademesh.services.marketdata.model.instruments import InstrumentKey
from trademesh.services.marketdata.model.quotes import Quote
from trademesh.services.marketdata.model.session import MINUTE_NANOS, NANOS_PER_SECOND


class BarInterval(IntEnum):
    """Bar length (values equal the proto BarInterval numbers); only one minute is served."""

    UNSPECIFIED = 0
    ONE_MINUTE = 1


@dataclass(slots=True)
class Bar:
    """One 1-minute OHLCV bar (volume = increase of the day's cumulative volume)."""

    key: InstrumentKey
    start_ns: int
    open_micros: int
    high_micros: int
    low_micros: int
    close_micros: int
    volume: int = 0
    open_interest: int = 0
    complete: bool = False


@dataclass(slots=True)
class _BarState:
    bar: Bar
    last_cumulative_volume: int


class BarAggregator:
    """Build 1-minute bars from quotes; a bar completes when its instrument's next minute begins.

    `add` returns the bars that completed; `flush_due(now)` also completes bars whose minute has
    ended without a newer tick, so quiet instruments' bars are not held open forever.
    """

    def __init__(self) -> None:
        self._open: dict[InstrumentKey, _BarState] = {}
        self._volumes: dict[InstrumentKey, int] = {}

    def add(self, quote: Quote) -> list[Bar]:
        """Fold one quote into its instrument's bar; return bars that completed."""
        timestamp = quote.exchange_time_ns or quote.receive_time_ns
        start = timestamp - timestamp % MINUTE_NANOS
        price = quote.last_price_micros
        previous_volume = self._volumes.get(quote.key)
        # The first tick seen carries the day's volume so far: only later increases belong to bars.
        traded = 0 if previous_volume is None else max(0, quote.volume - previous_volume)
        if previous_volume is None or quote.volume >= previous_volume:
            self._volumes[quote.key] = quote.volume
        completed: list[Bar] = []
        state = self._open.get(quote.key)
        if state is not None and state.bar.start_ns != start:
            if start < state.bar.start_ns:
                return completed  # out-of-order tick from an earlier minute: its bar is gone
            state.bar.complete = True
            completed.append(state.bar)
            state = None
        if state is None:
            bar = Bar(quote.key, start, price, price, price, price, traded, quote.open_interest)
            self._open[quote.key] = _BarState(bar, quote.volume)
        else:
            bar = state.bar
            bar.high_micros = max(bar.high_micros, price)
            bar.low_micros = min(bar.low_micros, price)
            bar.close_micros = price
            bar.volume += traded
            bar.open_interest = quote.open_interest
        return completed

    def flush_due(self, now_ns: int) -> list[Bar]:
        """Complete and return bars whose minute ended before `now_ns`."""
        current = now_ns - now_ns % MINUTE_NANOS
        completed = []
        for key, state in list(self._open.items()):
            if state.bar.start_ns < current:
                state.bar.complete = True
                completed.append(state.bar)
                del self._open[key]
        return completed

    def open_bars(self) -> list[Bar]:
        """Return copies of the running (incomplete) bars."""
        return [replace(state.bar) for state in self._open.values()]


def minute_floor(ns: int) -> int:
    """Return the start of the minute containing `ns`."""
    return ns - ns % MINUTE_NANOS


def utc_day(ns: int) -> str:
    """Return the UTC calendar day (YYYY-MM-DD) of `ns`; bars are stored one document per day."""
    return datetime.fromtimestamp(ns / NANOS_PER_SECOND, UTC).strftime("%Y-%m-%d")
