"""Open positions marked to the latest quotes, and the live P&L a WatchPnl stream shows.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trademesh.kernel.lots import InstrumentCycle, divide_half_away
from trademesh.services.analytics.model.fills import QUANTITY_SCALE, Category, Instrument
from trademesh.services.analytics.model.journal import Journal
from trademesh.services.analytics.model.metrics import saturate, total
from trademesh.services.analytics.model.netting import NetBook, NetFigures
from trademesh.services.analytics.model.periods import DAY_US, day_date, day_start_us, ist_day
from trademesh.services.analytics.model.slices import FILL_KEYS, TRIP_KEYS, Slice, keep_cycles, keep_rows


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
    open_fees_micros: int = 0
    position_realized_pnl_micros: int = 0
    break_even_price_micros: int | None = None
    estimated_exit_charges_micros: int | None = None
    net_unrealized_pnl_micros: int | None = None


def open_position_quantity(position_micros: int) -> int:
    """Return a signed micro-unit position in whole units, magnitude rounded up (never 0 while open)."""
    units = -(-abs(position_micros) // QUANTITY_SCALE)
    return units if position_micros > 0 else -units


def mark_position(
    cycle: InstrumentCycle[Instrument],
    mark: Mark | None,
    today: int,
    figures: NetFigures | None = None,
    exit_charges: int | None = None,
) -> OpenPosition:
    """Describe an open cycle, marked to `mark` (None: unmarked), with its net figures when given."""
    open_fees = figures.open_fees_micros if figures else 0
    last = 0
    unrealized_micros: int | None = None
    day_change_micros: int | None = None
    if mark is not None and mark.last_price_micros > 0:
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
        sign = 1 if cycle.position > 0 else -1
        unrealized_micros = divide_half_away(sign * unrealized, QUANTITY_SCALE)
        day_change_micros = None if day_change is None else divide_half_away(sign * day_change, QUANTITY_SCALE)
    marked = unrealized_micros is not None
    return OpenPosition(
        instrument=cycle.instrument,
        net_quantity=open_position_quantity(cycle.position),
        average_open_price_micros=cycle.average_open_price_micros,
        open_time_us=cycle.open_time,
        category=Category(cycle.category),
        fees_micros=cycle.fees_micros,
        realized_pnl_micros=divide_half_away(cycle.realized_scaled, QUANTITY_SCALE),
        last_price_micros=last,
        mark_time_us=mark.time_us if marked and mark is not None else None,
        mark_stale=mark.stale if marked and mark is not None else False,
        unrealized_pnl_micros=unrealized_micros,
        day_change_micros=day_change_micros,
        open_fees_micros=open_fees,
        position_realized_pnl_micros=figures.position_realized_pnl_micros if figures else 0,
        break_even_price_micros=figures.break_even_price_micros if figures else None,
        estimated_exit_charges_micros=exit_charges if marked else None,
        net_unrealized_pnl_micros=None
        if unrealized_micros is None or figures is None
        else unrealized_micros - open_fees - (exit_charges or 0),
    )


def open_positions(
    journal: Journal,
    marks: Mapping[Instrument, Mark],
    now_us: int,
    net: NetBook | None = None,
    chosen: Slice | None = None,
) -> tuple[OpenPosition, ...]:
    """Return every open position of the journal (of a slice, decision 0250) marked to `marks`, ordered by
    symbol then exchange.

    With `net`, each carries its net figures; the exit orders are re-priced at the marks in one vectorised call.
    """
    today = ist_day(now_us)
    cycles = keep_cycles(chosen, journal, journal.open_cycles())
    if net is None:
        return tuple(mark_position(cycle, marks.get(cycle.instrument), today) for cycle in cycles)
    exits = net.exit_charges(
        {instrument: mark.last_price_micros for instrument, mark in marks.items() if mark.last_price_micros > 0}
    )
    return tuple(
        mark_position(
            cycle,
            marks.get(cycle.instrument),
            today,
            net.figures.get(cycle.instrument),
            exits.get(cycle.instrument),
        )
        for cycle in cycles
    )


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
    net_unrealized_pnl_micros: int = 0
    estimated_exit_charges_micros: int = 0
    open_fees_micros: int = 0


@dataclass(frozen=True, slots=True)
class PnlState:
    """What a WatchPnl message shows: totals and the open positions by instrument."""

    totals: PnlTotals
    positions: dict[Instrument, OpenPosition] = field(default_factory=dict)


def pnl_state(
    journal: Journal,
    marks: Mapping[Instrument, Mark],
    now_us: int,
    net: NetBook | None = None,
    chosen: Slice | None = None,
) -> PnlState:
    """Compute the live P&L state of a journal marked to `marks`.

    With `net` (built for this journal version and day) positions and totals carry the figures net of charges
    and realized all time counts partial exits net (decision 0150); without it, the gross figures only.
    With a slice (decision 0250) only its positions, round trips and fills count, and realized all time is
    the net P&L of its closed round trips.
    """
    today = ist_day(now_us)
    start = day_start_us(today)
    end = start + DAY_US
    first, last = journal.trip_range(start, end)
    fill_first, fill_last = journal.fill_range(start, end)
    trips = keep_rows(chosen, journal, journal.trip_columns(), TRIP_KEYS)
    closed_today = keep_rows(chosen, journal, {k: c[first:last] for k, c in journal.trip_columns().items()}, TRIP_KEYS)
    fills = keep_rows(
        chosen, journal, {k: c[fill_first:fill_last] for k, c in journal.fill_columns().items()}, FILL_KEYS
    )
    nets = trips["net"]
    sliced = chosen is not None and not chosen.empty
    positions = open_positions(journal, marks, now_us, net, chosen)
    marked = [p for p in positions if p.unrealized_pnl_micros is not None]
    totals = PnlTotals(
        trading_date=day_date(today).isoformat(),
        realized_pnl_today_micros=saturate(total(closed_today["net"])),
        round_trips_closed_today=len(closed_today["net"]),
        fees_today_micros=saturate(total(fills["fees"])),
        realized_pnl_all_time_micros=saturate(total(nets) if net is None or sliced else net.realized_all_time_micros),
        unrealized_pnl_micros=saturate(sum(p.unrealized_pnl_micros or 0 for p in marked)),
        partially_realized_pnl_micros=saturate(sum(p.realized_pnl_micros for p in positions)),
        day_change_micros=saturate(sum(p.day_change_micros or 0 for p in positions)),
        open_position_count=len(positions),
        unmarked_position_count=len(positions) - len(marked),
        net_unrealized_pnl_micros=saturate(sum(p.net_unrealized_pnl_micros or 0 for p in marked)),
        estimated_exit_charges_micros=saturate(sum(p.estimated_exit_charges_micros or 0 for p in positions)),
        open_fees_micros=saturate(sum(p.open_fees_micros for p in positions)),
    )
    return PnlState(totals, {position.instrument: position for position in positions})
