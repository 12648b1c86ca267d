"""MAE/MFE of round trips (decision 0270): the worst and best unrealized P&L while a position was open. Pure.

A round trip's size Q is the quantity it opened and its entry price E the quantity-weighted mean of its entry
prices; its price range is the lowest and highest traded price seen while it was open (ticks recorded live,
else 1-minute bars), widened to its own fill prices. Long: MAE = (low - E) x Q, MFE = (high - E) x Q; short:
MAE = (E - high) x Q, MFE = (E - low) x Q; MAE ≤ 0, MFE ≥ 0. Exact integers until one rounding (half away
from zero) per figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from trademesh.kernel.lots import divide_half_away
from trademesh.services.analytics.model.fills import QUANTITY_SCALE, Instrument
from trademesh.services.analytics.model.rmultiples import r_multiple_milli

#: Seconds of a 1-minute bar, in microseconds.
MINUTE_US = 60_000_000


class ExcursionQuality(IntEnum):
    """How a round trip's excursion was measured (the proto enum's values)."""

    EXACT = 1
    FROM_BARS = 2
    PARTIAL = 3
    UNAVAILABLE = 4


@dataclass(frozen=True, slots=True)
class TripShape:
    """What a round trip opened: its size and entry value (Σ quantity x price, scaled) and its fill prices."""

    quantity_micros: int
    entry_value_scaled: int
    low_fill_micros: int
    high_fill_micros: int


@dataclass(frozen=True, slots=True)
class PriceRange:
    """The lowest and highest traded price of a span of time, in INR micros."""

    low_micros: int
    high_micros: int

    def widen(self, other: PriceRange | None) -> PriceRange:
        """Return the range covering both."""
        if other is None:
            return self
        return PriceRange(min(self.low_micros, other.low_micros), max(self.high_micros, other.high_micros))


@dataclass(frozen=True, slots=True)
class Recording:
    """The live-tick extremes recorded for one open position (analytics' `analytics_excursions` document).

    `watch_from_us`: when recording began; `covered_until_us`: the last time a recorder confirmed it was
    listening; `gap`: some recorder found no confirmation for longer than the allowance; `closed_us`: when
    the recorder learnt that the position closed (None while open). `range` is None before any tick.
    """

    user_id: str
    instrument: Instrument
    open_time_us: int
    watch_from_us: int
    covered_until_us: int
    gap: bool
    closed_us: int | None
    range: PriceRange | None
    #: A result computed earlier from bars (quality FROM_BARS or PARTIAL) and kept, with its range.
    computed: tuple[ExcursionQuality, PriceRange] | None = None


@dataclass(frozen=True, slots=True)
class Bar:
    """One 1-minute bar's start and its high and low."""

    start_us: int
    low_micros: int
    high_micros: int


@dataclass(frozen=True, slots=True)
class BarWindow:
    """The bars of a holding period and the oldest bar market data still keeps (None: it keeps none)."""

    bars: tuple[Bar, ...]
    earliest_available_us: int | None


@dataclass(frozen=True, slots=True)
class Excursion:
    """A round trip's MAE/MFE (UNAVAILABLE: every figure 0 and the R figures None)."""

    quality: ExcursionQuality
    mae_micros: int = 0
    mfe_micros: int = 0
    mae_price_micros: int = 0
    mfe_price_micros: int = 0
    mae_r_milli: int | None = None
    mfe_r_milli: int | None = None
    range: PriceRange | None = None


UNAVAILABLE = Excursion(ExcursionQuality.UNAVAILABLE)


def trip_shape(fills: Iterable[tuple[bool, int, int]], long: bool) -> TripShape:
    """Return the shape of one round trip from its fills (buy, quantity micros, price micros) in order.

    The entry fills are those in the trip's direction; the first one may be a fill that crossed zero, in which
    case only the part that opened this trip is passed by the caller (see `model/trip_fills.py`).
    """
    quantity = value = 0
    low = high = None
    for buy, fill_quantity, price in fills:
        if buy == long:
            quantity += fill_quantity
            value += fill_quantity * price
        low = price if low is None else min(low, price)
        high = price if high is None else max(high, price)
    if low is None or high is None or quantity <= 0:
        raise ValueError("a round trip has at least one entry fill")
    return TripShape(quantity, value, low, high)


def excursion(
    long: bool, shape: TripShape, prices: PriceRange, quality: ExcursionQuality, risk_micros: int
) -> Excursion:
    """Return the excursion of a round trip over a price range (widened to its own fills)."""
    prices = prices.widen(PriceRange(shape.low_fill_micros, shape.high_fill_micros))
    quantity, value = shape.quantity_micros, shape.entry_value_scaled
    # Unrealized P&L at price X, scaled by QUANTITY_SCALE: long X·Q - V, short V - X·Q.
    if long:
        worst, best = prices.low_micros * quantity - value, prices.high_micros * quantity - value
    else:
        worst, best = value - prices.high_micros * quantity, value - prices.low_micros * quantity
    worst, best = min(0, worst), max(0, best)
    mae = divide_half_away(worst, QUANTITY_SCALE)
    mfe = divide_half_away(best, QUANTITY_SCALE)
    return Excursion(
        quality=quality,
        mae_micros=mae,
        mfe_micros=mfe,
        mae_price_micros=divide_half_away(worst, quantity),
        mfe_price_micros=divide_half_away(best, quantity),
        mae_r_milli=r_multiple_milli(mae, risk_micros) if risk_micros > 0 else None,
        mfe_r_milli=r_multiple_milli(mfe, risk_micros) if risk_micros > 0 else None,
        range=prices,
    )


def recording_is_exact(recording: Recording, open_time_us: int, close_time_us: int, allowance_us: int) -> bool:
    """Return whether a recording saw the whole holding period [open, close] (within the allowance)."""
    return (
        recording.range is not None
        and not recording.gap
        and recording.watch_from_us <= open_time_us + allowance_us
        and recording.closed_us is not None
        and recording.closed_us <= close_time_us + allowance_us
        and recording.covered_until_us >= close_time_us - allowance_us
    )


def minute_of(time_us: int) -> int:
    """Return the start of the minute holding `time_us`."""
    return time_us - time_us % MINUTE_US


def bar_range(window: BarWindow, open_time_us: int, close_time_us: int) -> tuple[PriceRange | None, bool]:
    """Return the bars' price range and whether they cover the holding period.

    Covered: market data still keeps the opening minute and has a bar for both the opening and the closing
    minute (bars exist only for minutes with a trade, so a missing end minute means missing data).
    """
    bars = [bar for bar in window.bars if minute_of(open_time_us) <= bar.start_us <= close_time_us]
    if not bars:
        return None, False
    prices = PriceRange(min(bar.low_micros for bar in bars), max(bar.high_micros for bar in bars))
    retained = window.earliest_available_us is not None and window.earliest_available_us <= minute_of(open_time_us)
    covered = retained and bars[0].start_us == minute_of(open_time_us) and bars[-1].start_us == minute_of(close_time_us)
    return prices, covered


def measure(
    long: bool,
    shape: TripShape,
    times: tuple[int, int],
    risk_micros: int,
    recording: Recording | None,
    bars: BarWindow | None,
    allowance_us: int,
) -> Excursion:
    """Return a closed round trip's excursion: EXACT from a full recording, else from bars, else UNAVAILABLE.

    `times` is (open, close). A stored bars result (`recording.computed`) is reused; without bars a partial
    recording still gives a PARTIAL lower bound.
    """
    open_time_us, close_time_us = times
    if (
        recording is not None
        and recording.range is not None
        and recording_is_exact(recording, open_time_us, close_time_us, allowance_us)
    ):
        return excursion(long, shape, recording.range, ExcursionQuality.EXACT, risk_micros)
    if recording is not None and recording.computed is not None:
        kept_quality, kept = recording.computed
        return excursion(long, shape, kept, kept_quality, risk_micros)
    from_bars, covered = bar_range(bars, open_time_us, close_time_us) if bars is not None else (None, False)
    if from_bars is not None and covered:
        return excursion(long, shape, from_bars, ExcursionQuality.FROM_BARS, risk_micros)
    seen = recording.range if recording is not None else None
    prices = seen.widen(from_bars) if seen is not None else from_bars
    if prices is None:
        return UNAVAILABLE
    return excursion(long, shape, prices, ExcursionQuality.PARTIAL, risk_micros)


@dataclass(frozen=True, slots=True)
class ExcursionStats:
    """The MAE/MFE summary of a period's round trips (see report.proto's ExcursionStats)."""

    measured_count: int
    unmeasured_count: int
    exact_count: int
    average_mae_micros: int | None
    average_mfe_micros: int | None
    measured_win_count: int
    left_on_table_count: int

    @property
    def left_on_table_percent(self) -> float | None:
        """Return the share of measured wins whose MFE was at least twice their net P&L, in percent."""
        if not self.measured_win_count:
            return None
        return self.left_on_table_count / self.measured_win_count * 100


def excursion_stats(
    measured: Sequence[tuple[Excursion, int]], unmeasured_count: int, tolerance_micros: int
) -> ExcursionStats:
    """Summarise (excursion, net P&L) pairs of measured round trips; wins are net > tolerance."""
    count = len(measured)
    wins = [(found, net) for found, net in measured if net > tolerance_micros]
    return ExcursionStats(
        measured_count=count,
        unmeasured_count=unmeasured_count,
        exact_count=sum(1 for found, _ in measured if found.quality == ExcursionQuality.EXACT),
        average_mae_micros=divide_half_away(sum(found.mae_micros for found, _ in measured), count) if count else None,
        average_mfe_micros=divide_half_away(sum(found.mfe_micros for found, _ in measured), count) if count else None,
        measured_win_count=len(wins),
        left_on_table_count=sum(1 for found, net in wins if found.mfe_micros >= 2 * net),
    )
