"""The analytics side of the trade-document contract: the trade adapter asks for and reads only the fields
trademesh.kernel.trade_documents names (no database: a recording collection stands in)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from trademesh.kernel import trade_documents
from trademesh.services.analytics.model import Category
from trademesh.services.analytics.store import MongoTradeSource

TIME = datetime(2026, 3, 2, 4, 0)  # naive UTC, as the driver returns it


class StrictDocument(dict[str, Any]):
    """A stored document that fails on any field outside the projection."""

    def __getitem__(self, key: str) -> Any:
        assert key in trade_documents.FILL_PROJECTION, f"analytics read {key!r}, which the contract does not name"
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        assert key in trade_documents.FILL_PROJECTION, f"analytics read {key!r}, which the contract does not name"
        return super().get(key, default)


class RecordingCollection:
    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents
        self.queries: list[tuple[Mapping[str, Any], Mapping[str, int]]] = []

    async def _iterate(self) -> AsyncIterator[StrictDocument]:
        for document in self.documents:
            yield StrictDocument({k: v for k, v in document.items() if k in trade_documents.FILL_PROJECTION})

    def find(self, query: Mapping[str, Any], projection: Mapping[str, int], **_: Any) -> AsyncIterator[StrictDocument]:
        self.queries.append((query, projection))
        return self._iterate()


class Database(dict[str, RecordingCollection]):
    pass


def stored(trade_id: str, side: str, category: str | None) -> dict[str, Any]:
    return {
        "_id": trade_id,
        "user_id": "user-1",
        "status": "ACTIVE",
        "symbol": "INFY",
        "exchange": "NSE",
        "side": side,
        "quantity_micros": 2_000_000,
        "price_micros": 100_000_000,
        "fees_micros": 1_000_000,
        "trade_time": TIME,
        "create_time": TIME,
        "category": category,
        "version": 2,
        "notes": "never read",
        "strategy": "never read",
    }


async def test_the_trade_adapter_reads_only_the_contract_fields() -> None:
    trades = RecordingCollection([stored("t1", "BUY", "SWING"), stored("t2", "SELL", None)])
    source = MongoTradeSource(Database({trade_documents.COLLECTION: trades}), timeout_seconds=5)  # type: ignore[arg-type]
    columns = await source.load_fills("user-1")
    [(query, projection)] = trades.queries
    assert query == trade_documents.active_trades_filter("user-1")
    assert set(query) <= set(trade_documents.FIELD_TYPES)
    assert projection == trade_documents.FILL_PROJECTION
    fills = [columns.fill(i) for i in range(len(columns))]
    assert [(f.trade_id, f.buy, f.category, f.trade_version) for f in fills] == [
        ("t1", True, Category.SWING, 2),
        ("t2", False, Category.UNCATEGORIZED, 2),
    ]
    assert fills[0].time_us == int(TIME.replace(tzinfo=UTC).timestamp()) * 1_000_000
