"""Round trips of a whole journal at once, vectorized with NumPy (same rules as `roundtrips.py`).

A recompute matches a million fills; doing it fill by fill in Python costs seconds, so this module does it
with array operations, exactly, in int64. It relies on one fact: a *closed* round trip's FIFO realized P&L
equals its cash flow (Σ sell value - Σ buy value of its fills, a crossing fill counted with the part that
belongs to it), because every lot opened in the cycle is closed in it. Only the still-open cycle of each
instrument needs its FIFO lots, and the caller replays those few fills with `InstrumentCycle`.

Exactness guard: quantities must be whole units and every product and sum must stay far inside int64
(`match_round_trips` returns None otherwise and the caller uses the pure-Python engine, which has no bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

QUANTITY_SCALE = 1_000_000
# Every product and sum below stays under 2^62, leaving a factor 2 of headroom in int64.
_LIMIT = float(2**62)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class TripColumns:
    """Every round trip (closed and open) of a journal, one entry per trip, in no particular order.

    `first_part` / `last_part` index the expanded part arrays (a fill crossing zero is two parts, see
    `PartColumns`), so callers can replay the fills of an open trip.
    """

    instrument: IntArray
    long: BoolArray
    closed: BoolArray
    open_fill: IntArray
    close_fill: IntArray
    open_time: IntArray
    close_time: IntArray
    gross_micros: IntArray
    fees_micros: IntArray
    fill_count: IntArray
    first_part: IntArray
    last_part: IntArray


@dataclass(frozen=True, slots=True)
class PartColumns:
    """Fills split at zero crossings, grouped by instrument, each part with its own quantity and fee."""

    fill: IntArray
    buy: BoolArray
    quantity_micros: IntArray
    fees_micros: IntArray


def within_bounds(units: IntArray, price_micros: IntArray, fees_micros: IntArray) -> bool:
    """Tell whether every sum of values, quantities and fees, and every fee split, fits int64 with room."""
    # Float estimates (relative error ~1e-16) against 2^62, a factor 2 below int64's limit.
    as_float = units.astype(np.float64)
    return bool(
        float(np.dot(as_float, price_micros.astype(np.float64))) < _LIMIT
        and float(as_float.sum()) < _LIMIT
        and float(fees_micros.astype(np.float64).sum()) < _LIMIT
        and float(np.max(2.0 * fees_micros.astype(np.float64) * as_float)) < _LIMIT
    )


def match_round_trips(
    instrument: IntArray,
    buy: BoolArray,
    quantity_micros: IntArray,
    price_micros: IntArray,
    fees_micros: IntArray,
    time: IntArray,
) -> tuple[TripColumns, PartColumns] | None:
    """Match fills given in journal order; None when the exactness guard fails (use the Python engine)."""
    count = len(quantity_micros)
    if count == 0 or np.any(quantity_micros % QUANTITY_SCALE):
        return None
    units = quantity_micros // QUANTITY_SCALE
    if not within_bounds(units, price_micros, fees_micros):
        return None

    # Stable sort on a narrow key: NumPy radix-sorts 16-bit integers (fast), keeping journal order within.
    key = instrument.astype(np.int16) if int(instrument.max()) < 2**15 else instrument
    order = np.argsort(key, kind="stable")
    grouped = instrument[order]
    signed = np.where(buy, units, -units)[order]
    running = np.cumsum(signed)
    group_start = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sizes = np.diff(np.r_[group_start, count])
    after = running - np.repeat(running[group_start] - signed[group_start], sizes)
    before = after - signed
    crossing = (before != 0) & (after != 0) & ((before > 0) != (after > 0))

    # Expand: a crossing fill becomes a closing part and an opening part.
    parts_per_fill = 1 + crossing.astype(np.int64)
    source = np.repeat(np.arange(count), parts_per_fill)
    second = np.zeros(len(source), dtype=bool)
    second[(np.cumsum(parts_per_fill) - parts_per_fill)[crossing] + 1] = True
    part_crossing = crossing[source]
    size = np.abs(signed)[source]
    part_before = before[source]
    part_after = after[source]
    closing_size = np.abs(part_before)
    part_units = np.where(part_crossing, np.where(second, np.abs(part_after), closing_size), size)
    fee = fees_micros[order][source]
    # The largest-remainder split of `fees.split_crossing_fee` (decision 0111): floor(fee x closed / quantity),
    # plus one micro when twice the remainder reaches the quantity; the opening part gets the rest.
    closing_fee = (2 * fee * closing_size + size) // (2 * size)
    part_fee = np.where(part_crossing, np.where(second, fee - closing_fee, closing_fee), fee)
    part_buy = buy[order][source]
    cash = np.where(part_buy, -1, 1) * price_micros[order][source] * part_units
    position_after = np.where(part_crossing & ~second, 0, part_after)

    starts = np.flatnonzero(second | ((part_before == 0) & ~part_crossing))
    ends = np.r_[starts[1:], len(source)] - 1
    fills = order[source]
    trips = TripColumns(
        instrument=grouped[source[starts]],
        long=part_buy[starts],
        closed=position_after[ends] == 0,
        open_fill=fills[starts],
        close_fill=fills[ends],
        open_time=time[fills[starts]],
        close_time=time[fills[ends]],
        gross_micros=np.add.reduceat(cash, starts),
        fees_micros=np.add.reduceat(part_fee, starts),
        fill_count=ends - starts + 1,
        first_part=starts,
        last_part=ends,
    )
    return trips, PartColumns(fills, part_buy, part_units * QUANTITY_SCALE, part_fee)
