"""Live P&L net of charges: open fees, net realized P&L, break-even prices and estimated exit charges.

Built once per position change (a WatchPnl snapshot epoch: a journal change, a day rollover), not per tick:
`NetBook.build` computes each open position's open fees, net realized P&L and break-even price (every position
bisected at once on the vectorised charges engine), and keeps the closing orders as charge columns so that
a tick only re-prices them (`NetBook.exit_charges`: one vectorised call for all marked positions).

The definitions are those of ListPositions (docs/decisions/0102 and 0150): a lot's charges are consumed pro
rata by quantity; realized P&L is net of the closed quantity's charges, partial exits included; the exit is
one order closing the whole open quantity today, charged like the instrument's most recent trade. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from trademesh.kernel import charges as engine
from trademesh.kernel.charges import vectorised
from trademesh.kernel.instruments import ContractType, Exchange, Segment
from trademesh.kernel.lots import InstrumentCycle
from trademesh.services.analytics.model.fills import QUANTITY_SCALE, Instrument
from trademesh.services.analytics.model.journal import Journal

Int64s = vectorised.Int64s
_BROKERS = {"ZERODHA": engine.Broker.ZERODHA, "UPSTOX": engine.Broker.UPSTOX}
#: Break-even bisection stays on int64 while Q x P and costs stay below this (else the scalar reference runs).
_SAFE = 2**60


@dataclass(frozen=True, slots=True)
class ChargeProfile:
    """How an instrument's exit order is charged: its most recent trade's segment, contract, broker, category."""

    segment: str | None
    contract_type: str | None
    broker: str
    account: str = ""
    intraday: bool = False


@dataclass(frozen=True, slots=True)
class NetFigures:
    """Per-position figures that change only when the position does."""

    open_fees_micros: int
    position_realized_pnl_micros: int
    break_even_price_micros: int | None


def exit_template(instrument: Instrument, profile: ChargeProfile, units: int, day: date) -> engine.Fill | None:
    """Return the order closing `units` (signed: > 0 long) of the instrument on `day`, or None when uncharged.

    The trade service's rule (`trade.charging.fill_of`): journal exchange and segment onto the schedules', manual
    trades on Zerodha's plan, equity intraday when the latest trade is filed INTRADAY.
    """
    symbol, exchange_name = instrument
    try:
        exchange = Exchange(exchange_name)
        segment = Segment(profile.segment) if profile.segment else None
        contract = ContractType(profile.contract_type) if profile.contract_type else None
    except ValueError:
        return None
    if segment is None or units == 0:
        return None
    market = engine.charges_market(exchange, segment, contract, intraday=profile.intraday)
    if market is None:
        return None
    charged_exchange, charged_segment = market
    side = engine.Side.SELL if units > 0 else engine.Side.BUY
    # One order and one scrip per position: positions are charged apart, as ListPositions charges them.
    key = f"{symbol}|{exchange_name}"
    return engine.Fill(
        fill_id=key,
        order_id=key,
        broker=_BROKERS.get(profile.broker, engine.Broker.ZERODHA),
        exchange=charged_exchange,
        segment=charged_segment,
        side=side,
        instrument=key,
        quantity=abs(units),
        price_micros=0,
        trade_date=day,
        account=profile.account,
    )


def realized_by_instrument(journal: Journal) -> dict[Instrument, int]:
    """Return Σ net P&L of each instrument's closed round trips (one pass over the trip columns)."""
    columns = journal.trip_columns()
    nets, codes = columns["net"], columns["instrument"]
    sums = np.zeros(len(journal.instruments), dtype=nets.dtype if len(nets) else np.int64)
    if len(nets):
        np.add.at(sums, codes.astype(np.int64), nets)
    return {instrument: int(sums[code]) for code, instrument in enumerate(journal.instruments)}


class NetBook:
    """The net figures of a journal's open positions, for one day's charges schedule."""

    def __init__(
        self,
        figures: dict[Instrument, NetFigures],
        realized_all_time_micros: int,
        exits: list[Instrument],
        columns: vectorised.FillColumns | None,
        schedule: engine.Schedule,
    ) -> None:
        self.figures = figures
        self.realized_all_time_micros = realized_all_time_micros
        self._exits = {instrument: row for row, instrument in enumerate(exits)}
        self._exit_names = exits
        self._columns = columns
        self._schedule = schedule
        self._policy = schedule.policy("contract_note")

    @classmethod
    def build(cls, journal: Journal, profiles: Mapping[Instrument, ChargeProfile], day: date) -> NetBook:
        """Compute the figures of every open position of `journal`, exits charged on `day` (IST)."""
        schedule = engine.load_schedule()
        try:
            schedule.check_day(day)
            chargeable = True
        except engine.ScheduleError:
            chargeable = False
        closed = realized_by_instrument(journal)
        realized_all_time = sum(closed.values())
        figures: dict[Instrument, NetFigures] = {}
        exits: list[Instrument] = []
        templates: list[engine.Fill] = []
        costs: list[int] = []
        entries: list[int] = []
        for cycle in journal.open_cycles():
            instrument = cycle.instrument
            open_fees = cycle.open_fees
            closed_net = closed.get(instrument, 0)
            # Rounded once per instrument (half-to-even), as ListPositions rounds its exact realized figure.
            realized = round(closed_net + cycle.realized_net)
            realized_all_time += realized - closed_net
            figures[instrument] = NetFigures(round(open_fees), realized, None)
            template = _template(cycle, profiles.get(instrument), day) if chargeable else None
            if template is not None:
                exits.append(instrument)
                templates.append(template)
                costs.append(-(-cycle.open_value_scaled // QUANTITY_SCALE))
                entries.append(math.ceil(open_fees))
        columns = vectorised.FillColumns.from_fills(templates) if templates else None
        book = cls(figures, realized_all_time, exits, columns, schedule)
        if columns is not None:
            prices = book._break_even(np.array(costs, dtype=object), np.array(entries, dtype=object), templates)
            for instrument, price in zip(exits, prices, strict=True):
                figures[instrument] = replace(figures[instrument], break_even_price_micros=price)
        return book

    def exit_charges(self, marks: Mapping[Instrument, int]) -> dict[Instrument, int]:
        """Return the estimated exit charges at the given mark prices (positions without an exit estimate left out)."""
        if self._columns is None:
            return {}
        rows = [(row, price) for instrument, price in marks.items() if (row := self._exits.get(instrument)) is not None]
        if not rows:
            return {}
        index = np.fromiter((row for row, _ in rows), dtype=np.int64, count=len(rows))
        prices = np.fromiter((price for _, price in rows), dtype=np.int64, count=len(rows))
        totals = self._charge(index, prices)
        names = self._exit_names
        return {names[row]: int(total) for row, total in zip(index.tolist(), totals.tolist(), strict=True)}

    def _charge(self, index: Int64s, prices: Int64s) -> Int64s:
        columns = self._columns
        assert columns is not None
        subset = vectorised.FillColumns(
            order=columns.order[index],
            scrip=columns.scrip[index],
            plan=columns.plan[index],
            exchange=columns.exchange[index],
            segment=columns.segment[index],
            side=columns.side[index],
            quantity=columns.quantity[index],
            price_micros=prices,
            day=columns.day[index],
            plans=columns.plans,
        )
        return vectorised.charge_columns(self._schedule, self._policy, subset).total()

    def _break_even(self, costs: np.ndarray, entries: np.ndarray, templates: list[engine.Fill]) -> list[int | None]:
        # Every position bisected at once: each step charges all still-open intervals in one vectorised call.
        columns = self._columns
        assert columns is not None
        quantity = columns.quantity
        if max(int(costs.max()), int(entries.max())) * 4 >= _SAFE:
            return [
                engine.break_even_price(self._schedule, self._policy, template, int(cost), int(entry))
                for template, cost, entry in zip(templates, costs, entries, strict=True)
            ]
        cost = costs.astype(np.int64)
        entry = entries.astype(np.int64)
        long = columns.side == vectorised.SIDES.index(engine.Side.SELL)
        rows = np.arange(len(quantity), dtype=np.int64)

        def net(index: Int64s, price: Int64s) -> Int64s:
            proceeds = quantity[index] * price
            gross = np.where(long[index], proceeds - cost[index], cost[index] - proceeds)
            result: Int64s = gross - entry[index] - self._charge(index, price)
            return result

        low = np.zeros(len(rows), dtype=np.int64)
        high = np.maximum(1, -(-(cost + entry) * 2 // quantity))
        high = np.where(long, high, cost // quantity)
        unreachable = np.zeros(len(rows), dtype=bool)
        shorts = rows[~long]
        if shorts.size:
            unreachable[shorts] = net(shorts, np.zeros(shorts.size, dtype=np.int64)) < 0
        growing = rows[long]
        while growing.size:
            below = net(growing, high[growing]) < 0
            growing = growing[below]
            high[growing] *= 2
            if growing.size and int((quantity[growing] * high[growing]).max()) >= _SAFE:
                raise OverflowError("break-even search left int64")
        active = rows[(low < high) & ~unreachable]
        while active.size:
            is_long = long[active]
            middle = np.where(is_long, (low[active] + high[active]) // 2, (low[active] + high[active] + 1) // 2)
            ok = net(active, middle) >= 0
            # Long: lowest P with net >= 0; short: highest P with net >= 0.
            high[active] = np.where(is_long & ok, middle, high[active])
            low[active] = np.where(is_long & ~ok, middle + 1, low[active])
            low[active] = np.where(~is_long & ok, middle, low[active])
            high[active] = np.where(~is_long & ~ok, middle - 1, high[active])
            active = active[low[active] < high[active]]
        return [None if unreachable[row] else int(low[row]) for row in rows.tolist()]


def _template(cycle: InstrumentCycle[Instrument], profile: ChargeProfile | None, day: date) -> engine.Fill | None:
    if profile is None or cycle.position % QUANTITY_SCALE:
        return None  # the schedules charge whole units; fractional quantities get no estimate
    return exit_template(cycle.instrument, profile, cycle.position // QUANTITY_SCALE, day)
