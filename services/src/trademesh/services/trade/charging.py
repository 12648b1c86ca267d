"""COMPUTED charges: a batch of trades onto the kernel's charges engine and back (pure).

The unit charged is the executed order: trades of one user, broker account and `broker_order_id` (same
instrument, side, segment and IST day) share its brokerage; a trade with no order id is an order of its
own. DP charges are per account, scrip and IST day of delivery sells, shared by the sells of the batch.
Each order's (and scrip-day's) charges are split over its trades by quantity with the largest-remainder
method, so every trade's breakdown sums to its fees_micros and the trades sum to the order exactly
(decision 0100 for the engine, 0101 for the journal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from fractions import Fraction

from trademesh.kernel import charges as engine
from trademesh.kernel.calendar import ist_day
from trademesh.kernel.instruments import Side
from trademesh.services.trade.model import Broker, Category, ChargesSource, FeeBreakdown, TradeFields

UNITS = 1_000_000
_BROKERS = {Broker.ZERODHA: engine.Broker.ZERODHA, Broker.UPSTOX: engine.Broker.UPSTOX}


def fill_of(index: int, fields: TradeFields) -> engine.Fill | None:
    """Return the engine's fill for validated fields, or None when no schedule can charge them."""
    if fields.exchange is None or fields.segment is None or fields.side is None or fields.trade_time is None:
        return None
    if fields.quantity_micros % UNITS:
        return None  # the schedules charge whole units; fractional quantities keep no computed charges
    contract = fields.derivative.contract_type if fields.derivative else None
    market = engine.charges_market(
        fields.exchange, fields.segment, contract, intraday=fields.category is Category.INTRADAY
    )
    if market is None:
        return None
    exchange, segment = market
    day = ist_day(fields.trade_time)
    side = engine.Side.BUY if fields.side is Side.BUY else engine.Side.SELL
    order = fields.broker_order_id or f"#{index}"
    # Manual journal trades (no broker) are charged on Zerodha's plan: an estimate, documented in 0101.
    broker = _BROKERS.get(fields.broker or Broker.MANUAL, engine.Broker.ZERODHA)
    instrument = fields.isin or fields.symbol
    return engine.Fill(
        fill_id=str(index),
        # Fills of one order agree on everything the engine charges an order by; keying on all of it keeps
        # a malformed file (one order id on two instruments, sides or days) from failing the batch.
        order_id=f"{order}|{broker}|{instrument}|{exchange}|{segment}|{side}|{day}",
        broker=broker,
        exchange=exchange,
        segment=segment,
        side=side,
        instrument=instrument,
        quantity=fields.quantity_micros // UNITS,
        price_micros=fields.price_micros,
        trade_date=day,
        account=fields.broker_account_id,
    )


def breakdown_of(charges: engine.Charges) -> FeeBreakdown:
    """Return the journal's breakdown of engine charges (IPFT, DP and other go to `other`)."""
    items = charges.fee_breakdown_items()
    return FeeBreakdown(
        brokerage=items["brokerage_micros"],
        stt=items["stt_micros"],
        exchange_charges=items["exchange_charges_micros"],
        sebi_charges=items["sebi_charges_micros"],
        stamp_duty=items["stamp_duty_micros"],
        gst=items["gst_micros"],
        other=items["other_micros"],
    )


def uncharged(fields: TradeFields) -> TradeFields:
    """Return fields whose charges no schedule can compute: zero, with no source."""
    return replace(fields, fees_micros=0, fee_breakdown=None, charges_source=None, charges_schedule_version="")


#: The `charges_schedule_version` prefix of expiry settlement fills (decisions 0160, 0310): they are charged
#: by the settlement rules (`settlement_charges`), never as trades.
SETTLEMENT_SCHEDULE_PREFIX = engine.SETTLEMENT_VERSION_PREFIX


def settlement_charges(fields: TradeFields) -> TradeFields:
    """Return a settlement fill's fields with its COMPUTED charges (decision 0310; pure).

    STT on exercise for a long NSE/BSE option settled in the money, nothing otherwise (futures' final
    settlement, lapsed or assigned options, MCX, currency). The schedule version is
    `settlement/<schedule version>/<date the in-force set began>`; an expiry before the schedule starts
    gets charges 0 and `settlement/<expiry>`, as every settlement fill had before 0310.
    """
    assert fields.trade_time is not None
    assert fields.exchange is not None
    assert fields.segment is not None
    day = ist_day(fields.trade_time)
    schedule = engine.load_schedule()
    contract = fields.derivative.contract_type if fields.derivative else None
    market = engine.charges_market(fields.exchange, fields.segment, contract, intraday=False)
    try:
        version = engine.settlement_version(schedule, day)
    except engine.ScheduleError:
        return replace(
            fields,
            fees_micros=0,
            fee_breakdown=None,
            charges_source=ChargesSource.COMPUTED,
            charges_schedule_version=f"{SETTLEMENT_SCHEDULE_PREFIX}{day.isoformat()}",
        )
    charges = engine.Charges()
    if market is not None and fields.side is not None:
        exchange, segment = market
        charges = engine.charge_settlement(
            schedule,
            schedule.policy("contract_note"),
            exchange=exchange,
            segment=segment,
            side=engine.Side.BUY if fields.side is Side.BUY else engine.Side.SELL,
            quantity_micros=fields.quantity_micros,
            price_micros=fields.price_micros,
            day=day,
        )
    return replace(
        fields,
        fees_micros=charges.total(),
        fee_breakdown=breakdown_of(charges),
        charges_source=ChargesSource.COMPUTED,
        charges_schedule_version=version,
    )


def is_settlement_charge(fields: TradeFields) -> bool:
    """Tell whether these are a settlement fill's server-owned charges (recharged by `settlement_charges`)."""
    return fields.charges_source is ChargesSource.COMPUTED and fields.charges_schedule_version.startswith(
        SETTLEMENT_SCHEDULE_PREFIX
    )


def computable(fields: TradeFields) -> bool:
    """Tell whether the server owns these charges: COMPUTED, or no source and nothing typed.

    Settlement fills are never charged as trades (an update keeps their charges; a recharge applies
    `settlement_charges` to them).
    """
    if fields.charges_schedule_version.startswith(SETTLEMENT_SCHEDULE_PREFIX):
        return False
    if fields.charges_source is ChargesSource.COMPUTED:
        return True
    return fields.charges_source is None and fields.fees_micros == 0 and fields.fee_breakdown is None


def compute_charges(batch: Sequence[TradeFields]) -> list[TradeFields]:
    """Return the batch (one user's trades) with COMPUTED charges filled in; other sources are returned as given.

    Trades to compute are the `computable` ones (None with no fees: not chargeable before; a schedule fix
    may cover them now).
    """
    schedule = engine.load_schedule()
    policy = schedule.policy("contract_note")
    wanted = [i for i, f in enumerate(batch) if computable(f)]
    fills: list[engine.Fill] = []
    for index in wanted:
        fill = fill_of(index, batch[index])
        if fill is not None:
            try:
                schedule.check_day(fill.trade_date)
            except engine.ScheduleError:
                continue
            fills.append(fill)
    result = list(batch)
    for index in wanted:
        result[index] = uncharged(batch[index])
    for charged in engine.charge_fills(schedule, policy, fills):
        index = int(charged.fill_id)
        result[index] = replace(
            batch[index],
            fees_micros=charged.charges.total(),
            fee_breakdown=breakdown_of(charged.charges),
            charges_source=ChargesSource.COMPUTED,
            charges_schedule_version=charged.schedule_version,
        )
    return result


def break_even(
    latest: TradeFields, net_quantity_micros: int, open_value: Fraction, open_fees: Fraction, exit_day: date
) -> int | None:
    """Return the break-even exit price of an open position (proto Position.break_even_price_micros).

    The exit is one order closing the whole open quantity on `exit_day`, charged like `latest` (the
    position's most recent trade: broker, account, category); entry charges are the open lots' fees.
    """
    if net_quantity_micros == 0 or net_quantity_micros % UNITS:
        return None
    closing = Side.SELL if net_quantity_micros > 0 else Side.BUY
    template = replace(latest, side=closing, quantity_micros=abs(net_quantity_micros), price_micros=0)
    exit_fill = fill_of(0, template)
    if exit_fill is None:
        return None
    exit_fill = replace(exit_fill, trade_date=exit_day)
    schedule = engine.load_schedule()
    try:
        schedule.check_day(exit_day)
    except engine.ScheduleError:
        return None
    # open_value is Σ quantity_micros x price / 10^6 = Σ units x price for whole units: exact.
    cost = math.ceil(open_value)
    return engine.break_even_price(schedule, schedule.policy("contract_note"), exit_fill, cost, math.ceil(open_fees))
