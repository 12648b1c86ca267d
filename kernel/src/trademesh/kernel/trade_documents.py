"""The contract between the trade service's stored trades and their readers (analytics).

The trade service owns the `trades` collection (one document per trade, `_id` = trade id; written by
`trademesh.services.trade.store.trade_to_document`). Analytics reads it directly, read-only, for speed
(docs/decisions/0060). This module names every field a reader may rely on, the query and projection of
a user's ACTIVE trades, and decodes one document into the typed values a reader needs. Tests on both
sides hold it true: the trade side checks its documents carry these fields with these types, the
analytics side that it reads nothing else. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from trademesh.kernel.instruments import Exchange, Side
from trademesh.kernel.lots import divide_half_even

__all__ = [
    "CHARGE_PROFILE_PROJECTION",
    "COLLECTION",
    "DEFAULTS",
    "FIELD_TYPES",
    "FILL_PROJECTION",
    "JOURNAL_ORDER",
    "TradeChargeProfile",
    "TradeFill",
    "TradeLabels",
    "active_trades_filter",
    "decode_charge_profile",
    "decode_fill",
    "decode_labels",
    "planned_risk",
]

#: The collection the trade service writes.
COLLECTION = "trades"

# The fields a reader may rely on (the stored names).
ID = "_id"
USER_ID = "user_id"
STATUS = "status"
SYMBOL = "symbol"
EXCHANGE = "exchange"
SIDE = "side"
QUANTITY_MICROS = "quantity_micros"
PRICE_MICROS = "price_micros"
FEES_MICROS = "fees_micros"
TRADE_TIME = "trade_time"
CREATE_TIME = "create_time"
#: Execution order among the trades of one batch (import or reconcile) with the same execution time:
#: journal order is (trade_time, create_time, exec_seq, _id). Trades written before it existed read as 0.
EXEC_SEQ = "exec_seq"
#: A trade category name (INTRADAY, SWING, LONG_TERM), or None when the trade has none.
CATEGORY = "category"
VERSION = "version"
#: How a trade is charged (the exit order of an open position is estimated like its latest trade):
#: a trademesh.common.v1.Segment name without prefix (None: unknown), the derivative sub-document (its
#: "contract_type": FUTURE, CALL, PUT or None), the broker name (MANUAL for journal entries), the account.
SEGMENT = "segment"
DERIVATIVE = "derivative"
BROKER = "broker"
BROKER_ACCOUNT_ID = "broker_account_id"

#: The trader's plan (decision 0230), INR micros, 0 when not given: the stop-loss price, the target price and
#: the money planned to be risked on the position the trade opens. Trades written before they existed read as 0.
STOP_LOSS_PRICE_MICROS = "stop_loss_price_micros"
TARGET_PRICE_MICROS = "target_price_micros"
PLANNED_RISK_MICROS = "planned_risk_micros"

#: The journal labels slices filter on (decision 0250): the strategy and the tags, case-folded as the trade
#: service stores them for its own filters ("" and [] when the trade has none).
STRATEGY_KEY = "strategy_key"
TAG_KEYS = "tag_keys"

#: The status of a trade that counts (deleted trades are kept with another status until purged).
ACTIVE = "ACTIVE"

#: Each contract field and the Python types its stored value may have (None: the field may be null).
FIELD_TYPES: dict[str, tuple[type | None, ...]] = {
    ID: (str,),
    USER_ID: (str,),
    STATUS: (str,),
    SYMBOL: (str,),
    EXCHANGE: (str,),
    SIDE: (str,),
    QUANTITY_MICROS: (int,),
    PRICE_MICROS: (int,),
    FEES_MICROS: (int,),
    TRADE_TIME: (datetime,),
    CREATE_TIME: (datetime,),
    EXEC_SEQ: (int,),
    CATEGORY: (str, None),
    VERSION: (int,),
    SEGMENT: (str, None),
    DERIVATIVE: (dict, None),
    BROKER: (str,),
    BROKER_ACCOUNT_ID: (str,),
    STOP_LOSS_PRICE_MICROS: (int,),
    TARGET_PRICE_MICROS: (int,),
    PLANNED_RISK_MICROS: (int,),
    STRATEGY_KEY: (str,),
    TAG_KEYS: (list,),
}

#: The contract fields a stored trade may leave out, and what a missing one reads as (the trade service
#: stores a field only when it differs from its default, decision 0385). Every other field is always stored.
DEFAULTS: dict[str, Any] = {
    CATEGORY: None,
    SEGMENT: None,
    DERIVATIVE: None,
    BROKER_ACCOUNT_ID: "",
    STOP_LOSS_PRICE_MICROS: 0,
    TARGET_PRICE_MICROS: 0,
    PLANNED_RISK_MICROS: 0,
    STRATEGY_KEY: "",
    TAG_KEYS: [],
}

#: Journal order, newest first (a sort specification): the first document per instrument is its latest trade.
JOURNAL_ORDER: list[tuple[str, int]] = [(TRADE_TIME, -1), (CREATE_TIME, -1), (EXEC_SEQ, -1), (ID, -1)]

#: The projection of a trade's charge profile: what `decode_charge_profile` reads.
CHARGE_PROFILE_PROJECTION: dict[str, int] = {
    name: 1 for name in (ID, SYMBOL, EXCHANGE, SEGMENT, DERIVATIVE, BROKER, BROKER_ACCOUNT_ID, CATEGORY)
}

#: The projection of a fill: what `decode_fill` reads.
FILL_PROJECTION: dict[str, int] = {
    name: 1
    for name in (
        ID,
        SYMBOL,
        EXCHANGE,
        SIDE,
        QUANTITY_MICROS,
        PRICE_MICROS,
        FEES_MICROS,
        TRADE_TIME,
        CREATE_TIME,
        EXEC_SEQ,
        CATEGORY,
        VERSION,
        STOP_LOSS_PRICE_MICROS,
        PLANNED_RISK_MICROS,
        SEGMENT,
        BROKER,
        BROKER_ACCOUNT_ID,
        STRATEGY_KEY,
        TAG_KEYS,
    )
}

_EXCHANGES = {member.value: member for member in Exchange}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def active_trades_filter(user_id: str | None = None) -> dict[str, str]:
    """Return the query of a user's ACTIVE trades (every user's with None)."""
    query = {STATUS: ACTIVE}
    if user_id is not None:
        query[USER_ID] = user_id
    return query


class TradeFill(NamedTuple):
    """One stored trade as a fill: what a reader of the journal needs (a tuple: journals can be large)."""

    trade_id: str
    symbol: str
    exchange: Exchange
    buy: bool
    quantity_micros: int
    price_micros: int
    fees_micros: int
    #: Execution time, epoch microseconds.
    time_us: int
    #: When the trade was recorded, epoch microseconds (orders fills with the same execution time).
    create_time_us: int
    category: str | None
    version: int
    #: Execution order within the trade's batch (orders fills with the same execution and create time).
    exec_seq: int = 0
    #: The planned risk (1R) of the position the trade opens, INR micros; 0: no plan (see `planned_risk`).
    planned_risk_micros: int = 0


def planned_risk(quantity_micros: int, price_micros: int, stop_loss_price_micros: int, planned_risk_micros: int) -> int:
    """Return the planned risk (1R) of a position opened by a trade, INR micros; 0 when the trade has no plan.

    The trade's planned risk when given, else |price - stop| x quantity (rounded half-even to a micro) when it
    has a stop (decision 0230).
    """
    if planned_risk_micros > 0:
        return planned_risk_micros
    if stop_loss_price_micros > 0 and quantity_micros > 0:
        return divide_half_even(abs(price_micros - stop_loss_price_micros) * quantity_micros, 1_000_000)
    return 0


def _micros(moment: datetime) -> int:
    # The driver returns naive UTC datetimes unless the client is tz-aware.
    delta = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def decode_fill(document: Mapping[str, Any]) -> TradeFill:
    """Decode one stored trade (projected with FILL_PROJECTION); KeyError/ValueError when it breaks the contract."""
    side = document[SIDE]
    if side not in (Side.BUY, Side.SELL):
        raise ValueError(f"unknown side {side!r}")
    return TradeFill(
        trade_id=str(document[ID]),
        symbol=document[SYMBOL],
        exchange=_EXCHANGES[document[EXCHANGE]],
        buy=side == Side.BUY,
        quantity_micros=int(document[QUANTITY_MICROS]),
        price_micros=int(document[PRICE_MICROS]),
        fees_micros=int(document[FEES_MICROS]),
        time_us=_micros(document[TRADE_TIME]),
        create_time_us=_micros(document[CREATE_TIME]),
        category=document.get(CATEGORY),
        version=int(document[VERSION]),
        exec_seq=int(document.get(EXEC_SEQ, 0)),
        planned_risk_micros=planned_risk(
            int(document[QUANTITY_MICROS]),
            int(document[PRICE_MICROS]),
            int(document.get(STOP_LOSS_PRICE_MICROS) or 0),
            int(document.get(PLANNED_RISK_MICROS) or 0),
        ),
    )


class TradeLabels(NamedTuple):
    """What slices filter a stored trade on besides instrument, side, time and category (decision 0250)."""

    broker: str
    broker_account_id: str
    #: A Segment name without prefix; None: unknown.
    segment: str | None
    #: Case-folded; "" without a strategy.
    strategy_key: str
    #: Case-folded tags.
    tag_keys: tuple[str, ...]


def decode_labels(document: Mapping[str, Any]) -> TradeLabels:
    """Decode a stored trade's labels (projected with FILL_PROJECTION; trades written before read as none)."""
    return TradeLabels(
        broker=str(document.get(BROKER) or "MANUAL"),
        broker_account_id=str(document.get(BROKER_ACCOUNT_ID) or ""),
        segment=document.get(SEGMENT),
        strategy_key=str(document.get(STRATEGY_KEY) or ""),
        tag_keys=tuple(str(tag) for tag in document.get(TAG_KEYS) or ()),
    )


class TradeChargeProfile(NamedTuple):
    """How one stored trade is charged: what estimating the exit order of its position needs."""

    symbol: str
    exchange: Exchange
    segment: str | None
    contract_type: str | None
    broker: str
    broker_account_id: str
    category: str | None


def decode_charge_profile(document: Mapping[str, Any]) -> TradeChargeProfile:
    """Decode one stored trade (projected with CHARGE_PROFILE_PROJECTION); KeyError when it breaks the contract."""
    derivative = document.get(DERIVATIVE)
    return TradeChargeProfile(
        symbol=document[SYMBOL],
        exchange=_EXCHANGES[document[EXCHANGE]],
        segment=document.get(SEGMENT),
        contract_type=derivative.get("contract_type") if derivative else None,
        broker=document[BROKER],
        broker_account_id=document.get(BROKER_ACCOUNT_ID, ""),
        category=document.get(CATEGORY),
    )
