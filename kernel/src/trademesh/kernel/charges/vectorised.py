"""The vectorised charges engine: the reference rules (engine.py) over numpy int64 columns.

Same results to the micro as `charge_fills` (property-tested). Exact integer arithmetic only: a rate is
applied as base x rate / 10^9 with the base split into quotient and remainder of 10^9, so no product
exceeds ~2^60; turnover per order must stay below 2^62 micros (~₹4.6 lakh crore).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import numpy.typing as npt

from trademesh.kernel.charges.engine import COMPONENTS, Fill
from trademesh.kernel.charges.schedule import (
    NANO,
    SEGMENTS_OF,
    Broker,
    BrokerageModel,
    Exchange,
    Policy,
    Schedule,
    ScheduleError,
    Segment,
    Side,
)

Int64s = npt.NDArray[np.int64]
EXCHANGES = tuple(Exchange)
SEGMENTS = tuple(Segment)
SIDES = tuple(Side)
_EPOCH = date(1970, 1, 1)
_LIMIT = 2**62


def day_number(day: date) -> int:
    """Return days since 1970-01-01 (the trade-date column's unit)."""
    return (day - _EPOCH).days


@dataclass(frozen=True)
class FillColumns:
    """Fills as columns (all int64, one row per fill); codes index the tuples named beside them."""

    #: Fills with equal values belong to one executed order.
    order: Int64s
    #: Fills with equal values (on one day) are one scrip of one account at one broker (DP grouping).
    scrip: Int64s
    #: Index into `plans`.
    plan: Int64s
    #: Index into EXCHANGES, SEGMENTS, SIDES.
    exchange: Int64s
    segment: Int64s
    side: Int64s
    quantity: Int64s
    price_micros: Int64s
    #: IST trade date as days since 1970-01-01.
    day: Int64s
    #: (broker, plan name) per `plan` code.
    plans: tuple[tuple[Broker, str], ...]

    def __len__(self) -> int:
        return len(self.quantity)

    @classmethod
    def from_fills(cls, fills: Sequence[Fill]) -> FillColumns:
        """Encode fills as columns (order and scrip codes by first appearance)."""
        orders: dict[tuple[str, str], int] = {}
        scrips: dict[tuple[str, Broker, str], int] = {}
        plans: dict[tuple[Broker, str], int] = {}
        exchanges = {value: code for code, value in enumerate(EXCHANGES)}
        segments = {value: code for code, value in enumerate(SEGMENTS)}
        sides = {value: code for code, value in enumerate(SIDES)}
        rows = [
            (
                orders.setdefault((fill.account, fill.order_id), len(orders)),
                scrips.setdefault((fill.account, fill.broker, fill.instrument), len(scrips)),
                plans.setdefault((fill.broker, fill.plan), len(plans)),
                exchanges[fill.exchange],
                segments[fill.segment],
                sides[fill.side],
                fill.quantity,
                fill.price_micros,
                day_number(fill.trade_date),
            )
            for fill in fills
        ]
        table = np.array(rows, dtype=np.int64).reshape(len(rows), 9)
        order, scrip, plan, exchange, segment, side, quantity, price, day = (
            np.ascontiguousarray(table[:, column]) for column in range(9)
        )
        return cls(order, scrip, plan, exchange, segment, side, quantity, price, day, plans=tuple(plans))


@dataclass(frozen=True)
class ChargeColumns:
    """Per-fill charges (INR micros), one int64 column per component of `Charges`."""

    components: dict[str, Int64s]
    #: Index into the schedule's change dates: which set of rates charged each fill.
    epoch: Int64s

    def total(self) -> Int64s:
        """Return each fill's total charges."""
        total: Int64s = np.sum(np.stack([self.components[name] for name in COMPONENTS]), axis=0)
        return total


@dataclass(frozen=True)
class _Tables:
    epoch_days: Int64s
    #: [component][epoch, exchange, segment, side] rate in parts per 10^9; -1 where the segment does not exist.
    rates: dict[str, Int64s]
    gst: Int64s
    #: [epoch, plan, segment]
    percent: Int64s
    cap: Int64s
    flat: Int64s
    #: [epoch, broker]
    depository: Int64s


@cache
def _tables(schedule: Schedule, plans: tuple[tuple[Broker, str], ...]) -> _Tables:
    epochs = schedule.change_dates
    shape = (len(epochs), len(EXCHANGES), len(SEGMENTS), len(SIDES))
    rates = {}
    for component in ("transaction_tax", "exchange_transaction", "ipft", "sebi", "stamp_duty"):
        table = np.full(shape, -1, dtype=np.int64)
        for e, day in enumerate(epochs):
            for x, exchange in enumerate(EXCHANGES):
                for s, segment in enumerate(SEGMENTS):
                    if segment in SEGMENTS_OF[exchange]:
                        for d, side in enumerate(SIDES):
                            table[e, x, s, d] = schedule.rate(component, exchange, segment, side, day).rate_nanos
        rates[component] = table
    plan_shape = (len(epochs), max(len(plans), 1), len(SEGMENTS))
    percent, cap, flat = (np.zeros(plan_shape, dtype=np.int64) for _ in range(3))
    for e, day in enumerate(epochs):
        for p, (broker, name) in enumerate(plans):
            for s, segment in enumerate(SEGMENTS):
                entry = schedule.brokerage(broker, name, segment, day)
                percent[e, p, s] = entry.percent_nanos
                flat[e, p, s] = entry.flat_micros
                cap[e, p, s] = entry.cap_micros if entry.model is BrokerageModel.PERCENT_CAPPED else 0
    brokers = tuple(Broker)
    depository = np.zeros((len(epochs), len(brokers)), dtype=np.int64)
    for e, day in enumerate(epochs):
        for b, broker in enumerate(brokers):
            if broker in schedule.depository:
                depository[e, b] = schedule.depository_fee(broker, day).fee_micros
    return _Tables(
        epoch_days=np.array([day_number(day) for day in epochs], dtype=np.int64),
        rates=rates,
        gst=np.array([schedule.gst_rate(day).rate_nanos for day in epochs], dtype=np.int64),
        percent=percent,
        cap=cap,
        flat=flat,
        depository=depository,
    )


def apply_rate(base: Int64s, rate: Int64s, unit: int) -> Int64s:
    """Return base x rate / 10^9 rounded to `unit` micros, halves up, exactly (base < 2^62, rate <= 10^9)."""
    quotient, remainder = np.divmod(base, NANO)
    whole = quotient * rate
    fraction = remainder * rate
    whole += fraction // NANO
    fraction %= NANO
    units, rest = np.divmod(whole, unit)
    units += 2 * (rest * NANO + fraction) >= unit * NANO
    return units * unit


@dataclass(frozen=True)
class _Groups:
    #: Fill indices sorted by group (stable: input order within a group).
    order: Int64s
    starts: Int64s
    #: Group number of each sorted position.
    member_of: Int64s
    #: Allocation weights (quantities) in sorted order, and their sum per group at each sorted position.
    weights: Int64s
    whole: Int64s


def _groups(keys: Int64s, weights: Int64s) -> _Groups:
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    boundary = np.empty(len(keys), dtype=bool)
    boundary[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=boundary[1:])
    starts = np.flatnonzero(boundary)
    member_of = np.cumsum(boundary) - 1
    sorted_weights = weights[order]
    whole = np.add.reduceat(sorted_weights, starts)[member_of]
    return _Groups(order, starts, member_of, sorted_weights, whole)


def _allocate(groups: _Groups, totals: Int64s) -> Int64s:
    """Split each group's total by its weights (largest remainder, ties to the earlier fill); input order."""
    total_each = totals[groups.member_of]
    if totals.size and float(totals.max()) * float(groups.weights.max()) >= _LIMIT:
        # Products past int64: the same arithmetic on Python integers (rare: huge orders with many units).
        product = total_each.astype(object) * groups.weights.astype(object)
        whole = groups.whole.astype(object)
        shares = (product // whole).astype(np.int64)
        remainders = (product % whole).astype(np.int64)
    else:
        shares, remainders = np.divmod(total_each * groups.weights, groups.whole)
    left = totals - np.add.reduceat(shares, groups.starts)
    # Only groups of several fills can have micros left over (a single fill takes its whole total).
    pending = np.flatnonzero(left[groups.member_of] > 0)
    if pending.size:
        members = groups.member_of[pending]
        # Within a group: largest remainder first, then the earlier fill (a stable sort keeps input order).
        ranked = pending[np.argsort(members * int(groups.whole.max()) - remainders[pending], kind="stable")]
        positions = np.arange(len(ranked))
        first = np.empty(len(ranked), dtype=bool)
        first[:1] = True
        np.not_equal(members[1:], members[:-1], out=first[1:])
        rank = positions - np.maximum.accumulate(np.where(first, positions, 0))
        shares[ranked] += rank < left[members]
    result = np.empty(len(shares), dtype=np.int64)
    result[groups.order] = shares
    return result


def _check_uniform(groups: _Groups, *columns: Int64s) -> None:
    first = groups.order[groups.starts][groups.member_of]
    for column in columns:
        if np.any(column[groups.order] != column[first]):
            raise ValueError("fills of one order differ in instrument, side, segment, plan or date")


def charge_columns(schedule: Schedule, policy: Policy, fills: FillColumns) -> ChargeColumns:
    """Charge every fill at once; equal to `charge_fills` on the same fills, micro for micro."""
    if len(fills) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ChargeColumns({name: empty.copy() for name in COMPONENTS}, empty)
    tables = _tables(schedule, fills.plans)
    if np.any(fills.quantity <= 0) or np.any(fills.price_micros < 0):
        raise ValueError("quantities must be > 0 and prices >= 0")
    if float(fills.quantity.max()) * float(fills.price_micros.max()) >= _LIMIT:
        raise ValueError("a fill's turnover exceeds 2^62 micros")
    epoch = np.searchsorted(tables.epoch_days, fills.day, side="right") - 1
    if np.any(epoch < 0):
        raise ScheduleError(f"no schedule in force before {schedule.starts}")
    orders = _groups(fills.order, fills.quantity)
    _check_uniform(orders, fills.plan, fills.exchange, fills.segment, fills.side, fills.scrip, fills.day)
    first = orders.order[orders.starts]
    turnover = np.add.reduceat((fills.quantity * fills.price_micros)[orders.order], orders.starts)
    if np.any(turnover >= _LIMIT) or np.any(turnover < 0):
        raise ValueError("an order's turnover exceeds 2^62 micros")
    e, x, s, d, p = (column[first] for column in (epoch, fills.exchange, fills.segment, fills.side, fills.plan))
    units = policy.units
    order_charges: dict[str, Int64s] = {}
    for component, table in tables.rates.items():
        rate = table[e, x, s, d]
        if np.any(rate < 0):
            raise ScheduleError("an order names a segment its exchange does not have")
        order_charges[component] = apply_rate(turnover, rate, units[component])
    percent = apply_rate(turnover, tables.percent[e, p, s], units["brokerage"])
    order_charges["brokerage"] = np.minimum(percent, tables.cap[e, p, s]) + tables.flat[e, p, s]
    taxable = order_charges["brokerage"] + order_charges["exchange_transaction"] + order_charges["sebi"]
    order_charges["gst"] = apply_rate(taxable, tables.gst[e], units["gst"])
    result = {name: _allocate(orders, totals) for name, totals in order_charges.items()}
    result["dp"] = np.zeros(len(fills), dtype=np.int64)
    result["other"] = np.zeros(len(fills), dtype=np.int64)
    if policy.depository:
        _add_depository(policy, tables, fills, epoch, result)
    return ChargeColumns({name: result[name] for name in COMPONENTS}, epoch)


def _add_depository(
    policy: Policy, tables: _Tables, fills: FillColumns, epoch: Int64s, result: dict[str, Int64s]
) -> None:
    selling = np.flatnonzero(
        (fills.segment == SEGMENTS.index(Segment.DELIVERY)) & (fills.side == SIDES.index(Side.SELL))
    )
    if selling.size == 0:
        return
    scrip_days = _groups(fills.scrip[selling] * (1 << 24) + fills.day[selling], fills.quantity[selling])
    first = selling[scrip_days.order[scrip_days.starts]]
    brokers = tuple(Broker)
    broker_of_plan = np.array([brokers.index(broker) for broker, _ in fills.plans], dtype=np.int64)
    fee = tables.depository[epoch[first], broker_of_plan[fills.plan[first]]]
    gst = apply_rate(fee, tables.gst[epoch[first]], policy.units["gst"])
    result["dp"][selling] += _allocate(scrip_days, fee)
    result["gst"][selling] += _allocate(scrip_days, gst)
