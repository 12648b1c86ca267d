"""The stored shape of a trade: one document per trade (`_id` = trade id) with its pending change
events in `outbox` ("e<version>" -> event), and the flag the relay's sweep reads.

This is the shape analytics reads too: change it only together with its contract.
"""

from __future__ import annotations

from typing import Any

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Segment, Side
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    EventType,
    FeeBreakdown,
    Source,
    Status,
    Trade,
    TradeEvent,
    TradeFields,
)

Document = dict[str, Any]
# Documents holding unpublished events carry this flag beside their outbox (set by every write that
# adds an event, unset once the outbox is empty), so the relay's sweep reads an index, not every trade.
PENDING_FLAG = "outbox_pending"
PENDING: dict[str, Any] = {PENDING_FLAG: True}

# Fields a trade stores only when they differ from their default: most trades have no derivative, notes,
# tags, strategy, plan or broker ids, and the local engine decodes whole documents, so a journal's read
# costs what its stored bytes cost (decision 0385: 782 -> ~350 bytes for a plain fill). A missing field
# reads as its default here, in `listing` and in `trademesh.kernel.trade_documents`; the query fields that
# filters compare with defaults (status, source, broker, exchange, side) and the journal order's fields
# (trade_time, create_time, exec_seq, _id) are always stored.
DEFAULTS: dict[str, Any] = {
    "segment": None,
    "derivative": None,
    "isin": "",
    "fee_breakdown": None,
    "charges_source": None,
    "charges_schedule_version": "",
    "category": None,
    "category_inferred": False,
    "strategy": "",
    "strategy_key": "",
    "tags": [],
    "tag_keys": [],
    "notes": "",
    "broker_trade_id": "",
    "broker_order_id": "",
    "broker_account_id": "",
    "delete_time": None,
    "purge_time": None,
    "request_id": "",
    "request_hash": "",
    "import_id": "",
    "stop_loss_price_micros": 0,
    "target_price_micros": 0,
    "planned_risk_micros": 0,
    "broker_key": None,
}

# Stored value -> member, for reading documents: a dict lookup costs a tenth of `Exchange(value)`
# (EnumMeta.__call__), and a listed page rebuilds seven enums per trade.
_EXCHANGES = {member.value: member for member in Exchange}
_SEGMENTS = {member.value: member for member in Segment}
_CONTRACT_TYPES = {member.value: member for member in ContractType}
_SIDES = {member.value: member for member in Side}
_CATEGORIES = {member.value: member for member in Category}
_BROKERS = {member.value: member for member in Broker}
_SOURCES = {member.value: member for member in Source}
_STATUSES = {member.value: member for member in Status}


def _derivative_doc(derivative: Derivative | None) -> Document | None:
    if derivative is None:
        return None
    return {
        "underlying": derivative.underlying,
        "expiry_date": derivative.expiry_date,
        "contract_type": derivative.contract_type.value if derivative.contract_type else None,
        "strike_price_micros": derivative.strike_price_micros,
    }


def trade_to_document(trade: Trade) -> Document:
    """Return the stored form of a trade (without its outbox): fields at their DEFAULTS are left out."""
    f = trade.fields
    assert f.trade_time is not None
    assert f.exchange is not None
    assert f.side is not None
    document: Document = {
        "_id": trade.id,
        "user_id": trade.user_id,
        "symbol": f.symbol,
        "exchange": f.exchange.value,
        "segment": f.segment.value if f.segment else None,
        "derivative": _derivative_doc(f.derivative),
        "isin": f.isin,
        "side": f.side.value,
        "quantity_micros": f.quantity_micros,
        "price_micros": f.price_micros,
        "fees_micros": f.fees_micros,
        "fee_breakdown": f.fee_breakdown.items() if f.fee_breakdown else None,
        "charges_source": f.charges_source.value if f.charges_source else None,
        "charges_schedule_version": f.charges_schedule_version,
        "trade_time": f.trade_time,
        "trading_day": f.trade_time.astimezone(IST).date().isoformat(),
        "category": f.category.value if f.category else None,
        "category_inferred": trade.category_inferred,
        "strategy": f.strategy,
        "strategy_key": f.strategy.casefold(),
        "tags": list(f.tags),
        "tag_keys": [tag.casefold() for tag in f.tags],
        "notes": f.notes,
        "broker": (f.broker or Broker.MANUAL).value,
        "broker_trade_id": f.broker_trade_id,
        "broker_order_id": f.broker_order_id,
        "broker_account_id": f.broker_account_id,
        "source": trade.source.value,
        "status": trade.status.value,
        "version": trade.version,
        "create_time": trade.create_time,
        "update_time": trade.update_time,
        "delete_time": trade.delete_time,
        "purge_time": trade.purge_time,
        "request_id": trade.request_id,
        "request_hash": trade.request_hash,
        "import_id": trade.import_id,
        "exec_seq": trade.exec_seq,
        "stop_loss_price_micros": f.stop_loss_price_micros,
        "target_price_micros": f.target_price_micros,
        "planned_risk_micros": f.planned_risk_micros,
        "broker_key": trade.broker_key,
    }
    for name, default in DEFAULTS.items():
        value = document[name]
        # `is` first: most defaults are None; `==` with the type checked, as False == 0 and 0 == False.
        if value is default or (value == default and type(value) is type(default)):
            del document[name]
    return document


def absent_fields(document: Document) -> list[str]:
    """Return the DEFAULTS fields a stored form leaves out (what replacing a stored trade with it unsets)."""
    return [name for name in DEFAULTS if name not in document]


def trade_from_document(document: Document) -> Trade:
    """Rebuild a trade from its stored form (a field left out reads as its default, see DEFAULTS)."""
    get = document.get
    derivative = get("derivative")
    breakdown = get("fee_breakdown")
    segment = get("segment")
    category = get("category")
    fields = TradeFields(
        symbol=document["symbol"],
        exchange=_EXCHANGES[document["exchange"]],
        segment=_SEGMENTS[segment] if segment else None,
        derivative=Derivative(
            underlying=derivative["underlying"],
            expiry_date=derivative["expiry_date"],
            contract_type=_CONTRACT_TYPES[derivative["contract_type"]] if derivative["contract_type"] else None,
            strike_price_micros=derivative["strike_price_micros"],
        )
        if derivative
        else None,
        isin=get("isin", ""),
        side=_SIDES[document["side"]],
        quantity_micros=document["quantity_micros"],
        price_micros=document["price_micros"],
        fees_micros=document["fees_micros"],
        fee_breakdown=FeeBreakdown(
            brokerage=breakdown["brokerage_micros"],
            stt=breakdown["stt_micros"],
            exchange_charges=breakdown["exchange_charges_micros"],
            sebi_charges=breakdown["sebi_charges_micros"],
            stamp_duty=breakdown["stamp_duty_micros"],
            gst=breakdown["gst_micros"],
            other=breakdown["other_micros"],
        )
        if breakdown
        else None,
        # Trades written before charges had sources carry neither key: no source, fees as typed.
        charges_source=ChargesSource(source) if (source := get("charges_source")) else None,
        charges_schedule_version=get("charges_schedule_version", ""),
        trade_time=document["trade_time"],
        category=_CATEGORIES[category] if category else None,
        strategy=get("strategy", ""),
        tags=tuple(get("tags", ())),
        notes=get("notes", ""),
        broker=_BROKERS[document["broker"]],
        broker_trade_id=get("broker_trade_id", ""),
        broker_order_id=get("broker_order_id", ""),
        broker_account_id=get("broker_account_id", ""),
        # Trades written before plans existed carry none of these keys (decision 0230).
        stop_loss_price_micros=get("stop_loss_price_micros", 0),
        target_price_micros=get("target_price_micros", 0),
        planned_risk_micros=get("planned_risk_micros", 0),
    )
    return Trade(
        id=document["_id"],
        user_id=document["user_id"],
        fields=fields,
        category_inferred=get("category_inferred", False),
        source=_SOURCES[document["source"]],
        status=_STATUSES[document["status"]],
        version=document["version"],
        create_time=document["create_time"],
        update_time=document["update_time"],
        delete_time=get("delete_time"),
        purge_time=get("purge_time"),
        request_id=get("request_id", ""),
        request_hash=get("request_hash", ""),
        import_id=get("import_id", ""),
        broker_key=get("broker_key"),
        exec_seq=get("exec_seq", 0),
    )


def event_to_document(event: TradeEvent) -> Document:
    """Return the stored form of a pending event (with the trade as of its version)."""
    return {
        "event_id": event.event_id,
        "type": event.type.value,
        "version": event.trade.version,
        "event_time": event.event_time,
        "trade": trade_to_document(event.trade),
    }


def event_from_document(document: Document) -> TradeEvent:
    """Rebuild a pending event."""
    return TradeEvent(
        event_id=document["event_id"],
        type=EventType(document["type"]),
        trade=trade_from_document(document["trade"]),
        event_time=document["event_time"],
    )


def pending_events(document: Document) -> list[TradeEvent]:
    """Return a trade document's unpublished events, oldest version first."""
    return sorted(
        (event_from_document(item) for item in (document.get("outbox") or {}).values()), key=lambda e: e.trade.version
    )


def outbox_key(event: TradeEvent) -> str:
    return f"e{event.trade.version}"
