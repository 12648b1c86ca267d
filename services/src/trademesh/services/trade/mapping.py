"""Proto ⇄ domain mapping for the trade service (used by the servicer and the event publisher)."""

from __future__ import annotations

import functools
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
    )


def trade_to_proto(trade: Trade) -> trade_pb2.Trade:
    """Map a stored trade to its message."""
    f = trade.fields
    assert f.trade_time is not None
    # Sub-messages as dicts (timestamp_init): the constructor builds them in place instead of copying
    # a message built first; a page of 50 trades maps in half the time.
    derivative = f.derivative
    instrument: Any = {"symbol": f.symbol, "exchange": enum_to_proto(instrument_pb2.Exchange, f.exchange, "EXCHANGE_")}
    breakdown: Any = None if f.fee_breakdown is None else f.fee_breakdown.items()
    return trade_pb2.Trade(
        id=trade.id,
        user_id=trade.user_id,
        instrument=instrument,
        segment=enum_to_proto(trade_pb2.Segment, f.segment, "SEGMENT_"),
        isin=f.isin,
        side=enum_to_proto(trade_pb2.Side, f.side, "SIDE_"),
        quantity_micros=f.quantity_micros,
        price_micros=f.price_micros,
        value_micros=divide_half_even(f.quantity_micros * f.price_micros, 1_000_000),
        fees_micros=f.fees_micros,
        fee_breakdown=breakdown,
        charges_source=enum_to_proto(trade_pb2.ChargesSource, f.charges_source, "CHARGES_SOURCE_"),
        charges_schedule_version=f.charges_schedule_version,
        trade_time=timestamp_init(f.trade_time),
        category=enum_to_proto(trade_pb2.TradeCategory, f.category, "TRADE_CATEGORY_"),
        category_inferred=trade.category_inferred,
        strategy=f.strategy,
        tags=f.tags,
        notes=f.notes,
        broker=enum_to_proto(instrument_pb2.Broker, f.broker, "BROKER_"),
        broker_trade_id=f.broker_trade_id,
        broker_order_id=f.broker_order_id,
        broker_account_id=f.broker_account_id,
        source=enum_to_proto(trade_pb2.TradeSource, trade.source, "TRADE_SOURCE_"),
        status=enum_to_proto(trade_pb2.TradeStatus, trade.status, "TRADE_STATUS_"),
        version=trade.version,
        etag=trade.etag,
        create_time=timestamp_init(trade.create_time),
        update_time=timestamp_init(trade.update_time),
        delete_time=None if trade.delete_time is None else timestamp_init(trade.delete_time),
        purge_time=None if trade.purge_time is None else timestamp_init(trade.purge_time),
        request_id=trade.request_id,
        import_id=trade.import_id,
        exec_seq=trade.exec_seq,
        derivative=None if derivative is None else _derivative_init(derivative),
    )


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
