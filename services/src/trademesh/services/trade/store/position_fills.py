"""The positions read of the trade store: a user's ACTIVE trades as lean fills (decision 0370).

ListPositions replays every ACTIVE trade of the user, which for an active trader is 10^4-10^5 trades.
Reading whole documents and rebuilding `Trade`s cost seconds per call; this reads only the fields the
FIFO replay needs (a top-level projection, cheap on FerretDB with patch 0009 and on MongoDB) and maps them
straight to `PositionFill` tuples. The few latest trades a page needs in full are read apart, by id.
"""

from __future__ import annotations

from collections.abc import Iterable

import pymongo
from pymongo.asynchronous.collection import AsyncCollection

from trademesh.kernel.instruments import Exchange, Segment, Side
from trademesh.services.trade.model import Status
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.store.documents import Document
from trademesh.services.trade.store.revisions import JournalRevisions

#: What `position_fill` reads, and nothing else.
FILL_PROJECTION: Document = {
    name: 1
    for name in (
        "trade_time",
        "create_time",
        "exec_seq",
        "symbol",
        "exchange",
        "segment",
        "side",
        "quantity_micros",
        "price_micros",
        "fees_micros",
        "version",
    )
}
#: Documents per reply batch: fewer round trips for a large journal (each fill is ~200 bytes projected).
BATCH_SIZE = 10_000

_EXCHANGES = {member.value: member for member in Exchange}
_SEGMENTS = {member.value: member for member in Segment}
_SIDES = {member.value: member for member in Side}


def position_fill(document: Document) -> PositionFill:
    """Map one projected trade document to its fill."""
    segment = document.get("segment")
    return PositionFill(
        document["trade_time"],
        document["create_time"],
        # Trades written before exec_seq existed carry no key (read as 0, like trade_from_document).
        document.get("exec_seq", 0),
        document["_id"],
        _EXCHANGES[document["exchange"]],
        document["symbol"],
        _SEGMENTS[segment] if segment else None,
        _SIDES[document["side"]],
        document["quantity_micros"],
        document["price_micros"],
        document["fees_micros"],
        document["version"],
    )


def position_query(user_id: str, broker_account_id: str, exchange: Exchange | None, symbol: str) -> Document:
    """Return the query of the user's ACTIVE trades, narrowed by the filters the documents can answer."""
    query: Document = {"user_id": user_id, "status": Status.ACTIVE.value}
    if broker_account_id:
        query["broker_account_id"] = broker_account_id
    if exchange is not None:
        query["exchange"] = exchange.value
    if symbol:
        query["symbol"] = symbol
    return query


async def read_position_fills(
    trades: AsyncCollection[Document],
    bulk_timeout_seconds: float,
    user_id: str,
    broker_account_id: str,
    exchange: Exchange | None,
    symbol: str,
) -> list[PositionFill]:
    """Return the user's ACTIVE trades matching the filters as fills, in no particular order."""
    with pymongo.timeout(bulk_timeout_seconds):
        cursor = trades.find(
            position_query(user_id, broker_account_id, exchange, symbol), FILL_PROJECTION, batch_size=BATCH_SIZE
        )
        # to_list: one await per reply batch, where `async for` awaits once per document.
        documents = await cursor.to_list()
    return [position_fill(document) for document in documents]


class PositionReads:
    """What ListPositions reads of the store (`MongoTradeStore` mixes it in): lean fills and the revision."""

    _trades: AsyncCollection[Document]
    _bulk_timeout: float
    _revisions: JournalRevisions

    async def position_fills(
        self, user_id: str, broker_account_id: str = "", exchange: Exchange | None = None, symbol: str = ""
    ) -> list[PositionFill]:
        """Return the user's ACTIVE trades matching the filters as fills, in no particular order."""
        return await read_position_fills(self._trades, self._bulk_timeout, user_id, broker_account_id, exchange, symbol)

    async def journal_revision(self, user_id: str) -> int | None:
        """Return the user's journal revision (decision 0370)."""
        return await self._revisions.revision(user_id)

    async def bump_revisions(self, user_ids: Iterable[str]) -> None:
        """Move these users' revisions on: writes of their trades were found interrupted (the relay's sweep)."""
        await self._revisions.bump(sorted(set(user_ids)))
