"""Proto ⇄ domain mapping for the trade service (used by the servicer and the event publisher)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Segment
from trademesh.kernel.lots import Side, divide_half_even
from trademesh.services.core.timestamps import timestamp, timestamp_init, timestamp_violation
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    EventType,
    FeeBreakdown,
    ImportRowError,
    Position,
    Source,
    Status,
    Trade,
    TradeEvent,
    TradeFields,
)
from trademesh.trade.v1 import import_pb2, position_pb2, trade_event_pb2, trade_pb2

EnumT = TypeVar("EnumT", bound=StrEnum)


def enum_from_proto(kind: type[EnumT], descriptor: Any, value: int, prefix: str) -> EnumT | None:
    """Map a proto enum number to the domain enum (None for UNSPECIFIED or unknown numbers)."""
    if value == 0:
        # Every enum's 0 is *_UNSPECIFIED, which no domain enum has: the lookup below would end in a
        # ValueError (~3 us), and ListTrades reads seven enums a call, mostly left unset.
        return None
    try:
        name: str = descriptor.Name(value)
    except ValueError:
        return None
    try:
        return kind(name.removeprefix(prefix))
    except ValueError:
        return None


def enum_to_proto(descriptor: Any, value: StrEnum | None, prefix: str) -> Any:
    """Map a domain enum to its proto number (0 for None)."""
    if value is None:
        return 0
    return _enum_number(descriptor, prefix, value)


@functools.cache
def _enum_number(descriptor: Any, prefix: str, value: StrEnum) -> int:
    # EnumTypeWrapper.Value is a Python lookup by name; every listed trade maps seven enums
    return int(descriptor.Value(prefix + value.value))


def exchange_from_proto(value: int) -> Exchange | None:
    """Map trademesh.common.v1.Exchange."""
    return enum_from_proto(Exchange, instrument_pb2.Exchange, value, "EXCHANGE_")


def segment_from_proto(value: int) -> Segment | None:
    """Map trademesh.trade.v1.Segment."""
    return enum_from_proto(Segment, trade_pb2.Segment, value, "SEGMENT_")


def side_from_proto(value: int) -> Side | None:
    """Map trademesh.trade.v1.Side."""
    return enum_from_proto(Side, trade_pb2.Side, value, "SIDE_")


def category_from_proto(value: int) -> Category | None:
    """Map trademesh.trade.v1.TradeCategory."""
    return enum_from_proto(Category, trade_pb2.TradeCategory, value, "TRADE_CATEGORY_")


def broker_from_proto(value: int) -> Broker | None:
    """Map trademesh.common.v1.Broker."""
    return enum_from_proto(Broker, instrument_pb2.Broker, value, "BROKER_")


def status_from_proto(value: int) -> Status | None:
    """Map trademesh.trade.v1.TradeStatus."""
    return enum_from_proto(Status, trade_pb2.TradeStatus, value, "TRADE_STATUS_")


def source_from_proto(value: int) -> Source | None:
    """Map trademesh.trade.v1.TradeSource."""
    return enum_from_proto(Source, trade_pb2.TradeSource, value, "TRADE_SOURCE_")


def time_from_proto(stamp: Timestamp) -> datetime | None:
    """Return the instant of a Timestamp, or None when it is not an acceptable request time."""
    if timestamp_violation(stamp, "") is not None:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def fields_from_proto(trade: trade_pb2.Trade, *, has_time: bool) -> TradeFields:
    """Map the caller-settable fields of a Trade message (enums unknown/zero → None)."""
    derivative = None
    if trade.HasField("derivative"):
        derivative = Derivative(
            underlying=trade.derivative.underlying,
            expiry_date=trade.derivative.expiry_date,
            contract_type=enum_from_proto(
                ContractType, trade_pb2.ContractType, trade.derivative.contract_type, "CONTRACT_TYPE_"
            ),
            strike_price_micros=trade.derivative.strike_price_micros,
        )
    breakdown = None
    if trade.HasField("fee_breakdown"):
        b = trade.fee_breakdown
        breakdown = FeeBreakdown(
            b.brokerage_micros,
            b.stt_micros,
            b.exchange_charges_micros,
            b.sebi_charges_micros,
            b.stamp_duty_micros,
            b.gst_micros,
            b.other_micros,
        )
    trade_time = time_from_proto(trade.trade_time) if has_time else None
    return TradeFields(
        symbol=trade.instrument.symbol,
        exchange=exchange_from_proto(trade.instrument.exchange),
        segment=segment_from_proto(trade.segment),
        derivative=derivative,
        isin=trade.isin,
        side=side_from_proto(trade.side),
        quantity_micros=trade.quantity_micros,
        price_micros=trade.price_micros,
        fees_micros=trade.fees_micros,
        fee_breakdown=breakdown,
        trade_time=trade_time,
        category=category_from_proto(trade.category),
        strategy=trade.strategy,
        tags=tuple(trade.tags),
        notes=trade.notes,
        broker=broker_from_proto(trade.broker),
        broker_trade_id=trade.broker_trade_id,
        broker_order_id=trade.broker_order_id,
        broker_account_id=trade.broker_account_id,
        charges_source=enum_from_proto(ChargesSource, trade_pb2.ChargesSource, trade.charges_source, "CHARGES_SOURCE_"),
        stop_loss_price_micros=trade.stop_loss_price_micros,
        target_price_micros=trade.target_price_micros,
        planned_risk_micros=trade.planned_risk_micros,
    )


class _EnumNumbers(dict[Any, int]):
    """Proto numbers of one domain enum's members (None → 0), filled on first use.

    A plain dict lookup: `enum_to_proto` costs ~100 ns a call through its cache, and a listed page of
    50 trades maps 350 enums. A member the proto does not know raises ValueError, as `enum_to_proto` does.
    """

    def __init__(self, descriptor: Any, prefix: str) -> None:
        super().__init__({None: 0})
        self._descriptor = descriptor
        self._prefix = prefix

    def __missing__(self, value: StrEnum) -> int:
        number = int(self._descriptor.Value(self._prefix + value.value))
        self[value] = number
        return number


_EXCHANGE_NUMBERS = _EnumNumbers(instrument_pb2.Exchange, "EXCHANGE_")
_SEGMENT_NUMBERS = _EnumNumbers(trade_pb2.Segment, "SEGMENT_")
_SIDE_NUMBERS = _EnumNumbers(trade_pb2.Side, "SIDE_")
_CATEGORY_NUMBERS = _EnumNumbers(trade_pb2.TradeCategory, "TRADE_CATEGORY_")
_BROKER_NUMBERS = _EnumNumbers(instrument_pb2.Broker, "BROKER_")
_SOURCE_NUMBERS = _EnumNumbers(trade_pb2.TradeSource, "TRADE_SOURCE_")
_STATUS_NUMBERS = _EnumNumbers(trade_pb2.TradeStatus, "TRADE_STATUS_")
_CHARGES_SOURCE_NUMBERS = _EnumNumbers(trade_pb2.ChargesSource, "CHARGES_SOURCE_")


def trade_to_proto(trade: Trade) -> trade_pb2.Trade:
    """Map a stored trade to its message."""
    return trade_pb2.Trade(**trade_init(trade))


def trades_to_proto(trades: Sequence[Trade]) -> Any:
    """Return the initializer of a repeated Trade field (e.g. `ListTradesResponse(trades=...)`).

    Dicts, not messages: the response's constructor builds each trade in place, where a list of
    messages built first is built and then copied into the response.
    """
    return [trade_init(trade) for trade in trades]


def trade_init(trade: Trade) -> dict[str, Any]:
    """Return the fields of a trade's message as a constructor initializer (sub-messages as dicts too)."""
    f = trade.fields
    assert f.trade_time is not None
    # Sub-messages as dicts (timestamp_init): the constructor builds them in place instead of copying
    # a message built first; a page of 50 trades maps in half the time.
    derivative = f.derivative
    breakdown = f.fee_breakdown
    delete_time = trade.delete_time
    purge_time = trade.purge_time
    return {
        "id": trade.id,
        "user_id": trade.user_id,
        "instrument": {"symbol": f.symbol, "exchange": _EXCHANGE_NUMBERS[f.exchange]},
        "segment": _SEGMENT_NUMBERS[f.segment],
        "isin": f.isin,
        "side": _SIDE_NUMBERS[f.side],
        "quantity_micros": f.quantity_micros,
        "price_micros": f.price_micros,
        "value_micros": divide_half_even(f.quantity_micros * f.price_micros, 1_000_000),
        "fees_micros": f.fees_micros,
        "fee_breakdown": None if breakdown is None else breakdown.items(),
        "charges_source": _CHARGES_SOURCE_NUMBERS[f.charges_source],
        "charges_schedule_version": f.charges_schedule_version,
        "trade_time": timestamp_init(f.trade_time),
        "category": _CATEGORY_NUMBERS[f.category],
        "category_inferred": trade.category_inferred,
        "strategy": f.strategy,
        "tags": f.tags,
        "notes": f.notes,
        "broker": _BROKER_NUMBERS[f.broker],
        "broker_trade_id": f.broker_trade_id,
        "broker_order_id": f.broker_order_id,
        "broker_account_id": f.broker_account_id,
        "source": _SOURCE_NUMBERS[trade.source],
        "status": _STATUS_NUMBERS[trade.status],
        "version": trade.version,
        "etag": trade.etag,
        "create_time": timestamp_init(trade.create_time),
        "update_time": timestamp_init(trade.update_time),
        "delete_time": None if delete_time is None else timestamp_init(delete_time),
        "purge_time": None if purge_time is None else timestamp_init(purge_time),
        "request_id": trade.request_id,
        "import_id": trade.import_id,
        "exec_seq": trade.exec_seq,
        "stop_loss_price_micros": f.stop_loss_price_micros,
        "target_price_micros": f.target_price_micros,
        "planned_risk_micros": f.planned_risk_micros,
        "derivative": None if derivative is None else _derivative_init(derivative),
    }


def derivative_to_proto(derivative: Derivative) -> trade_pb2.DerivativeContract:
    """Map a derivative contract."""
    return trade_pb2.DerivativeContract(**_derivative_init(derivative))


def _derivative_init(derivative: Derivative) -> Any:
    return {
        "underlying": derivative.underlying,
        "expiry_date": derivative.expiry_date,
        "contract_type": enum_to_proto(trade_pb2.ContractType, derivative.contract_type, "CONTRACT_TYPE_"),
        "strike_price_micros": derivative.strike_price_micros,
    }


INT64_MAX = 2**63 - 1


def _int64(value: int) -> int:
    # Per-trade values are bounded (model.MAX_VALUE_MICROS), but a position sums all of a symbol's
    # trades: beyond int64 it is reported saturated (position.proto), never as an INTERNAL error.
    return max(-INT64_MAX, min(INT64_MAX, value))


def position_to_proto(position: Position) -> position_pb2.Position:
    """Map a computed position."""
    message = position_pb2.Position(
        instrument=instrument_pb2.Instrument(
            symbol=position.symbol, exchange=enum_to_proto(instrument_pb2.Exchange, position.exchange, "EXCHANGE_")
        ),
        segment=enum_to_proto(trade_pb2.Segment, position.segment, "SEGMENT_"),
        status=position_pb2.POSITION_STATUS_OPEN if position.is_open else position_pb2.POSITION_STATUS_CLOSED,
        net_quantity_micros=_int64(position.net_quantity_micros),
        average_open_price_micros=_int64(position.average_open_price_micros),
        open_value_micros=_int64(position.open_value_micros),
        open_fees_micros=_int64(position.open_fees_micros),
        realized_pnl_micros=_int64(position.realized_pnl_micros),
        buy_quantity_micros=_int64(position.buy_quantity_micros),
        buy_value_micros=_int64(position.buy_value_micros),
        sell_quantity_micros=_int64(position.sell_quantity_micros),
        sell_value_micros=_int64(position.sell_value_micros),
        total_fees_micros=_int64(position.total_fees_micros),
        trade_count=position.trade_count,
        first_trade_time=timestamp(position.first_trade_time),
        last_trade_time=timestamp(position.last_trade_time),
    )
    if position.derivative is not None:
        message.derivative.CopyFrom(derivative_to_proto(position.derivative))
    if position.break_even_price_micros is not None:
        message.break_even_price_micros = _int64(position.break_even_price_micros)
    if position.lot_size is not None:
        message.lot_size = position.lot_size
    return message


def row_error_to_proto(error: ImportRowError) -> import_pb2.ImportRowError:
    """Map one import row problem."""
    return import_pb2.ImportRowError(
        row_number=error.row_number,
        column=error.column,
        value=error.value[:100],
        reason=error.reason,
        message=error.message,
    )


def event_to_proto(event: TradeEvent) -> trade_event_pb2.TradeEvent:
    """Map a change event (without sequence and resume token, which the stream assigns)."""
    return trade_event_pb2.TradeEvent(
        event_id=event.event_id,
        type=enum_to_proto(trade_event_pb2.TradeEventType, event.type, "TRADE_EVENT_TYPE_"),
        trade=trade_to_proto(event.trade),
        event_time=timestamp(event.event_time),
    )


def event_type_name(event: TradeEvent) -> str:
    """Return the event type as sent in stream fields."""
    return EventType(event.type).value
