"""The trade journal's vocabulary: enums, trades, events and their validation rules.

Pure data and rules (no I/O, no gRPC/protobuf/database imports); the rules are those written in
`proto/trademesh/trade/v1/trade.proto`, which is the specification.

The parts: :mod:`.vocabulary` (enums, limits), :mod:`.trades` (trades and events), :mod:`.keys`
(ids, keys, hashes), :mod:`.validation` (the field rules), :mod:`.positions` (filters, positions) and
:mod:`.imports` (import and reconcile results). Import from this package; the parts may move.
"""

from trademesh.services.trade.model.imports import ImportResult, ImportRowError, ParsedRow, ReconcileItem
from trademesh.services.trade.model.keys import (
    broker_key_of,
    content_hash,
    derive_id,
    fingerprint_key,
    now_millis,
    to_millis,
    user_tag,
)
from trademesh.services.trade.model.positions import Position, PositionFilter, TradeFilter, bucket_of, infer_category
from trademesh.services.trade.model.trades import (
    BROKER_FIELDS,
    JOURNAL_FIELDS,
    MASK_ATTRIBUTES,
    FeeBreakdown,
    ListedTrade,
    Trade,
    TradeEvent,
    TradeFields,
    execution_sequences,
    journal_order,
    new_event,
)
from trademesh.services.trade.model.validation import infer_segment, normalize_fields
from trademesh.services.trade.model.vocabulary import (
    DATE_PATTERN,
    EARLIEST_TRADE_TIME,
    ISIN_PATTERN,
    MAX_BROKER_ID_LENGTH,
    MAX_FEES_MICROS,
    MAX_FUTURE_SKEW,
    MAX_NOTES_LENGTH,
    MAX_PRICE_MICROS,
    MAX_QUANTITY_MICROS,
    MAX_STRATEGY_LENGTH,
    MAX_STRIKE_MICROS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_VALUE_MICROS,
    PRINTABLE_ASCII,
    PURGE_AFTER,
    Broker,
    Category,
    ChargesSource,
    EventType,
    Source,
    Status,
)

__all__ = [
    "BROKER_FIELDS",
    "DATE_PATTERN",
    "EARLIEST_TRADE_TIME",
    "ISIN_PATTERN",
    "JOURNAL_FIELDS",
    "MASK_ATTRIBUTES",
    "MAX_BROKER_ID_LENGTH",
    "MAX_FEES_MICROS",
    "MAX_FUTURE_SKEW",
    "MAX_NOTES_LENGTH",
    "MAX_PRICE_MICROS",
    "MAX_QUANTITY_MICROS",
    "MAX_STRATEGY_LENGTH",
    "MAX_STRIKE_MICROS",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MAX_VALUE_MICROS",
    "PRINTABLE_ASCII",
    "PURGE_AFTER",
    "Broker",
    "Category",
    "ChargesSource",
    "EventType",
    "FeeBreakdown",
    "ImportResult",
    "ImportRowError",
    "ListedTrade",
    "ParsedRow",
    "Position",
    "PositionFilter",
    "ReconcileItem",
    "Source",
    "Status",
    "Trade",
    "TradeEvent",
    "TradeFields",
    "TradeFilter",
    "broker_key_of",
    "bucket_of",
    "content_hash",
    "derive_id",
    "execution_sequences",
    "fingerprint_key",
    "infer_category",
    "infer_segment",
    "journal_order",
    "new_event",
    "normalize_fields",
    "now_millis",
    "to_millis",
    "user_tag",
]
