"""The journal: a user's fills in journal order and what FIFO matching made of them, kept up to date.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from trademesh.kernel.lots import InstrumentCycle, RoundTrip, divide_half_away
from trademesh.kernel.lots.columnar import PartColumns, TripColumns, match_round_trips
from trademesh.services.analytics.model.columns import GrowableColumns
from trademesh.services.analytics.model.cycles import cycle_of_fills
from trademesh.services.analytics.model.fills import (
    CATEGORIES,
    CATEGORY_CODES,
    QUANTITY_SCALE,
    Category,
    ChangeKind,
    Column,
    FillColumns,
    FillProfile,
    Instrument,
    JournalChange,
    JournalFill,
    instrument_order,
)

_FLOAT_LIMIT = float(2**62)
#: From this many changes on, `apply_changes` merges them into one rebuild instead of applying them one by one.
MERGE_MIN_CHANGES = 16


# cycle_*: the opening fill of the position cycle each fill belongs to (what slices test, decision 0250).
_FILL_COLUMNS = (
    "time",
    "instrument",
    "fees",
    "value",
    "cycle_profile",
    "cycle_category",
    "cycle_long",
    "cycle_open_time",
)
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
    "risk",
    "profile",
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
        self._fills = GrowableColumns(_FILL_COLUMNS)
        self._trips = GrowableColumns(_TRIP_COLUMNS)
        self._value_scale = QUANTITY_SCALE
        self._exact_int64 = False
        self._sums = [0.0, 0.0, 0.0]
        self._openers_base: list[str] | None = None
        self._openers_tail: list[str] = []
        # The planned risk of every fill that has a plan (decision 0230): a closed trip takes its opener's.
        planned = np.flatnonzero(columns.planned_risk_micros) if len(columns) else np.zeros(0, dtype=np.int64)
        self._plans: dict[str, int] = {
            columns.trade_ids[i]: int(columns.planned_risk_micros[i]) for i in planned.tolist()
        }
        # The trade profiles slices test (decision 0250): codes as in `columns`, new ones appended.
        self.profiles: list[FillProfile] = list(columns.profile_table)
        self._profile_codes = {profile: code for code, profile in enumerate(self.profiles)}
        self._opener_profile: dict[Instrument, int] = {}
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
        profiles = columns.profile_codes()
        fill_trip = cycle_of_fills(trips, parts, len(columns))
        openers = trips.open_fill[fill_trip]
        self._fills.base = {
            "time": columns.time_us,
            "instrument": codes,
            "fees": columns.fees_micros,
            "value": units * columns.price_micros,
            "cycle_profile": profiles[openers],
            "cycle_category": columns.category[openers].astype(np.int64),
            "cycle_long": trips.long[fill_trip].astype(np.int64),
            "cycle_open_time": trips.open_time[fill_trip],
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
            "risk": columns.planned_risk_micros[trips.open_fill[closed]].astype(np.int64),
            "profile": profiles[trips.open_fill[closed]],
        }
        # Replay each instrument's still-open cycle through the FIFO engine to know its lots.
        for trip in np.flatnonzero(~trips.closed).tolist():
            instrument = self.instruments[int(trips.instrument[trip])]
            cycle = self.cycles[instrument]
            opening = int(trips.open_fill[trip])
            self._opener_profile[instrument] = int(profiles[opening])
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
        cycle = self.cycles[instrument]
        profile = self._profile_codes.setdefault(fill.profile, len(self._profile_codes))
        if len(self.profiles) < len(self._profile_codes):
            self.profiles.append(fill.profile)
        if cycle.position == 0:
            opener, long, open_time, category = profile, fill.buy, fill.time_us, CATEGORY_CODES[fill.category]
        else:
            opener, long, open_time = self._opener_profile[instrument], cycle.position > 0, cycle.open_time
            category = CATEGORY_CODES[Category(cycle.category)]
        trip = cycle.apply(
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
            cycle_profile=opener,
            cycle_category=category,
            cycle_long=int(long),
            cycle_open_time=open_time,
        )
        if cycle.position and cycle.opening_trade_id == fill.trade_id:
            self._opener_profile[instrument] = profile
        if trip is not None:
            gross = divide_half_away(trip.gross_scaled, QUANTITY_SCALE)
            self._trips.append(
                close_time=trip.close_time,
                net=gross - trip.fees_micros,
                gross=gross,
                fees=trip.fees_micros,
                hold=trip.close_time - trip.open_time,
                instrument=code,
                category=CATEGORY_CODES[Category(trip.category)],
                open_time=trip.open_time,
                long=int(trip.long),
                close_fill=sequence,
                open_fill=-1,
                fill_count=trip.fill_count,
                risk=self._plans.get(trip.opening_trade_id, 0),
                profile=opener,
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

    def _last_order(self) -> tuple[int, int, int, str] | None:
        if self._tail_fills:
            return self._tail_fills[-1].order
        if len(self._base):
            last = len(self._base) - 1
            base = self._base
            return (
                int(base.time_us[last]),
                int(base.create_time_us[last]),
                int(base.exec_seq[last]),
                base.trade_ids[last],
            )
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
            if fill.planned_risk_micros:
                self._plans[fill.trade_id] = fill.planned_risk_micros
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

    def apply_change(self, change: JournalChange) -> None:
        """Apply one trade event (an upsert, or the removal of a deleted/purged trade)."""
        if change.kind is ChangeKind.UPSERT and change.fill is not None:
            self.upsert(change.fill)
        else:
            self.remove(change.trade_id, change.trade_version)

    def apply_changes(self, changes: Sequence[JournalChange]) -> None:
        """Apply many trade events (in journal-version order) at the cost of at most one rebuild.

        Each trade ends at its highest-version change, compared with the version the journal holds under
        the same rules as `upsert`/`remove` (an upsert needs a newer version, a removal an equal or newer
        one), so applying a batch twice changes nothing. A few changes, or new fills that all come after
        the journal's last fill in journal order, are applied one by one (O(1) each); otherwise the kept
        fills and the new ones are matched again in one rebuild — an import of N fills costs one
        recompute, not N (docs/decisions/0113).
        """
        if len(changes) < MERGE_MIN_CHANGES:
            for change in changes:
                self.apply_change(change)
            return
        final: dict[str, JournalChange] = {}
        for change in changes:
            held = final.get(change.trade_id)
            if (
                held is None
                or change.trade_version > held.trade_version
                or (change.trade_version == held.trade_version and change.kind is ChangeKind.REMOVE)
            ):
                final[change.trade_id] = change
        drop: set[str] = set()
        added: list[JournalFill] = []
        for trade_id, change in final.items():
            known = self.trade_version(trade_id)
            if change.kind is ChangeKind.UPSERT and change.fill is not None:
                if known >= change.trade_version:
                    continue
                if known:
                    drop.add(trade_id)
                added.append(change.fill)
            elif known and known <= change.trade_version:
                drop.add(trade_id)
        if not drop and not added:
            return
        added.sort(key=lambda fill: fill.order)
        last = self._last_order()
        if not drop and (last is None or added[0].order >= last):
            for fill in added:
                self.upsert(fill)  # each comes last in journal order: O(1) unless the int64 guard says rebuild
            return
        kept = self._base
        if drop:
            keep = np.fromiter((trade_id not in drop for trade_id in kept.trade_ids), dtype=np.bool_, count=len(kept))
            if not keep.all():
                kept = kept.take(np.flatnonzero(keep))
        tail = [fill for fill in self._tail_fills if fill.trade_id not in drop]
        self._rebuild(kept.concat(FillColumns.of(tail + added)).ordered())

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
        return self.round_trips_in(0, len(self._trips))

    def round_trips_in(self, first: int, last: int) -> list[RoundTrip[Instrument]]:
        """Return the closed round trips [first, last) of the close order as objects (see `trip_range`)."""
        columns = self.trip_columns()
        in_base = len(self._trips.base.get("close_time", ()))
        trips = []
        for index in range(first, last):
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

    def cycle_profile(self, instrument: Instrument) -> FillProfile:
        """Return the profile of the trade that opened an instrument's open position (decision 0250)."""
        return self.profiles[self._opener_profile.get(instrument, 0)]

    def instrument_fills(self, instrument: Instrument) -> list[tuple[bool, int, int, int]]:
        """Return an instrument's fills as (buy, quantity micros, price micros, journal sequence), in journal order."""
        code, base = self._codes[instrument], self._base
        rows = [
            (bool(base.buy[i]), int(base.quantity_micros[i]), int(base.price_micros[i]), i)
            for i in np.flatnonzero(base.instrument == code).tolist()
        ]
        rows += [
            (fill.buy, fill.quantity_micros, fill.price_micros, len(base) + k)
            for k, fill in enumerate(self._tail_fills)
            if (fill.symbol, fill.exchange) == instrument
        ]
        return rows

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
