"""The reference charges engine: one fill at a time, exact rationals, plain Python.

Contract-note semantics (decision 0100):

* The unit charged is the **executed order**: the fills sharing (account, order id) are one contract-note
  line. Brokerage, STT/CTT, exchange transaction charges, IPFT, SEBI fee and stamp duty are computed on
  the order's turnover (Σ price x quantity) with the rates in force on its IST trade date, each rounded
  to its policy unit (half up); GST is 18 % of the rounded brokerage + exchange transaction + SEBI fee
  (not of STT/CTT, stamp duty or IPFT: Kite's own figures leave IPFT out, see decision 0100).
* DP charges (policy permitting) are one fee plus GST per (account, broker, scrip, day) of delivery sells.
* Every order-level (or scrip-day) amount is allocated to its fills in proportion to quantity by the
  largest-remainder method (ties to the earlier fill in input order), so the fills' parts sum to it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

from trademesh.kernel.charges.schedule import (
    NANO,
    Broker,
    BrokerageModel,
    Exchange,
    Policy,
    Schedule,
    Segment,
    Side,
)

IST = timezone(timedelta(hours=5, minutes=30), "IST")
#: Where a breakdown came from (mirrors the journal's BROKER / COMPUTED / MANUAL charge sources).
COMPUTED = "COMPUTED"


def ist_date(moment: datetime) -> date:
    """Return the IST calendar date of an aware datetime (the trade date a schedule is chosen by)."""
    if moment.tzinfo is None:
        raise ValueError("trade time must be timezone-aware")
    return moment.astimezone(IST).date()


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution to charge: whole units, price in INR micros (premium for options)."""

    fill_id: str
    #: Fills of one executed order share its brokerage; the key is (account, order_id).
    order_id: str
    broker: Broker
    exchange: Exchange
    segment: Segment
    side: Side
    #: The scrip (tradingsymbol or ISIN): DP charges are per scrip per day.
    instrument: str
    quantity: int
    price_micros: int
    #: The IST trade date (see `ist_date`).
    trade_date: date
    account: str = ""
    plan: str = "default"

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError("quantity must be > 0")
        if self.price_micros < 0:
            raise ValueError("price_micros must be >= 0")

    @property
    def turnover_micros(self) -> int:
        """Return price x quantity (INR micros)."""
        return self.price_micros * self.quantity


@dataclass(frozen=True, slots=True)
class Charges:
    """Charges of one fill (or a sum of fills), INR micros, >= 0.

    Maps onto trademesh.trade.v1.FeeBreakdown: brokerage, transaction_tax → stt_micros (STT or CTT),
    exchange_transaction → exchange_charges_micros, sebi → sebi_charges_micros, stamp_duty, gst, and
    ipft + dp + other → other_micros (see `fee_breakdown_items`).
    """

    brokerage: int = 0
    transaction_tax: int = 0
    exchange_transaction: int = 0
    ipft: int = 0
    sebi: int = 0
    stamp_duty: int = 0
    gst: int = 0
    dp: int = 0
    other: int = 0

    def total(self) -> int:
        """Return the sum of every component."""
        return sum(getattr(self, name) for name in COMPONENTS)

    def __add__(self, other: Charges) -> Charges:
        return Charges(*(getattr(self, name) + getattr(other, name) for name in COMPONENTS))

    def fee_breakdown_items(self) -> dict[str, int]:
        """Return the components by trademesh.trade.v1.FeeBreakdown field name (they sum to `total`)."""
        return {
            "brokerage_micros": self.brokerage,
            "stt_micros": self.transaction_tax,
            "exchange_charges_micros": self.exchange_transaction,
            "sebi_charges_micros": self.sebi,
            "stamp_duty_micros": self.stamp_duty,
            "gst_micros": self.gst,
            "other_micros": self.ipft + self.dp + self.other,
        }


COMPONENTS = tuple(field.name for field in fields(Charges))


@dataclass(frozen=True, slots=True)
class FillCharges:
    """The computed charges of one fill, with where they came from."""

    fill_id: str
    charges: Charges
    #: "stt" (NSE/BSE) or "ctt" (MCX), as Kite names the transaction tax.
    transaction_tax_type: str
    #: "<schedule version>/<date the rates in force began>".
    schedule_version: str
    source: str = COMPUTED


def round_to_unit(value: Fraction, unit: int) -> int:
    """Round a non-negative exact amount (micros) to a multiple of `unit` micros, halves up."""
    return math.floor(value / unit + Fraction(1, 2)) * unit


def apply_rate(base_micros: int, rate_nanos: int, unit: int) -> int:
    """Return base x rate (parts per 10^9), rounded to `unit` micros, halves up."""
    return round_to_unit(Fraction(base_micros * rate_nanos, NANO), unit)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to positive `weights` by largest remainder (ties: earlier first)."""
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    remainders = [total * weight % whole for weight in weights]
    left = total - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


def transaction_tax_type(exchange: Exchange) -> str:
    """Return Kite's name for the transaction tax of an exchange."""
    return "ctt" if exchange is Exchange.MCX else "stt"


def _order_attributes(fill: Fill) -> tuple[object, ...]:
    return (fill.broker, fill.plan, fill.exchange, fill.segment, fill.side, fill.instrument, fill.trade_date)


def charge_order(schedule: Schedule, policy: Policy, fills: Sequence[Fill]) -> Charges:
    """Return the order-level charges of the fills of one executed order (no DP charges)."""
    first = fills[0]
    if any(_order_attributes(fill) != _order_attributes(first) for fill in fills):
        raise ValueError(f"fills of order {first.order_id!r} differ in instrument, side, segment, plan or date")
    day, units = first.trade_date, policy.units
    turnover = sum(fill.turnover_micros for fill in fills)
    plan = schedule.brokerage(first.broker, first.plan, first.segment, day)
    if plan.model is BrokerageModel.ZERO:
        brokerage = 0
    elif plan.model is BrokerageModel.FLAT:
        brokerage = plan.flat_micros
    else:
        brokerage = min(apply_rate(turnover, plan.percent_nanos, units["brokerage"]), plan.cap_micros)
    rated = {
        component: apply_rate(
            turnover,
            schedule.rate(component, first.exchange, first.segment, first.side, day).rate_nanos,
            units[component],
        )
        for component in ("transaction_tax", "exchange_transaction", "ipft", "sebi", "stamp_duty")
    }
    taxable = brokerage + rated["exchange_transaction"] + rated["sebi"]
    gst = apply_rate(taxable, schedule.gst_rate(day).rate_nanos, units["gst"])
    return Charges(brokerage=brokerage, gst=gst, **rated)


def _depository(schedule: Schedule, policy: Policy, fill: Fill) -> tuple[int, int]:
    fee = schedule.depository_fee(fill.broker, fill.trade_date).fee_micros
    return fee, apply_rate(fee, schedule.gst_rate(fill.trade_date).rate_nanos, policy.units["gst"])


def _split(charges: Charges, weights: Sequence[int]) -> list[Charges]:
    columns = [allocate(getattr(charges, name), weights) for name in COMPONENTS]
    return [Charges(*row) for row in zip(*columns, strict=True)]


def charge_fills(schedule: Schedule, policy: Policy, fills: Iterable[Fill]) -> list[FillCharges]:
    """Charge every fill (the reference path); results are in input order."""
    fills = list(fills)
    orders: dict[tuple[str, str], list[int]] = {}
    scrip_days: dict[tuple[str, Broker, str, date], list[int]] = {}
    for index, fill in enumerate(fills):
        schedule.check_day(fill.trade_date)
        orders.setdefault((fill.account, fill.order_id), []).append(index)
        if policy.depository and fill.segment is Segment.DELIVERY and fill.side is Side.SELL:
            scrip_days.setdefault((fill.account, fill.broker, fill.instrument, fill.trade_date), []).append(index)
    parts = [Charges()] * len(fills)
    for members in orders.values():
        order_charges = charge_order(schedule, policy, [fills[index] for index in members])
        for index, part in zip(members, _split(order_charges, [fills[i].quantity for i in members]), strict=True):
            parts[index] = part
    for members in scrip_days.values():
        fee, gst = _depository(schedule, policy, fills[members[0]])
        weights = [fills[index].quantity for index in members]
        for index, dp, dp_gst in zip(members, allocate(fee, weights), allocate(gst, weights), strict=True):
            parts[index] = parts[index] + Charges(dp=dp, gst=dp_gst)
    return [
        FillCharges(
            fill_id=fill.fill_id,
            charges=part,
            transaction_tax_type=transaction_tax_type(fill.exchange),
            schedule_version=schedule.version_on(fill.trade_date),
        )
        for fill, part in zip(fills, parts, strict=True)
    ]
