"""Analytics domain: a user's journal as FIFO round trips, IST periods, and the report (pure; no I/O).

The definitions are those written in `proto/trademesh/analytics/v1/report.proto` (the specification)
and summarised in this service's README. Money is exact: ints in INR micros, and realized P&L is kept
scaled (price micros x quantity micro-units) until one round trip's figure is reported. Floats appear
only where a ratio is formed. Times are ints: microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from itertools import accumulate
from operator import attrgetter

from trademesh.lots import InstrumentCycle, RoundTrip, divide_half_away
from trademesh.services.core.errors import FieldViolation, InvalidArgument

IST = timezone(timedelta(hours=5, minutes=30), "IST")
MICROS = 1_000_000
QUANTITY_SCALE = 1_000_000
SECOND_US = 1_000_000
HOUR_US = 3_600 * SECOND_US
DAY_US = 24 * HOUR_US
IST_OFFSET_US = 19_800 * SECOND_US
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
TRADING_DAYS_PER_YEAR = 252

DEFAULT_EQUITY_POINTS = 1_000
MIN_EQUITY_POINTS = 4
MAX_EQUITY_POINTS = 10_000
DEFAULT_INSTRUMENT_LIMIT = 5
MAX_INSTRUMENT_LIMIT = 50
MAX_CAPITAL_BASE_MICROS = 10**18
MAX_RISK_FREE_RATE_BPS = 2_000
MAX_BREAK_EVEN_TOLERANCE_MICROS = 10**11

#: Exchanges in the order of trademesh.common.v1.Exchange (ties "then exchange ascending").
EXCHANGE_RANK = {name: rank for rank, name in enumerate(("NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "BCD"), 1)}

Instrument = tuple[str, str]
"""An instrument key: (symbol, exchange name)."""


def instrument_order(instrument: Instrument) -> tuple[str, int]:
    """Return the sort key "symbol, then exchange ascending"."""
    return instrument[0], EXCHANGE_RANK.get(instrument[1], len(EXCHANGE_RANK) + 1)


def saturate(value: int) -> int:
    """Clamp an exact amount to the int64 range (the defined answer for astronomically large figures)."""
    return INT64_MAX if value > INT64_MAX else INT64_MIN if value < INT64_MIN else value


def ist_day(time_us: int) -> int:
    """Return the IST calendar day of an instant as days since 1970-01-01."""
    return (time_us + IST_OFFSET_US) // DAY_US


def day_start_us(day: int) -> int:
    """Return the instant 00:00 IST of a day number."""
    return day * DAY_US - IST_OFFSET_US


def day_date(day: int) -> date:
    """Return the calendar date of a day number."""
    return date.fromordinal(EPOCH_ORDINAL + day)


def to_micros(moment: datetime) -> int:
    """Return an aware datetime as epoch microseconds."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


class Category(StrEnum):
    """Holding-style category of a round trip (of its opening fill's trade)."""

    INTRADAY = "INTRADAY"
    SWING = "SWING"
    LONG_TERM = "LONG_TERM"
    UNCATEGORIZED = "UNCATEGORIZED"


class Period(StrEnum):
    """The window of a report."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"
    FINANCIAL_YEAR = "FINANCIAL_YEAR"
    ALL_TIME = "ALL_TIME"
    CUSTOM = "CUSTOM"


@dataclass(frozen=True, slots=True)
class JournalFill:
    """One ACTIVE trade of the journal as analytics needs it."""

    trade_id: str
    symbol: str
    exchange: str
    buy: bool
    quantity_micros: int
    price_micros: int
    fees_micros: int
    time_us: int
    #: Journal order among fills with the same time: (create time, trade id), as the trade service sorts.
    create_time_us: int
    category: Category
    #: The trade's version (events with an older or equal version are stale).
    trade_version: int = 1

    @property
    def order(self) -> tuple[int, int, str]:
        """Return the journal order key: execution time, then create time, then trade id."""
        return self.time_us, self.create_time_us, self.trade_id

    @property
    def instrument(self) -> Instrument:
        """Return the instrument key."""
        return self.symbol, self.exchange


@dataclass(frozen=True, slots=True)
class UserSettings:
    """A user's analytics inputs (defaults when never saved)."""

    capital_base_micros: int | None = None
    risk_free_rate_bps: int = 0
    break_even_tolerance_micros: int = 0
    etag: str = ""
    update_time_us: int | None = None


def check_settings(settings: UserSettings, prefix: str = "settings.") -> list[FieldViolation]:
    """Return one violation per out-of-range setting."""
    violations = []
    capital = settings.capital_base_micros
    if capital is not None and not 1 <= capital <= MAX_CAPITAL_BASE_MICROS:
        violations.append(FieldViolation(prefix + "capital_base_micros", "must be in [1, 10^18] when set"))
    if not 0 <= settings.risk_free_rate_bps <= MAX_RISK_FREE_RATE_BPS:
        violations.append(FieldViolation(prefix + "risk_free_rate_bps", "must be in [0, 2000]"))
    if not 0 <= settings.break_even_tolerance_micros <= MAX_BREAK_EVEN_TOLERANCE_MICROS:
        violations.append(FieldViolation(prefix + "break_even_tolerance_micros", "must be in [0, 10^11]"))
    return violations


_JOURNAL_ORDER = attrgetter("time_us", "create_time_us", "trade_id")


class Journal:
    """A user's fills in journal order and what FIFO matching made of them, kept up to date fill by fill.

    Columns (parallel lists) hold what reports read, so a report slices them by time with `bisect`
    instead of walking objects: fills by execution time, closed round trips in close order.
    """

    def __init__(self, fills: Iterable[JournalFill] = (), version: int = 0) -> None:
        self.version = version
        self._fills: dict[str, JournalFill] = {}
        for fill in fills:
            self._fills[fill.trade_id] = fill
        self._rebuild()

    def _rebuild(self) -> None:
        self.fills: list[JournalFill] = sorted(self._fills.values(), key=_JOURNAL_ORDER)
        self.cycles: dict[Instrument, InstrumentCycle[Instrument]] = {}
        self.round_trips: list[RoundTrip[Instrument]] = []
        self.fill_times: list[int] = []
        self.fill_instruments: list[Instrument] = []
        self.fill_fees: list[int] = []
        self.fill_values: list[int] = []
        self.trip_close_times: list[int] = []
        self.trip_nets: list[int] = []
        self.trip_grosses: list[int] = []
        self.trip_fees: list[int] = []
        self.trip_holds: list[int] = []
        self._append_all(self.fills, 0)

    def _append_all(self, fills: Sequence[JournalFill], first_sequence: int) -> None:
        # The hot loop of a recompute: locals bound once, no attribute lookups per fill beyond the fill's.
        cycles = self.cycles
        trips = self.round_trips
        add_time, add_instrument = self.fill_times.append, self.fill_instruments.append
        add_fee, add_value = self.fill_fees.append, self.fill_values.append
        add_trip = trips.append
        add_close, add_net = self.trip_close_times.append, self.trip_nets.append
        add_gross, add_trip_fee = self.trip_grosses.append, self.trip_fees.append
        add_hold = self.trip_holds.append
        for sequence, fill in enumerate(fills, first_sequence):
            instrument = (fill.symbol, fill.exchange)
            cycle = cycles.get(instrument)
            if cycle is None:
                cycle = cycles[instrument] = InstrumentCycle(instrument)
            time_us = fill.time_us
            trip = cycle.apply(
                fill.buy,
                fill.quantity_micros,
                fill.price_micros,
                fill.fees_micros,
                time_us,
                sequence,
                fill.trade_id,
                fill.category,
            )
            add_time(time_us)
            add_instrument(instrument)
            add_fee(fill.fees_micros)
            add_value(fill.quantity_micros * fill.price_micros)
            if trip is not None:
                add_trip(trip)
                add_close(time_us)
                gross = divide_half_away(trip.gross_scaled, QUANTITY_SCALE)
                add_gross(gross)
                add_trip_fee(trip.fees_micros)
                add_net(gross - trip.fees_micros)
                add_hold(time_us - trip.open_time)

    def upsert(self, fill: JournalFill) -> None:
        """Add or replace a fill: O(1) when it comes last in journal order, else a full rebuild."""
        known = self._fills.get(fill.trade_id)
        if known is not None and known.trade_version >= fill.trade_version:
            return
        self._fills[fill.trade_id] = fill
        if known is None and (not self.fills or fill.order >= self.fills[-1].order):
            self.fills.append(fill)
            self._append_all((fill,), len(self.fills) - 1)
        else:
            self._rebuild()

    def remove(self, trade_id: str, trade_version: int) -> None:
        """Drop a fill (deleted or purged trade), unless the journal already holds a newer version."""
        known = self._fills.get(trade_id)
        if known is None or known.trade_version > trade_version:
            return
        del self._fills[trade_id]
        self._rebuild()

    def trade_version(self, trade_id: str) -> int:
        """Return the version of a trade the journal reflects (0 when absent)."""
        known = self._fills.get(trade_id)
        return known.trade_version if known else 0

    def fill_range(self, start_us: int | None, end_us: int | None) -> tuple[int, int]:
        """Return the slice of fills executed in [start, end)."""
        times = self.fill_times
        return (
            0 if start_us is None else bisect_left(times, start_us),
            len(times) if end_us is None else bisect_left(times, end_us),
        )

    def trip_range(self, start_us: int | None, end_us: int | None) -> tuple[int, int]:
        """Return the slice of round trips closed in [start, end)."""
        times = self.trip_close_times
        return (
            0 if start_us is None else bisect_left(times, start_us),
            len(times) if end_us is None else bisect_left(times, end_us),
        )

    def open_cycles(self) -> list[InstrumentCycle[Instrument]]:
        """Return the open positions, ordered by symbol then exchange."""
        return sorted(
            (cycle for cycle in self.cycles.values() if cycle.position),
            key=lambda cycle: instrument_order(cycle.instrument),
        )


# ---------------------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A validated GetAnalytics request."""

    period: Period
    start_us: int | None
    end_us: int | None
    include_equity_curve: bool = False
    equity_curve_max_points: int = DEFAULT_EQUITY_POINTS
    include_daily_pnl: bool = False
    instrument_limit: int = DEFAULT_INSTRUMENT_LIMIT

    @property
    def cache_key(self) -> str:
        """Return a string naming everything the report depends on besides the journal and settings."""
        return (
            f"{self.period.value}:{self.start_us}:{self.end_us}:{int(self.include_equity_curve)}:"
            f"{self.equity_curve_max_points}:{int(self.include_daily_pnl)}:{self.instrument_limit}"
        )


def period_range(period: Period, reference_us: int) -> tuple[int | None, int | None]:
    """Return [start, end) of a calendar period containing the reference instant (IST boundaries)."""
    if period is Period.ALL_TIME:
        return None, None
    day = day_date(ist_day(reference_us))
    if period is Period.DAILY:
        first, last = day, day + timedelta(days=1)
    elif period is Period.WEEKLY:
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period is Period.MONTHLY:
        first = day.replace(day=1)
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    elif period is Period.YEARLY:
        first, last = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    elif period is Period.FINANCIAL_YEAR:
        year = day.year if day.month >= 4 else day.year - 1
        first, last = date(year, 4, 1), date(year + 1, 4, 1)
    else:
        raise ValueError(f"{period} has no calendar range")
    return day_start_us(first.toordinal() - EPOCH_ORDINAL), day_start_us(last.toordinal() - EPOCH_ORDINAL)


def build_query(
    period: Period | None,
    *,
    now_us: int,
    reference_us: int | None = None,
    custom_range: tuple[int | None, int | None] | None = None,
    include_equity_curve: bool = False,
    equity_curve_max_points: int = 0,
    include_daily_pnl: bool = False,
    instrument_limit: int = 0,
    min_journal_version: int = 0,
) -> ReportQuery:
    """Validate a report request and resolve its window; raise InvalidArgument naming each bad field."""
    if period is None:
        raise InvalidArgument("period is required", [FieldViolation("period", "must be set")], reason="INVALID_PERIOD")
    if period is Period.CUSTOM:
        violations = []
        if custom_range is None:
            violations.append(FieldViolation("custom_range", "required for PERIOD_CUSTOM"))
        else:
            if custom_range[0] is None:
                violations.append(FieldViolation("custom_range.start_time", "required"))
            if custom_range[1] is None:
                violations.append(FieldViolation("custom_range.end_time", "required"))
            if custom_range[0] is not None and custom_range[1] is not None and custom_range[1] <= custom_range[0]:
                violations.append(FieldViolation("custom_range.end_time", "must be after start_time"))
        if violations:
            raise InvalidArgument("invalid custom range", violations, reason="INVALID_TIME_RANGE")
        assert custom_range is not None
        start, end = custom_range
    elif custom_range is not None:
        raise InvalidArgument(
            "custom_range is only allowed with PERIOD_CUSTOM",
            [FieldViolation("custom_range", "must be unset unless period is PERIOD_CUSTOM")],
            reason="INVALID_TIME_RANGE",
        )
    else:
        start, end = period_range(period, now_us if reference_us is None else reference_us)
    limits = [
        FieldViolation(name, "must not be negative")
        for name, value in (
            ("equity_curve_max_points", equity_curve_max_points),
            ("instrument_limit", instrument_limit),
        )
        if value < 0
    ]
    if limits:
        raise InvalidArgument("invalid limits", limits, reason="INVALID_LIMIT")
    if min_journal_version < 0:
        raise InvalidArgument(
            "min_journal_version must not be negative",
            [FieldViolation("min_journal_version", "must not be negative")],
            reason="INVALID_JOURNAL_VERSION",
        )
    points = DEFAULT_EQUITY_POINTS if equity_curve_max_points == 0 else equity_curve_max_points
    limit = DEFAULT_INSTRUMENT_LIMIT if instrument_limit == 0 else min(instrument_limit, MAX_INSTRUMENT_LIMIT)
    return ReportQuery(
        period=period,
        start_us=start,
        end_us=end,
        include_equity_curve=include_equity_curve,
        equity_curve_max_points=min(max(points, MIN_EQUITY_POINTS), MAX_EQUITY_POINTS),
        include_daily_pnl=include_daily_pnl,
        instrument_limit=limit,
    )


# ---------------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True, slots=True)
class RoundTripStats:
    """Statistics over a set of round trips (see RoundTripStats in report.proto)."""

    round_trip_count: int = 0
    win_count: int = 0
    loss_count: int = 0
    break_even_count: int = 0
    win_rate_percent: float | None = None
    realized_pnl_micros: int = 0
    fees_micros: int = 0
    net_pnl_micros: int = 0
    gross_profit_micros: int = 0
    gross_loss_micros: int = 0
    profit_factor: float | None = None
    profit_factor_unbounded: bool = False
    expectancy_micros: int | None = None
    average_win_micros: int | None = None
    average_loss_micros: int | None = None
    largest_win_micros: int | None = None
    largest_loss_micros: int | None = None
    max_consecutive_wins: int = 0
    max_consecutive_losses: int = 0
    average_hold_us: int | None = None


EMPTY_STATS = RoundTripStats()


def round_trip_stats(
    nets: Sequence[int], grosses: Sequence[int], fees: Sequence[int], holds: Sequence[int], tolerance: int
) -> RoundTripStats:
    """Compute the statistics of round trips given in close order (parallel columns)."""
    count = len(nets)
    if count == 0:
        return EMPTY_STATS
    wins = [net for net in nets if net > tolerance]
    losses = [net for net in nets if net < -tolerance]
    win_streak = loss_streak = best_wins = best_losses = 0
    for net in nets:
        if net > tolerance:
            win_streak += 1
            loss_streak = 0
            if win_streak > best_wins:
                best_wins = win_streak
        elif net < -tolerance:
            loss_streak += 1
            win_streak = 0
            if loss_streak > best_losses:
                best_losses = loss_streak
        else:
            win_streak = loss_streak = 0
    gross_profit, gross_loss = sum(wins), sum(losses)
    decided = len(wins) + len(losses)
    realized, fee_total = sum(grosses), sum(fees)
    return RoundTripStats(
        round_trip_count=count,
        win_count=len(wins),
        loss_count=len(losses),
        break_even_count=count - decided,
        win_rate_percent=len(wins) * 100 / decided if decided else None,
        realized_pnl_micros=realized,
        fees_micros=fee_total,
        net_pnl_micros=realized - fee_total,
        gross_profit_micros=gross_profit,
        gross_loss_micros=gross_loss,
        profit_factor=gross_profit / -gross_loss if losses else None,
        profit_factor_unbounded=bool(wins) and not losses,
        expectancy_micros=divide_half_away(realized - fee_total, count),
        average_win_micros=divide_half_away(gross_profit, len(wins)) if wins else None,
        average_loss_micros=divide_half_away(gross_loss, len(losses)) if losses else None,
        largest_win_micros=max(wins) if wins else None,
        largest_loss_micros=min(losses) if losses else None,
        max_consecutive_wins=best_wins,
        max_consecutive_losses=best_losses,
        # Truncated to whole milliseconds, as the contract says.
        average_hold_us=sum(holds) // count // 1000 * 1000,
    )


@dataclass(frozen=True, slots=True)
class RiskMetrics:
    """Equity-curve and return based metrics of a period (see RiskMetrics in report.proto)."""

    max_drawdown_micros: int = 0
    max_drawdown_percent: float | None = None
    max_drawdown_peak_time_us: int | None = None
    max_drawdown_trough_time_us: int | None = None
    return_percent: float | None = None
    annualized_return_percent: float | None = None
    sharpe_ratio: float | None = None
    calmar_ratio: float | None = None
    calmar_ratio_unbounded: bool = False
    recovery_factor: float | None = None
    recovery_factor_unbounded: bool = False


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    """The fills of a period."""

    fill_count: int = 0
    trading_day_count: int = 0
    average_fills_per_trading_day: float | None = None
    average_round_trips_per_trading_day: float | None = None
    total_fees_micros: int = 0
    turnover_micros: int = 0
    symbols_traded: tuple[Instrument, ...] = ()
    most_traded_instrument: Instrument | None = None
    most_traded_instrument_fill_count: int = 0


@dataclass(frozen=True, slots=True)
class InstrumentPerformance:
    """One instrument's round trips and fills in the period."""

    instrument: Instrument
    stats: RoundTripStats
    fill_count: int


@dataclass(frozen=True, slots=True)
class DailyPnl:
    """One trading day of the period."""

    date: str
    net_pnl_micros: int
    round_trip_count: int
    win_count: int
    loss_count: int
    fill_count: int
    fees_micros: int
    return_percent: float | None


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The equity curve right after one round trip closed."""

    round_trip_index: int
    close_time_us: int
    instrument: Instrument
    round_trip_net_pnl_micros: int
    cumulative_net_pnl_micros: int
    drawdown_micros: int


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """The (possibly downsampled) equity curve of the period."""

    points: tuple[EquityPoint, ...]
    total_point_count: int
    downsampled: bool


@dataclass(frozen=True, slots=True)
class Mark:
    """The latest quote of an instrument, as a mark price."""

    last_price_micros: int
    previous_close_micros: int
    time_us: int | None
    stale: bool


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """An open round trip marked to the latest quote (see OpenPosition in position.proto)."""

    instrument: Instrument
    net_quantity: int
    average_open_price_micros: int
    open_time_us: int
    category: Category
    fees_micros: int
    realized_pnl_micros: int
    last_price_micros: int = 0
    mark_time_us: int | None = None
    mark_stale: bool = False
    unrealized_pnl_micros: int | None = None
    day_change_micros: int | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A user's analytics for one period."""

    query: ReportQuery
    computed_time_us: int
    journal_version: int
    settings: UserSettings
    performance: RoundTripStats
    risk: RiskMetrics
    activity: ActivitySummary
    by_category: tuple[tuple[Category, RoundTripStats], ...]
    top_instruments: tuple[InstrumentPerformance, ...]
    worst_instruments: tuple[InstrumentPerformance, ...]
    by_hour_of_day: tuple[RoundTripStats, ...]
    by_weekday: tuple[RoundTripStats, ...]
    by_month: tuple[RoundTripStats, ...]
    daily_pnl: tuple[DailyPnl, ...]
    equity_curve: EquityCurve | None
    open_positions: tuple[OpenPosition, ...]
    unrealized_pnl_micros: int
    unmarked_position_count: int


def open_position_quantity(position_micros: int) -> int:
    """Return a signed micro-unit position in whole units, magnitude rounded up (never 0 while open)."""
    units = -(-abs(position_micros) // QUANTITY_SCALE)
    return units if position_micros > 0 else -units


def mark_position(cycle: InstrumentCycle[Instrument], mark: Mark | None, today: int) -> OpenPosition:
    """Describe an open cycle, marked to `mark` (None: unmarked)."""
    long = cycle.position > 0
    position = OpenPosition(
        instrument=cycle.instrument,
        net_quantity=open_position_quantity(cycle.position),
        average_open_price_micros=cycle.average_open_price_micros,
        open_time_us=cycle.open_time,
        category=Category(cycle.category),
        fees_micros=cycle.fees_micros,
        realized_pnl_micros=divide_half_away(cycle.realized_scaled, QUANTITY_SCALE),
    )
    if mark is None or mark.last_price_micros <= 0:
        return position
    last = mark.last_price_micros
    unrealized = 0
    day_change: int | None = 0
    today_start = day_start_us(today)
    for lot in cycle.open_lots():
        unrealized += (last - lot.price_micros) * lot.quantity
        if day_change is not None:
            if lot.time >= today_start:
                day_change += (last - lot.price_micros) * lot.quantity
            elif mark.previous_close_micros > 0:
                day_change += (last - mark.previous_close_micros) * lot.quantity
            else:
                day_change = None
    sign = 1 if long else -1
    return OpenPosition(
        instrument=position.instrument,
        net_quantity=position.net_quantity,
        average_open_price_micros=position.average_open_price_micros,
        open_time_us=position.open_time_us,
        category=position.category,
        fees_micros=position.fees_micros,
        realized_pnl_micros=position.realized_pnl_micros,
        last_price_micros=last,
        mark_time_us=mark.time_us,
        mark_stale=mark.stale,
        unrealized_pnl_micros=divide_half_away(sign * unrealized, QUANTITY_SCALE),
        day_change_micros=None if day_change is None else divide_half_away(sign * day_change, QUANTITY_SCALE),
    )


def open_positions(journal: Journal, marks: Mapping[Instrument, Mark], now_us: int) -> tuple[OpenPosition, ...]:
    """Return every open position of the journal marked to `marks`, ordered by symbol then exchange."""
    today = ist_day(now_us)
    return tuple(mark_position(cycle, marks.get(cycle.instrument), today) for cycle in journal.open_cycles())


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator


def _downsample(count: int, keep: set[int], limit: int) -> list[int]:
    # Always keep first, last, peak and trough; fill the rest with evenly spaced indices.
    chosen = {0, count - 1} | keep
    room = limit - len(chosen)
    if room > 0:
        step = count / (room + 1)
        chosen.update(min(count - 1, int(step * (k + 1))) for k in range(room))
    return sorted(chosen)[:limit] if len(chosen) > limit else sorted(chosen)


def build_report(
    journal: Journal,
    query: ReportQuery,
    settings: UserSettings,
    now_us: int,
    marks: Mapping[Instrument, Mark],
) -> Report:
    """Compute the report of one period from the journal (pure; `marks` are the latest quotes)."""
    tolerance = settings.break_even_tolerance_micros
    capital = settings.capital_base_micros
    first, last = journal.trip_range(query.start_us, query.end_us)
    nets = journal.trip_nets[first:last]
    grosses = journal.trip_grosses[first:last]
    fees = journal.trip_fees[first:last]
    holds = journal.trip_holds[first:last]
    closes = journal.trip_close_times[first:last]
    trips = journal.round_trips[first:last]
    count = len(nets)
    performance = round_trip_stats(nets, grosses, fees, holds, tolerance)

    def bucket_stats(indices: list[int]) -> RoundTripStats:
        return round_trip_stats(
            [nets[i] for i in indices],
            [grosses[i] for i in indices],
            [fees[i] for i in indices],
            [holds[i] for i in indices],
            tolerance,
        )

    # Breakdowns: one pass to bucket round-trip indices, then the same statistics per bucket.
    by_category: dict[str, list[int]] = {category.value: [] for category in Category}
    by_hour: list[list[int]] = [[] for _ in range(24)]
    by_weekday: list[list[int]] = [[] for _ in range(7)]
    by_month: list[list[int]] = [[] for _ in range(12)]
    by_day: dict[int, list[int]] = {}
    instrument_nets: dict[Instrument, int] = {}
    instrument_trips: dict[Instrument, list[int]] = {}
    months: dict[int, int] = {}
    for index in range(count):
        trip = trips[index]
        local = closes[index] + IST_OFFSET_US
        day = local // DAY_US
        by_category[trip.category].append(index)
        by_hour[local // HOUR_US % 24].append(index)
        by_weekday[(day + 3) % 7].append(index)
        month = months.get(day)
        if month is None:
            month = months[day] = day_date(day).month
        by_month[month - 1].append(index)
        day_trips = by_day.get(day)
        if day_trips is None:
            by_day[day] = [index]
        else:
            day_trips.append(index)
        instrument = trip.instrument
        instrument_nets[instrument] = instrument_nets.get(instrument, 0) + nets[index]
        trips_of = instrument_trips.get(instrument)
        if trips_of is None:
            instrument_trips[instrument] = [index]
        else:
            trips_of.append(index)

    # Activity: the period's fills.
    fill_first, fill_last = journal.fill_range(query.start_us, query.end_us)
    fill_times = journal.fill_times[fill_first:fill_last]
    fill_instruments = journal.fill_instruments[fill_first:fill_last]
    fill_days = [(time + IST_OFFSET_US) // DAY_US for time in fill_times]
    day_fill_counts = Counter(fill_days)
    instrument_fill_counts = Counter(fill_instruments)
    fill_count = len(fill_times)
    trading_days = sorted(day_fill_counts)
    most_traded: Instrument | None = None
    most_traded_count = 0
    if instrument_fill_counts:
        most_traded_count = max(instrument_fill_counts.values())
        candidates = [inst for inst, n in instrument_fill_counts.items() if n == most_traded_count]
        if len(candidates) > 1:
            turnover_of: dict[Instrument, int] = dict.fromkeys(candidates, 0)
            for instrument, value in zip(fill_instruments, journal.fill_values[fill_first:fill_last], strict=True):
                if instrument in turnover_of:
                    turnover_of[instrument] += value
            candidates.sort(key=lambda inst: (-turnover_of[inst], *instrument_order(inst)))
        most_traded = candidates[0]
    day_count = len(trading_days)
    activity = ActivitySummary(
        fill_count=fill_count,
        trading_day_count=day_count,
        average_fills_per_trading_day=fill_count / day_count if day_count else None,
        average_round_trips_per_trading_day=count / day_count if day_count else None,
        total_fees_micros=saturate(sum(journal.fill_fees[fill_first:fill_last])),
        turnover_micros=saturate(divide_half_away(sum(journal.fill_values[fill_first:fill_last]), QUANTITY_SCALE)),
        symbols_traded=tuple(sorted(instrument_fill_counts, key=instrument_order)),
        most_traded_instrument=most_traded,
        most_traded_instrument_fill_count=most_traded_count,
    )

    # Top and worst instruments: rank on net P&L, then compute full statistics for the chosen few.
    def ranked(sign: int) -> tuple[InstrumentPerformance, ...]:
        chosen = sorted(
            (inst for inst, net in instrument_nets.items() if net * sign > 0),
            key=lambda inst: (-sign * instrument_nets[inst], -len(instrument_trips[inst]), *instrument_order(inst)),
        )[: query.instrument_limit]
        return tuple(
            InstrumentPerformance(inst, bucket_stats(instrument_trips[inst]), instrument_fill_counts.get(inst, 0))
            for inst in chosen
        )

    # Daily figures and returns; every round trip closes on a trading day (its closing fill's day).
    daily: list[DailyPnl] = []
    daily_returns: list[float] = []
    risk_free_daily = settings.risk_free_rate_bps / 10_000 / TRADING_DAYS_PER_YEAR
    if query.include_daily_pnl or capital is not None:
        day_fees: dict[int, int] = {}
        if query.include_daily_pnl:
            for day, fee in zip(fill_days, journal.fill_fees[fill_first:fill_last], strict=True):
                day_fees[day] = day_fees.get(day, 0) + fee
        for day in trading_days:
            indices = by_day.get(day, [])
            day_net = sum(nets[i] for i in indices)
            if capital is not None:
                daily_returns.append(day_net / capital - risk_free_daily)
            if query.include_daily_pnl:
                daily.append(
                    DailyPnl(
                        date=day_date(day).isoformat(),
                        net_pnl_micros=saturate(day_net),
                        round_trip_count=len(indices),
                        win_count=sum(1 for i in indices if nets[i] > tolerance),
                        loss_count=sum(1 for i in indices if nets[i] < -tolerance),
                        fill_count=day_fill_counts[day],
                        fees_micros=saturate(day_fees.get(day, 0)),
                        return_percent=day_net * 100 / capital if capital is not None else None,
                    )
                )

    # Equity curve and drawdown: E(k) cumulative net, P(k) = max(0, E(1..k)), D(k) = P(k) - E(k).
    equity = list(accumulate(nets))
    peaks = list(accumulate(equity, max, initial=0))[1:]
    max_drawdown = 0
    trough = -1
    for index in range(count):
        drawdown = peaks[index] - equity[index]
        if drawdown > max_drawdown:
            max_drawdown, trough = drawdown, index
    peak_index = -1
    if trough >= 0 and peaks[trough] > 0:
        peak_index = max(i for i in range(trough + 1) if equity[i] == peaks[trough])
    net_total = performance.net_pnl_micros
    drawdown_percent: float | None = None
    return_percent: float | None = None
    annualized: float | None = None
    if capital is not None:
        drawdown_percent = max(
            ((peak - value) * 100 / (capital + peak) for peak, value in zip(peaks, equity, strict=True)), default=0.0
        )
        return_percent = net_total * 100 / capital
        first_day = ist_day(query.start_us) if query.start_us is not None else None
        if first_day is None and journal.fill_times:
            first_day = ist_day(journal.fill_times[0])
        if first_day is not None:
            last_day = ist_day(now_us)
            if query.end_us is not None:
                last_day = min(last_day, ist_day(query.end_us - 1))
            period_days = max(1, last_day - first_day + 1)
            annualized = return_percent * 365 / period_days
    sharpe: float | None = None
    if len(daily_returns) >= 2:
        deviation = statistics.stdev(daily_returns)
        if deviation > 0:
            sharpe = statistics.fmean(daily_returns) / deviation * math.sqrt(TRADING_DAYS_PER_YEAR)
    calmar: float | None = None
    calmar_unbounded = False
    if count and annualized is not None and drawdown_percent is not None:
        if drawdown_percent > 0:
            calmar = annualized / drawdown_percent
        elif annualized > 0:
            calmar_unbounded = True
    risk = RiskMetrics(
        max_drawdown_micros=saturate(max_drawdown),
        max_drawdown_percent=drawdown_percent,
        max_drawdown_peak_time_us=closes[peak_index] if peak_index >= 0 else None,
        max_drawdown_trough_time_us=closes[trough] if trough >= 0 else None,
        return_percent=return_percent,
        annualized_return_percent=annualized,
        sharpe_ratio=sharpe,
        calmar_ratio=calmar,
        calmar_ratio_unbounded=calmar_unbounded,
        recovery_factor=_ratio(net_total, max_drawdown) if count and max_drawdown > 0 else None,
        recovery_factor_unbounded=bool(count) and max_drawdown == 0 and net_total > 0,
    )

    curve: EquityCurve | None = None
    if query.include_equity_curve:
        keep = {i for i in (trough, peak_index) if i >= 0}
        indices = (
            list(range(count))
            if count <= query.equity_curve_max_points
            else _downsample(count, keep, query.equity_curve_max_points)
        )
        curve = EquityCurve(
            points=tuple(
                EquityPoint(
                    round_trip_index=i + 1,
                    close_time_us=closes[i],
                    instrument=trips[i].instrument,
                    round_trip_net_pnl_micros=saturate(nets[i]),
                    cumulative_net_pnl_micros=saturate(equity[i]),
                    drawdown_micros=saturate(peaks[i] - equity[i]),
                )
                for i in indices
            ),
            total_point_count=count,
            downsampled=len(indices) < count,
        )

    positions = open_positions(journal, marks, now_us)
    marked = [p.unrealized_pnl_micros for p in positions if p.unrealized_pnl_micros is not None]
    return Report(
        query=query,
        computed_time_us=now_us,
        journal_version=journal.version,
        settings=settings,
        performance=performance,
        risk=risk,
        activity=activity,
        by_category=tuple((category, bucket_stats(by_category[category.value])) for category in Category),
        top_instruments=ranked(1),
        worst_instruments=ranked(-1),
        by_hour_of_day=tuple(bucket_stats(indices) for indices in by_hour),
        by_weekday=tuple(bucket_stats(indices) for indices in by_weekday),
        by_month=tuple(bucket_stats(indices) for indices in by_month),
        daily_pnl=tuple(daily),
        equity_curve=curve,
        open_positions=positions,
        unrealized_pnl_micros=saturate(sum(marked)),
        unmarked_position_count=len(positions) - len(marked),
    )


# ---------------------------------------------------------------------------------------------------
# Live P&L


@dataclass(frozen=True, slots=True)
class PnlTotals:
    """Live totals of a user (see PnlTotals in pnl.proto)."""

    trading_date: str
    realized_pnl_today_micros: int
    round_trips_closed_today: int
    fees_today_micros: int
    realized_pnl_all_time_micros: int
    unrealized_pnl_micros: int
    partially_realized_pnl_micros: int
    day_change_micros: int
    open_position_count: int
    unmarked_position_count: int


@dataclass(frozen=True, slots=True)
class PnlState:
    """What a WatchPnl message shows: totals and the open positions by instrument."""

    totals: PnlTotals
    positions: dict[Instrument, OpenPosition] = field(default_factory=dict)


def pnl_state(journal: Journal, marks: Mapping[Instrument, Mark], now_us: int) -> PnlState:
    """Compute the live P&L state of a journal marked to `marks`."""
    today = ist_day(now_us)
    start = day_start_us(today)
    end = start + DAY_US
    first, last = journal.trip_range(start, end)
    fill_first, fill_last = journal.fill_range(start, end)
    positions = open_positions(journal, marks, now_us)
    marked = [p for p in positions if p.unrealized_pnl_micros is not None]
    totals = PnlTotals(
        trading_date=day_date(today).isoformat(),
        realized_pnl_today_micros=saturate(sum(journal.trip_nets[first:last])),
        round_trips_closed_today=last - first,
        fees_today_micros=saturate(sum(journal.fill_fees[fill_first:fill_last])),
        realized_pnl_all_time_micros=saturate(sum(journal.trip_nets)),
        unrealized_pnl_micros=saturate(sum(p.unrealized_pnl_micros or 0 for p in marked)),
        partially_realized_pnl_micros=saturate(sum(p.realized_pnl_micros for p in positions)),
        day_change_micros=saturate(sum(p.day_change_micros or 0 for p in positions)),
        open_position_count=len(positions),
        unmarked_position_count=len(positions) - len(marked),
    )
    return PnlState(totals, {position.instrument: position for position in positions})
