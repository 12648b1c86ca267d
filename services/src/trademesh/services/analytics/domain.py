"""Analytics domain: a user's journal as FIFO round trips, IST periods, and the report (pure; no I/O).

The definitions are those written in `proto/trademesh/analytics/v1/report.proto` (the specification)
and summarised in this service's README. Money is exact: ints in INR micros, and realized P&L is kept
scaled (price micros x quantity micro-units) until one round trip's figure is reported. Floats appear
only where a ratio is formed. Times are ints: microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.lots import InstrumentCycle, RoundTrip, divide_half_away
from trademesh.kernel.lots.columnar import PartColumns, TripColumns, match_round_trips

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
CATEGORIES = tuple(Category)
_CATEGORY_CODES = {category: code for code, category in enumerate(CATEGORIES)}
_FLOAT_LIMIT = float(2**62)

Column = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class FillColumns:
    """A journal's fills as columns (what the database adapter and recomputes work with)."""

    trade_ids: list[str]
    #: The distinct instruments; `instrument` holds each fill's index into this table.
    instrument_table: list[Instrument]
    instrument: npt.NDArray[np.int64]
    buy: npt.NDArray[np.bool_]
    quantity_micros: npt.NDArray[np.int64]
    price_micros: npt.NDArray[np.int64]
    fees_micros: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    create_time_us: npt.NDArray[np.int64]
    category: npt.NDArray[np.int8]
    trade_version: npt.NDArray[np.int64]

    @classmethod
    def of(cls, fills: Sequence[JournalFill]) -> FillColumns:
        """Return fills as columns."""
        table: dict[Instrument, int] = {}
        codes = [table.setdefault((f.symbol, f.exchange), len(table)) for f in fills]
        return cls(
            trade_ids=[f.trade_id for f in fills],
            instrument_table=list(table),
            instrument=np.array(codes, dtype=np.int64),
            buy=np.fromiter((f.buy for f in fills), dtype=np.bool_, count=len(fills)),
            quantity_micros=_ints([f.quantity_micros for f in fills]),
            price_micros=_ints([f.price_micros for f in fills]),
            fees_micros=_ints([f.fees_micros for f in fills]),
            time_us=np.array([f.time_us for f in fills], dtype=np.int64),
            create_time_us=np.array([f.create_time_us for f in fills], dtype=np.int64),
            category=np.array([_CATEGORY_CODES[f.category] for f in fills], dtype=np.int8),
            trade_version=np.array([f.trade_version for f in fills], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.trade_ids)

    def fill(self, index: int) -> JournalFill:
        """Return one fill as an object."""
        symbol, exchange = self.instrument_table[int(self.instrument[index])]
        return JournalFill(
            trade_id=self.trade_ids[index],
            symbol=symbol,
            exchange=exchange,
            buy=bool(self.buy[index]),
            quantity_micros=int(self.quantity_micros[index]),
            price_micros=int(self.price_micros[index]),
            fees_micros=int(self.fees_micros[index]),
            time_us=int(self.time_us[index]),
            create_time_us=int(self.create_time_us[index]),
            category=CATEGORIES[int(self.category[index])],
            trade_version=int(self.trade_version[index]),
        )

    def ordered(self) -> FillColumns:
        """Return the fills in journal order (time, create time, trade id)."""
        time, create = self.time_us, self.create_time_us
        if not np.any((time[1:] < time[:-1]) | ((time[1:] == time[:-1]) & (create[1:] <= create[:-1]))):
            return self  # already in journal order without ties (what the database adapter returns)
        order = np.lexsort((self.create_time_us, self.time_us))
        time, create = self.time_us[order], self.create_time_us[order]
        if np.any((time[1:] == time[:-1]) & (create[1:] == create[:-1])):
            # Full ties on (time, create time) are rare: break them by trade id in Python.
            order = np.array(
                sorted(range(len(self)), key=lambda i: (self.time_us[i], self.create_time_us[i], self.trade_ids[i])),
                dtype=np.int64,
            )
        elif np.all(order[1:] > order[:-1]):
            return self
        return self.take(order)

    def take(self, indices: npt.NDArray[np.int64]) -> FillColumns:
        """Return the fills at `indices`, in that order."""
        return FillColumns(
            trade_ids=[self.trade_ids[i] for i in indices.tolist()],
            instrument_table=self.instrument_table,
            instrument=self.instrument[indices],
            buy=self.buy[indices],
            quantity_micros=self.quantity_micros[indices],
            price_micros=self.price_micros[indices],
            fees_micros=self.fees_micros[indices],
            time_us=self.time_us[indices],
            create_time_us=self.create_time_us[indices],
            category=self.category[indices],
            trade_version=self.trade_version[indices],
        )


class FillColumnsBuilder:
    """Collect fills field by field (a database cursor's rows) into FillColumns without fill objects."""

    def __init__(self) -> None:
        self._table: dict[Instrument, int] = {}
        self._ids: list[str] = []
        self._codes: list[int] = []
        self._buy: list[bool] = []
        self._quantity: list[int] = []
        self._price: list[int] = []
        self._fees: list[int] = []
        self._time: list[int] = []
        self._create: list[int] = []
        self._category: list[int] = []
        self._version: list[int] = []

    def add(
        self,
        trade_id: str,
        instrument: Instrument,
        buy: bool,
        quantity_micros: int,
        price_micros: int,
        fees_micros: int,
        time_us: int,
        create_time_us: int,
        category: Category,
        trade_version: int,
    ) -> None:
        """Add one fill."""
        table = self._table
        self._ids.append(trade_id)
        self._codes.append(table.setdefault(instrument, len(table)))
        self._buy.append(buy)
        self._quantity.append(quantity_micros)
        self._price.append(price_micros)
        self._fees.append(fees_micros)
        self._time.append(time_us)
        self._create.append(create_time_us)
        self._category.append(_CATEGORY_CODES[category])
        self._version.append(trade_version)

    def build(self) -> FillColumns:
        """Return the collected fills as columns."""
        return FillColumns(
            trade_ids=self._ids,
            instrument_table=list(self._table),
            instrument=np.array(self._codes, dtype=np.int64),
            buy=np.array(self._buy, dtype=np.bool_),
            quantity_micros=_ints(self._quantity),
            price_micros=_ints(self._price),
            fees_micros=_ints(self._fees),
            time_us=np.array(self._time, dtype=np.int64),
            create_time_us=np.array(self._create, dtype=np.int64),
            category=np.array(self._category, dtype=np.int8),
            trade_version=np.array(self._version, dtype=np.int64),
        )


def _ints(values: list[int]) -> npt.NDArray[Any]:
    # int64 when every value fits; exact Python ints (object) for the astronomically large.
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array(values, dtype=object)


@dataclass(slots=True)
class _Columns:
    """Growable columns: a NumPy base (from a rebuild) plus a Python tail (incremental appends)."""

    names: tuple[str, ...]
    base: dict[str, Column] = field(default_factory=dict)
    tail: dict[str, list[int]] = field(default_factory=dict)
    _view: dict[str, Column] | None = None

    def __post_init__(self) -> None:
        self.tail = {name: [] for name in self.names}

    def append(self, **values: int) -> None:
        for name, value in values.items():
            self.tail[name].append(value)
        self._view = None

    def view(self) -> dict[str, Column]:
        if self._view is None:
            view = {}
            for name in self.names:
                base = self.base.get(name, np.zeros(0, dtype=np.int64))
                tail = self.tail[name]
                if tail:
                    dtype = base.dtype if base.dtype == object or len(base) else np.int64
                    view[name] = np.concatenate((base, np.array(tail, dtype=dtype)))
                else:
                    view[name] = base
            self._view = view
        return self._view

    def __len__(self) -> int:
        first = self.names[0]
        return len(self.base.get(first, ())) + len(self.tail[first])


_FILL_COLUMNS = ("time", "instrument", "fees", "value")
_TRIP_COLUMNS = (
    "close_time",
    "net",
    "gross",
    "fees",
    "hold",
    "instrument",
    "category",
    "open_time",
    "long",
    "close_fill",
    "open_fill",
    "fill_count",
)


class Journal:
    """A user's fills in journal order and what FIFO matching made of them, kept up to date fill by fill.

    A rebuild matches the whole journal at once (NumPy, `trademesh.kernel.lots.columnar`, when the exactness
    guard holds; the pure-Python engine otherwise); a fill that comes last in journal order is then applied
    in O(1) with `InstrumentCycle`. Reports read columns: fills by execution time, closed round trips in
    close order, so a period is a `searchsorted` slice. Money columns are int64, or exact Python ints
    (object) when amounts could overflow int64.
    """

    def __init__(
        self, fills: Iterable[JournalFill] | FillColumns = (), version: int = 0, *, vectorized: bool = True
    ) -> None:
        """Match `fills` (any order); `vectorized=False` forces the pure-Python engine (tests, benchmarks)."""
        self.version = version
        self._vectorized = vectorized
        columns = fills if isinstance(fills, FillColumns) else FillColumns.of(list(fills))
        self._rebuild(columns.ordered())

    # -- building ----------------------------------------------------------------------------------

    def _rebuild(self, columns: FillColumns) -> None:
        self._base = columns
        self._tail_fills: list[JournalFill] = []
        self._index: dict[str, tuple[int, int]] | None = None
        self.instruments: list[Instrument] = []
        self._codes: dict[Instrument, int] = {}
        self.cycles: dict[Instrument, InstrumentCycle[Instrument]] = {}
        self._fills = _Columns(_FILL_COLUMNS)
        self._trips = _Columns(_TRIP_COLUMNS)
        self._value_scale = QUANTITY_SCALE
        self._exact_int64 = False
        self._sums = [0.0, 0.0, 0.0]
        self._openers_base: list[str] | None = None
        self._openers_tail: list[str] = []
        for instrument in columns.instrument_table:
            self._code(instrument)
        codes = columns.instrument
        matched = None
        if self._vectorized and object not in (columns.quantity_micros.dtype, columns.price_micros.dtype):
            matched = match_round_trips(
                codes,
                columns.buy,
                columns.quantity_micros,
                columns.price_micros,
                columns.fees_micros,
                columns.time_us,
            )
        if matched is None:
            self._build_python(columns)
        else:
            self._build_columnar(columns, codes, *matched)

    def _code(self, instrument: Instrument) -> int:
        code = self._codes.get(instrument)
        if code is None:
            code = self._codes[instrument] = len(self.instruments)
            self.instruments.append(instrument)
            self.cycles[instrument] = InstrumentCycle(instrument)
        return code

    def _build_columnar(
        self, columns: FillColumns, codes: npt.NDArray[np.int64], trips: TripColumns, parts: PartColumns
    ) -> None:
        self._exact_int64 = True
        self._value_scale = 1
        units = columns.quantity_micros // QUANTITY_SCALE
        self._sums = [
            float(np.dot(units.astype(np.float64), columns.price_micros.astype(np.float64))),
            float(units.astype(np.float64).sum()),
            float(columns.fees_micros.astype(np.float64).sum()),
        ]
        self._fills.base = {
            "time": columns.time_us,
            "instrument": codes,
            "fees": columns.fees_micros,
            "value": units * columns.price_micros,
        }
        closed = np.flatnonzero(trips.closed)
        closed = closed[np.argsort(trips.close_fill[closed], kind="stable")]
        gross = trips.gross_micros[closed]
        fees = trips.fees_micros[closed]
        self._trips.base = {
            "close_time": trips.close_time[closed],
            "net": gross - fees,
            "gross": gross,
            "fees": fees,
            "hold": trips.close_time[closed] - trips.open_time[closed],
            "instrument": trips.instrument[closed],
            "category": columns.category[trips.open_fill[closed]].astype(np.int64),
            "open_time": trips.open_time[closed],
            "long": trips.long[closed].astype(np.int64),
            "close_fill": trips.close_fill[closed],
            "open_fill": trips.open_fill[closed],
            "fill_count": trips.fill_count[closed],
        }
        # Replay each instrument's still-open cycle through the FIFO engine to know its lots.
        for trip in np.flatnonzero(~trips.closed).tolist():
            instrument = self.instruments[int(trips.instrument[trip])]
            cycle = self.cycles[instrument]
            opening = int(trips.open_fill[trip])
            for part in range(int(trips.first_part[trip]), int(trips.last_part[trip]) + 1):
                fill = int(parts.fill[part])
                cycle.apply(
                    bool(parts.buy[part]),
                    int(parts.quantity_micros[part]),
                    int(columns.price_micros[fill]),
                    int(parts.fees_micros[part]),
                    int(columns.time_us[fill]),
                    fill,
                    columns.trade_ids[opening],
                    CATEGORIES[int(columns.category[opening])].value,
                )

    def _build_python(self, columns: FillColumns) -> None:
        self._exact_int64 = False
        self._value_scale = QUANTITY_SCALE
        for index in range(len(columns)):
            self._apply(columns.fill(index), index)
        # Money may exceed int64 here: keep exact Python ints.
        for store in (self._fills, self._trips):
            store.base = {name: np.array(values, dtype=object) for name, values in store.tail.items()}
            store.base["time" if store is self._fills else "close_time"] = np.array(
                store.tail["time" if store is self._fills else "close_time"], dtype=np.int64
            )
            store.tail = {name: [] for name in store.names}
            store._view = None
        self._openers_base, self._openers_tail = self._openers_tail, []

    def _apply(self, fill: JournalFill, sequence: int) -> None:
        instrument = (fill.symbol, fill.exchange)
        code = self._code(instrument)
        trip = self.cycles[instrument].apply(
            fill.buy,
            fill.quantity_micros,
            fill.price_micros,
            fill.fees_micros,
            fill.time_us,
            sequence,
            fill.trade_id,
            fill.category.value,
        )
        value = fill.quantity_micros * fill.price_micros
        self._fills.append(
            time=fill.time_us,
            instrument=code,
            fees=fill.fees_micros,
            value=value // (QUANTITY_SCALE // self._value_scale),
        )
        if trip is not None:
            gross = divide_half_away(trip.gross_scaled, QUANTITY_SCALE)
            self._trips.append(
                close_time=trip.close_time,
                net=gross - trip.fees_micros,
                gross=gross,
                fees=trip.fees_micros,
                hold=trip.close_time - trip.open_time,
                instrument=code,
                category=_CATEGORY_CODES[Category(trip.category)],
                open_time=trip.open_time,
                long=int(trip.long),
                close_fill=sequence,
                open_fill=-1,
                fill_count=trip.fill_count,
            )
            self._openers_tail.append(trip.opening_trade_id)

    # -- changes -----------------------------------------------------------------------------------

    def _all_fills(self) -> list[JournalFill]:
        return [self._base.fill(i) for i in range(len(self._base))] + self._tail_fills

    def _known(self, trade_id: str) -> JournalFill | None:
        if self._index is None:
            self._index = {trade_id: (0, i) for i, trade_id in enumerate(self._base.trade_ids)}
            self._index.update({f.trade_id: (1, i) for i, f in enumerate(self._tail_fills)})
        where = self._index.get(trade_id)
        if where is None:
            return None
        return self._base.fill(where[1]) if where[0] == 0 else self._tail_fills[where[1]]

    def _last_order(self) -> tuple[int, int, str] | None:
        if self._tail_fills:
            return self._tail_fills[-1].order
        if len(self._base):
            last = len(self._base) - 1
            return int(self._base.time_us[last]), int(self._base.create_time_us[last]), self._base.trade_ids[last]
        return None

    def upsert(self, fill: JournalFill) -> None:
        """Add or replace a fill: O(1) when it comes last in journal order, else a full rebuild."""
        known = self._known(fill.trade_id)
        if known is not None and known.trade_version >= fill.trade_version:
            return
        last = self._last_order()
        if known is None and (last is None or fill.order >= last) and self._fits(fill):
            assert self._index is not None
            self._index[fill.trade_id] = (1, len(self._tail_fills))
            self._tail_fills.append(fill)
            self._apply(fill, len(self._fills))
            return
        fills = [f for f in self._all_fills() if f.trade_id != fill.trade_id]
        fills.append(fill)
        self._rebuild(FillColumns.of(fills).ordered())

    def _fits(self, fill: JournalFill) -> bool:
        # An appended fill must keep the int64 columns exact; otherwise rebuild (which may fall back).
        if not self._exact_int64:
            return True
        if fill.quantity_micros % QUANTITY_SCALE:
            return False
        units = fill.quantity_micros // QUANTITY_SCALE
        self._sums[0] += float(units) * fill.price_micros
        self._sums[1] += float(units)
        self._sums[2] += float(fill.fees_micros)
        return max(self._sums) < _FLOAT_LIMIT and 2.0 * fill.fees_micros * units < _FLOAT_LIMIT

    def remove(self, trade_id: str, trade_version: int) -> None:
        """Drop a fill (deleted or purged trade), unless the journal already holds a newer version."""
        known = self._known(trade_id)
        if known is None or known.trade_version > trade_version:
            return
        self._rebuild(FillColumns.of([f for f in self._all_fills() if f.trade_id != trade_id]).ordered())

    def trade_version(self, trade_id: str) -> int:
        """Return the version of a trade the journal reflects (0 when absent)."""
        known = self._known(trade_id)
        return known.trade_version if known else 0

    # -- reading -----------------------------------------------------------------------------------

    @property
    def fill_count(self) -> int:
        """Return the number of fills."""
        return len(self._fills)

    @property
    def round_trip_count(self) -> int:
        """Return the number of closed round trips."""
        return len(self._trips)

    @property
    def fills(self) -> list[JournalFill]:
        """Return the fills in journal order (builds objects: for tests and small journals)."""
        return self._all_fills()

    def fill_columns(self) -> dict[str, Column]:
        """Return the fill columns in journal order: time, instrument (code), fees, value."""
        return self._fills.view()

    @property
    def value_scale(self) -> int:
        """Return the divisor turning the `value` column into INR micros."""
        return self._value_scale

    def trip_columns(self) -> dict[str, Column]:
        """Return the closed round trips' columns in close order."""
        return self._trips.view()

    @property
    def round_trips(self) -> list[RoundTrip[Instrument]]:
        """Return the closed round trips in close order as objects (for tests and small journals)."""
        columns = self.trip_columns()
        in_base = len(self._trips.base.get("close_time", ()))
        trips = []
        for index in range(len(self._trips)):
            if index >= in_base:
                opener = self._openers_tail[index - in_base]
            elif self._openers_base is not None:
                opener = self._openers_base[index]
            else:
                opener = self._base.trade_ids[int(columns["open_fill"][index])]
            trips.append(
                RoundTrip(
                    instrument=self.instruments[int(columns["instrument"][index])],
                    long=bool(columns["long"][index]),
                    opening_trade_id=opener,
                    category=CATEGORIES[int(columns["category"][index])].value,
                    open_time=int(columns["open_time"][index]),
                    close_time=int(columns["close_time"][index]),
                    close_sequence=int(columns["close_fill"][index]),
                    gross_scaled=int(columns["gross"][index]) * QUANTITY_SCALE,
                    fees_micros=int(columns["fees"][index]),
                    fill_count=int(columns["fill_count"][index]),
                )
            )
        return trips

    def fill_range(self, start_us: int | None, end_us: int | None) -> tuple[int, int]:
        """Return the slice of fills executed in [start, end)."""
        return _time_range(self.fill_columns()["time"], start_us, end_us)

    def trip_range(self, start_us: int | None, end_us: int | None) -> tuple[int, int]:
        """Return the slice of round trips closed in [start, end)."""
        return _time_range(self.trip_columns()["close_time"], start_us, end_us)

    def open_cycles(self) -> list[InstrumentCycle[Instrument]]:
        """Return the open positions, ordered by symbol then exchange."""
        return sorted(
            (cycle for cycle in self.cycles.values() if cycle.position),
            key=lambda cycle: instrument_order(cycle.instrument),
        )


def _time_range(times: Column, start_us: int | None, end_us: int | None) -> tuple[int, int]:
    return (
        0 if start_us is None else int(np.searchsorted(times, start_us, side="left")),
        len(times) if end_us is None else int(np.searchsorted(times, end_us, side="left")),
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


def _total(values: Column) -> int:
    return int(values.sum()) if len(values) else 0


def round_trip_stats(nets: Column, grosses: Column, fees: Column, holds: Column, tolerance: int) -> RoundTripStats:
    """Compute the statistics of round trips given in close order (parallel columns)."""
    count = len(nets)
    if count == 0:
        return EMPTY_STATS
    win_mask = np.asarray(nets > tolerance, dtype=bool)
    loss_mask = np.asarray(nets < -tolerance, dtype=bool)
    wins, losses = nets[win_mask], nets[loss_mask]
    win_count, loss_count = len(wins), len(losses)
    # Streaks: runs of equal outcomes (1 win, -1 loss, 0 break-even, which ends both kinds of run).
    outcome = win_mask.astype(np.int8) - loss_mask.astype(np.int8)
    run_starts = np.r_[0, np.flatnonzero(np.diff(outcome)) + 1]
    run_lengths = np.diff(np.r_[run_starts, count])
    run_outcomes = outcome[run_starts]
    gross_profit, gross_loss = _total(wins), _total(losses)
    decided = win_count + loss_count
    realized, fee_total = _total(grosses), _total(fees)
    return RoundTripStats(
        round_trip_count=count,
        win_count=win_count,
        loss_count=loss_count,
        break_even_count=count - decided,
        win_rate_percent=win_count * 100 / decided if decided else None,
        realized_pnl_micros=realized,
        fees_micros=fee_total,
        net_pnl_micros=realized - fee_total,
        gross_profit_micros=gross_profit,
        gross_loss_micros=gross_loss,
        profit_factor=gross_profit / -gross_loss if loss_count else None,
        profit_factor_unbounded=bool(win_count) and not loss_count,
        expectancy_micros=divide_half_away(realized - fee_total, count),
        average_win_micros=divide_half_away(gross_profit, win_count) if win_count else None,
        average_loss_micros=divide_half_away(gross_loss, loss_count) if loss_count else None,
        largest_win_micros=int(wins.max()) if win_count else None,
        largest_loss_micros=int(losses.min()) if loss_count else None,
        max_consecutive_wins=int(run_lengths[run_outcomes == 1].max(initial=0)),
        max_consecutive_losses=int(run_lengths[run_outcomes == -1].max(initial=0)),
        # Truncated to whole milliseconds, as the contract says.
        average_hold_us=_total(holds) // count // 1000 * 1000,
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
    trips = {name: column[first:last] for name, column in journal.trip_columns().items()}
    nets, grosses, fees, holds = trips["net"], trips["gross"], trips["fees"], trips["hold"]
    closes, instruments = trips["close_time"], trips["instrument"]
    count = len(nets)
    performance = round_trip_stats(nets, grosses, fees, holds, tolerance)

    def bucket_stats(mask: npt.NDArray[Any]) -> RoundTripStats:
        return round_trip_stats(nets[mask], grosses[mask], fees[mask], holds[mask], tolerance)

    def grouped_stats(keys: Column, size: int) -> list[RoundTripStats]:
        # One stable (radix) sort by bucket, then contiguous slices: close order is kept within a bucket.
        order = np.argsort(keys.astype(np.int16), kind="stable")
        bounds = np.searchsorted(keys[order], np.arange(size + 1), side="left")
        return [bucket_stats(order[bounds[b] : bounds[b + 1]]) for b in range(size)]

    # Breakdowns by the IST close time: one boolean mask per bucket over the period's round trips.
    local = closes + IST_OFFSET_US
    close_days = local // DAY_US
    hours = local // HOUR_US % 24
    weekdays = (close_days + 3) % 7
    months = close_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    categories = trips["category"]

    # Per instrument: net P&L and count from one sort, full statistics only for the chosen few.
    by_instrument = np.argsort(instruments.astype(np.int32), kind="stable")
    codes, starts, trip_counts = np.unique(instruments[by_instrument], return_index=True, return_counts=True)
    instrument_nets = np.add.reduceat(nets[by_instrument], starts) if count else nets[:0]
    net_of = {int(code): int(net) for code, net in zip(codes.tolist(), instrument_nets, strict=True)}
    count_of = dict(zip(codes.tolist(), trip_counts.tolist(), strict=True))

    # Activity: the period's fills.
    fill_first, fill_last = journal.fill_range(query.start_us, query.end_us)
    fill_columns = journal.fill_columns()
    fill_times = fill_columns["time"][fill_first:fill_last]
    fill_instruments = fill_columns["instrument"][fill_first:fill_last]
    fill_fees = fill_columns["fees"][fill_first:fill_last]
    fill_values = fill_columns["value"][fill_first:fill_last]
    fill_days = (fill_times + IST_OFFSET_US) // DAY_US
    trading_days, day_starts, day_fill_counts = np.unique(fill_days, return_index=True, return_counts=True)
    instrument_fill_counts = np.bincount(fill_instruments.astype(np.int64), minlength=len(journal.instruments))
    fill_count = len(fill_times)
    most_traded: Instrument | None = None
    most_traded_count = 0
    if fill_count:
        most_traded_count = int(instrument_fill_counts.max())
        candidates = np.flatnonzero(instrument_fill_counts == most_traded_count).tolist()
        if len(candidates) > 1:
            turnover_of = {code: _total(fill_values[fill_instruments == code]) for code in candidates}
            candidates.sort(key=lambda code: (-turnover_of[code], *instrument_order(journal.instruments[code])))
        most_traded = journal.instruments[candidates[0]]
    day_count = len(trading_days)
    activity = ActivitySummary(
        fill_count=fill_count,
        trading_day_count=day_count,
        average_fills_per_trading_day=fill_count / day_count if day_count else None,
        average_round_trips_per_trading_day=count / day_count if day_count else None,
        total_fees_micros=saturate(_total(fill_fees)),
        turnover_micros=saturate(divide_half_away(_total(fill_values), journal.value_scale)),
        symbols_traded=tuple(
            sorted((journal.instruments[c] for c in np.flatnonzero(instrument_fill_counts)), key=instrument_order)
        ),
        most_traded_instrument=most_traded,
        most_traded_instrument_fill_count=most_traded_count,
    )

    def ranked(sign: int) -> tuple[InstrumentPerformance, ...]:
        chosen = sorted(
            (code for code, net in net_of.items() if net * sign > 0),
            key=lambda code: (-sign * net_of[code], -count_of[code], *instrument_order(journal.instruments[code])),
        )[: query.instrument_limit]
        return tuple(
            InstrumentPerformance(
                journal.instruments[code], bucket_stats(instruments == code), int(instrument_fill_counts[code])
            )
            for code in chosen
        )

    # Daily figures and returns; every round trip closes on a trading day (its closing fill's day).
    close_day_values, close_day_starts = np.unique(close_days, return_index=True)
    day_nets = np.add.reduceat(nets, close_day_starts) if count else nets[:0]
    day_wins = np.add.reduceat((nets > tolerance).astype(np.int64), close_day_starts) if count else close_days[:0]
    day_losses = np.add.reduceat((nets < -tolerance).astype(np.int64), close_day_starts) if count else close_days[:0]
    day_trips = np.diff(np.r_[close_day_starts, count])
    closed_on = {int(day): index for index, day in enumerate(close_day_values.tolist())}
    daily: list[DailyPnl] = []
    daily_returns: list[float] = []
    risk_free_daily = settings.risk_free_rate_bps / 10_000 / TRADING_DAYS_PER_YEAR
    if query.include_daily_pnl or capital is not None:
        day_fees = np.add.reduceat(fill_fees, day_starts) if fill_count else fill_fees[:0]
        for position, day in enumerate(trading_days.tolist()):
            index = closed_on.get(day)
            day_net = int(day_nets[index]) if index is not None else 0
            if capital is not None:
                daily_returns.append(day_net / capital - risk_free_daily)
            if query.include_daily_pnl:
                daily.append(
                    DailyPnl(
                        date=day_date(day).isoformat(),
                        net_pnl_micros=saturate(day_net),
                        round_trip_count=int(day_trips[index]) if index is not None else 0,
                        win_count=int(day_wins[index]) if index is not None else 0,
                        loss_count=int(day_losses[index]) if index is not None else 0,
                        fill_count=int(day_fill_counts[position]),
                        fees_micros=saturate(int(day_fees[position])),
                        return_percent=day_net * 100 / capital if capital is not None else None,
                    )
                )

    # Equity curve and drawdown: E(k) cumulative net, P(k) = max(0, E(1..k)), D(k) = P(k) - E(k).
    equity = np.cumsum(nets)
    peaks = np.maximum.accumulate(np.concatenate((np.zeros(1, dtype=nets.dtype), equity)))[1:]
    drawdowns = peaks - equity
    trough = int(np.argmax(drawdowns)) if count and drawdowns.max() > 0 else -1
    max_drawdown = int(drawdowns[trough]) if trough >= 0 else 0
    peak_index = -1
    if trough >= 0 and peaks[trough] > 0:
        peak_index = int(np.flatnonzero(equity[: trough + 1] == peaks[trough])[-1])
    net_total = performance.net_pnl_micros
    drawdown_percent: float | None = None
    return_percent: float | None = None
    annualized: float | None = None
    if capital is not None:
        float_peaks = peaks.astype(np.float64)
        drawdown_percent = float(np.max(drawdowns.astype(np.float64) * 100 / (capital + float_peaks))) if count else 0.0
        return_percent = net_total * 100 / capital
        first_day = ist_day(query.start_us) if query.start_us is not None else None
        all_times = fill_columns["time"]
        if first_day is None and len(all_times):
            first_day = ist_day(int(all_times[0]))
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
        max_drawdown_peak_time_us=int(closes[peak_index]) if peak_index >= 0 else None,
        max_drawdown_trough_time_us=int(closes[trough]) if trough >= 0 else None,
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
                    close_time_us=int(closes[i]),
                    instrument=journal.instruments[int(instruments[i])],
                    round_trip_net_pnl_micros=saturate(int(nets[i])),
                    cumulative_net_pnl_micros=saturate(int(equity[i])),
                    drawdown_micros=saturate(int(drawdowns[i])),
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
        by_category=tuple(zip(CATEGORIES, grouped_stats(categories, len(CATEGORIES)), strict=True)),
        top_instruments=ranked(1),
        worst_instruments=ranked(-1),
        by_hour_of_day=tuple(grouped_stats(hours, 24)),
        by_weekday=tuple(grouped_stats(weekdays, 7)),
        by_month=tuple(grouped_stats(months, 12)),
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
    nets = journal.trip_columns()["net"]
    positions = open_positions(journal, marks, now_us)
    marked = [p for p in positions if p.unrealized_pnl_micros is not None]
    totals = PnlTotals(
        trading_date=day_date(today).isoformat(),
        realized_pnl_today_micros=saturate(_total(nets[first:last])),
        round_trips_closed_today=last - first,
        fees_today_micros=saturate(_total(journal.fill_columns()["fees"][fill_first:fill_last])),
        realized_pnl_all_time_micros=saturate(_total(nets)),
        unrealized_pnl_micros=saturate(sum(p.unrealized_pnl_micros or 0 for p in marked)),
        partially_realized_pnl_micros=saturate(sum(p.realized_pnl_micros for p in positions)),
        day_change_micros=saturate(sum(p.day_change_micros or 0 for p in positions)),
        open_position_count=len(positions),
        unmarked_position_count=len(positions) - len(marked),
    )
    return PnlState(totals, {position.instrument: position for position in positions})
