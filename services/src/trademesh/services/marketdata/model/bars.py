"""OHLCV bars: 1-minute bars built from quotes, and their exact 5-minute and IST-day roll-ups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum

from trademesh.kernel.calendar import IST
from trademesh.services.marketdata.model.instruments import InstrumentKey
from trademesh.services.marketdata.model.quotes import Quote
from trademesh.services.marketdata.model.session import MINUTE_NANOS, NANOS_PER_SECOND


class BarInterval(IntEnum):
    """Bar length (values equal the proto BarInterval numbers)."""

    UNSPECIFIED = 0
    ONE_MINUTE = 1
    FIVE_MINUTES = 2
    ONE_DAY = 3


FIVE_MINUTE_NANOS = 5 * MINUTE_NANOS
DAY_NANOS = 86400 * NANOS_PER_SECOND
#: IST is UTC+05:30 all year (no daylight saving), so an IST day is always 24 h long.
IST_OFFSET_NANOS = (5 * 60 + 30) * MINUTE_NANOS
SERVED_INTERVALS = (BarInterval.ONE_MINUTE, BarInterval.FIVE_MINUTES, BarInterval.ONE_DAY)


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


def interval_nanos(interval: BarInterval) -> int:
    """Return the length of one bar of `interval` (an IST day is always 24 h)."""
    if interval is BarInterval.FIVE_MINUTES:
        return FIVE_MINUTE_NANOS
    if interval is BarInterval.ONE_DAY:
        return DAY_NANOS
    return MINUTE_NANOS


def interval_floor(ns: int, interval: BarInterval) -> int:
    """Return the start of the bar of `interval` containing `ns`.

    Minutes and 5-minute windows are aligned to UTC, which is the same as IST alignment (the offset is
    a multiple of 5 minutes); a day bar starts at IST midnight (18:30 UTC of the day before).
    """
    if interval is BarInterval.ONE_DAY:
        local = ns + IST_OFFSET_NANOS
        return local - local % DAY_NANOS - IST_OFFSET_NANOS
    step = interval_nanos(interval)
    return ns - ns % step


def ist_day(ns: int) -> str:
    """Return the IST calendar day (YYYY-MM-DD) of `ns`."""
    return datetime.fromtimestamp(ns / NANOS_PER_SECOND, IST).strftime("%Y-%m-%d")


def roll_up(bars: Iterable[Bar], interval: BarInterval) -> list[Bar]:
    """Combine bars into bars of the longer `interval`, exactly: one per window that has any bar.

    open = first open, high = max, low = min, close = last close, volume = sum, open interest = last;
    `complete` only when every bar combined is complete (the service also settles a window by time).
    Bars of other instruments must not be mixed in; the input need not be sorted.
    """
    result: list[Bar] = []
    for bar in sorted(bars, key=lambda item: item.start_ns):
        start = interval_floor(bar.start_ns, interval)
        if result and result[-1].start_ns == start:
            window = result[-1]
            window.high_micros = max(window.high_micros, bar.high_micros)
            window.low_micros = min(window.low_micros, bar.low_micros)
            window.close_micros = bar.close_micros
            window.volume += bar.volume
            window.open_interest = bar.open_interest
            window.complete = window.complete and bar.complete
        else:
            result.append(replace(bar, start_ns=start))
    return result
