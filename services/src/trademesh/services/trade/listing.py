"""ListTrades' read model: a page of stored trade documents mapped straight to the response's messages.

A listed page is read, never changed, so it skips the domain `Trade`: rebuilding 50 frozen dataclasses
per page (`trade_from_document`) cost more than building the messages (decision 0350). The result is
the same message, field for field, as `trade_init(trade_from_document(document))`; a property test
(tests/trade/test_listing_read_model.py) holds the two paths to equal serialized bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.instruments import ContractType, Exchange, Segment
from trademesh.kernel.lots import Side, divide_half_even
from trademesh.services.core.timestamps import timestamp_init
from trademesh.services.trade.mapping import enum_to_proto
from trademesh.services.trade.model import Broker, Category, ChargesSource, ListedTrade, Source, Status
from trademesh.trade.v1 import trade_pb2

_FEE_KEYS = (
    "brokerage_micros",
    "stt_micros",
    "exchange_charges_micros",
    "sebi_charges_micros",
    "stamp_duty_micros",
    "gst_micros",
    "other_micros",
)


def _numbers(kind: type[StrEnum], descriptor: Any, prefix: str) -> dict[Any, int]:
    # Stored value -> proto number; an empty or missing value (None, "") is the proto's 0, as the domain
    # path's None is. A value the enum does not know raises KeyError, as the domain path's lookup does.
    numbers: dict[Any, int] = {member.value: enum_to_proto(descriptor, member, prefix) for member in kind}
    return numbers | {None: 0, "": 0}


_EXCHANGES = _numbers(Exchange, instrument_pb2.Exchange, "EXCHANGE_")
_SEGMENTS = _numbers(Segment, trade_pb2.Segment, "SEGMENT_")
_SIDES = _numbers(Side, trade_pb2.Side, "SIDE_")
_CATEGORIES = _numbers(Category, trade_pb2.TradeCategory, "TRADE_CATEGORY_")
_BROKERS = _numbers(Broker, instrument_pb2.Broker, "BROKER_")
_SOURCES = _numbers(Source, trade_pb2.TradeSource, "TRADE_SOURCE_")
_STATUSES = _numbers(Status, trade_pb2.TradeStatus, "TRADE_STATUS_")
_CHARGES_SOURCES = _numbers(ChargesSource, trade_pb2.ChargesSource, "CHARGES_SOURCE_")
_CONTRACT_TYPES = _numbers(ContractType, trade_pb2.ContractType, "CONTRACT_TYPE_")


def listed_trades_to_proto(trades: Sequence[ListedTrade]) -> Any:
    """Return the initializer of a repeated Trade field for a listed page (see `mapping.trades_to_proto`)."""
    return [stored_trade_init(trade.row) for trade in trades]


def stored_trade_init(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fields of a stored trade's message as a constructor initializer (sub-messages as dicts)."""
    get = document.get
    derivative = get("derivative")
    breakdown = get("fee_breakdown")
    delete_time = get("delete_time")
    purge_time = get("purge_time")
    quantity = document["quantity_micros"]
    price = document["price_micros"]
    return {
        "id": document["_id"],
        "user_id": document["user_id"],
        "instrument": {"symbol": document["symbol"], "exchange": _EXCHANGES[document["exchange"]]},
        "segment": _SEGMENTS[get("segment")],
        "isin": get("isin", ""),
        "side": _SIDES[document["side"]],
        "quantity_micros": quantity,
        "price_micros": price,
        "value_micros": divide_half_even(quantity * price, 1_000_000),
        "fees_micros": document["fees_micros"],
        "fee_breakdown": {key: breakdown[key] for key in _FEE_KEYS} if breakdown else None,
        # Trades written before charges had sources carry neither key (store.documents).
        "charges_source": _CHARGES_SOURCES[get("charges_source")],
        "charges_schedule_version": get("charges_schedule_version", ""),
        "trade_time": timestamp_init(document["trade_time"]),
        "category": _CATEGORIES[get("category")],
        "category_inferred": get("category_inferred", False),
        "strategy": get("strategy", ""),
        "tags": get("tags", ()),
        "notes": get("notes", ""),
        "broker": _BROKERS[document["broker"]],
        "broker_trade_id": get("broker_trade_id", ""),
        "broker_order_id": get("broker_order_id", ""),
        "broker_account_id": get("broker_account_id", ""),
        "source": _SOURCES[document["source"]],
        "status": _STATUSES[document["status"]],
        "version": document["version"],
        "etag": f"v{document['version']}",
        "create_time": timestamp_init(document["create_time"]),
        "update_time": timestamp_init(document["update_time"]),
        "delete_time": None if delete_time is None else timestamp_init(delete_time),
        "purge_time": None if purge_time is None else timestamp_init(purge_time),
        "request_id": get("request_id", ""),
        "import_id": get("import_id", ""),
        "exec_seq": get("exec_seq", 0),
        # Trades written before plans existed carry none of these keys (decision 0230).
        "stop_loss_price_micros": get("stop_loss_price_micros", 0),
        "target_price_micros": get("target_price_micros", 0),
        "planned_risk_micros": get("planned_risk_micros", 0),
        "derivative": None
        if not derivative
        else {
            "underlying": derivative["underlying"],
            "expiry_date": derivative["expiry_date"],
            "contract_type": _CONTRACT_TYPES[derivative["contract_type"]],
            "strike_price_micros": derivative["strike_price_micros"],
        },
    }
