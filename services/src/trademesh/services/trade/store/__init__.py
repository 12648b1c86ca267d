"""The trade store adapter: MongoDB (MongoDB in production, FerretDB locally) behind the `TradeStore` port.

Each trade is one document `_id = trade id`. A write stores the trade *and* its change event (in the
`outbox` object) in one single-document operation, which MongoDB and FerretDB apply atomically, so
an event can never be lost between the write and the publish (docs/decisions/0010).
`documents` owns the stored shape; `mongo` the queries and writes.
"""

from __future__ import annotations

from trademesh.services.trade.store.documents import (
    PENDING_FLAG,
    Document,
    event_from_document,
    event_to_document,
    pending_events,
    trade_from_document,
    trade_to_document,
)
from trademesh.services.trade.store.mongo import MongoTradeStore, ensure_indexes

__all__ = [
    "PENDING_FLAG",
    "Document",
    "MongoTradeStore",
    "ensure_indexes",
    "event_from_document",
    "event_to_document",
    "pending_events",
    "trade_from_document",
    "trade_to_document",
]
