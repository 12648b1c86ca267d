"""Synthetic trade journals for the benchmarks: deterministic fills in the trade store's own shape.

A user's fills alternate BUY and SELL over ten NSE symbols, a minute apart from 2020-01-01 09:15 IST, with
varying quantities and prices; documents come from the store's `trade_to_document`, so the shape cannot
drift from what the trade service writes. Dev-only (benchmarks), like the rest of `trademesh.devstack`.

The pieces every synthetic journal shares (`trademesh.devstack.position_journal` uses them too): `journal_trade`
wraps a fill's fields in an ACTIVE trade whose id is derived from namespace, user and index; `document_batches`
turns a fill generator into batches of store documents; `insert_batches` writes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from trademesh.kernel.instruments import Exchange, Segment
from trademesh.kernel.lots import Side
from trademesh.services.trade.model import (
    Broker,
    Category,
    Source,
    Status,
    Trade,
    TradeFields,
    derive_id,
)
from trademesh.services.trade.store import trade_to_document

__all__ = [
    "LOAD_BATCH",
    "START",
    "SYMBOLS",
    "document_batches",
    "insert_batches",
    "journal_trade",
    "load_journals",
    "synthetic_trade",
]

Document = dict[str, Any]
SYMBOLS = ["INFY", "TCS", "RELIANCE", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "WIPRO", "AXISBANK"]
START = datetime(2020, 1, 1, 3, 45, tzinfo=UTC)
LOAD_BATCH = 5000


def journal_trade(
    namespace: str,
    user_id: str,
    index: int,
    fields: TradeFields,
    *,
    source: Source,
    recorded: datetime,
    exec_seq: int = 0,
) -> Trade:
    """The user's `index`-th fill with `fields`: ACTIVE, version 1, created and updated at `recorded`, its id
    derived from `namespace`, the user and the index."""
    return Trade(
        id=derive_id(namespace, user_id, str(index)),
        user_id=user_id,
        fields=fields,
        category_inferred=False,
        source=source,
        status=Status.ACTIVE,
        version=1,
        create_time=recorded,
        update_time=recorded,
        exec_seq=exec_seq,
    )


def synthetic_trade(namespace: str, user_id: str, index: int) -> Trade:
    """The user's `index`-th fill (its id derived from `namespace`, the user and the index)."""
    moment = START + timedelta(minutes=index)
    fields = TradeFields(
        symbol=SYMBOLS[index % len(SYMBOLS)],
        exchange=Exchange.NSE,
        segment=Segment.EQUITY,
        side=Side.BUY if index % 2 == 0 else Side.SELL,
        quantity_micros=(1 + index % 50) * 1_000_000,
        price_micros=(100 + index % 900) * 1_000_000 + 50_000,
        trade_time=moment,
        category=Category.SWING,
        broker=Broker.MANUAL,
    )
    return journal_trade(namespace, user_id, index, fields, source=Source.MANUAL, recorded=moment)


def document_batches(fill: Callable[[str, int], Trade], user_ids: list[str], per_user: int) -> Iterator[list[Document]]:
    """The store documents of `fill(user_id, index)` for every user and index below `per_user`, `LOAD_BATCH` at a
    time."""
    batch: list[Document] = []
    for user_id in user_ids:
        for index in range(per_user):
            batch.append(trade_to_document(fill(user_id, index)))
            if len(batch) == LOAD_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


async def insert_batches(
    collection: AsyncCollection[Document],
    batches: Iterator[list[Document]],
    workers: int = 1,
    progress_of: int | None = None,
) -> int:
    """Insert every batch (insert_many, `workers` at once); with `progress_of` (the total) print progress about
    every tenth of it. Return how many were inserted."""
    done = 0
    started = time.perf_counter()
    step = max(LOAD_BATCH, (progress_of or 0) // 10)

    async def worker() -> None:
        nonlocal done
        for batch in batches:  # a shared generator: each batch goes to one worker
            result = await collection.insert_many(batch, ordered=False)
            before, done = done, done + len(result.inserted_ids)
            if progress_of is not None and (done // step != before // step or done == progress_of):
                elapsed = time.perf_counter() - started
                print(f"  {done:>10,} / {progress_of:,}  {elapsed:7.1f}s  {done / elapsed:,.0f} docs/s", flush=True)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done


async def load_journals(
    collection: AsyncCollection[Document], namespace: str, user_ids: list[str], per_user: int, workers: int
) -> int:
    """Insert `per_user` fills for every user (insert_many, `workers` at once), printing progress; return
    how many were inserted."""

    def fill(user_id: str, index: int) -> Trade:
        return synthetic_trade(namespace, user_id, index)

    batches = document_batches(fill, user_ids, per_user)
    return await insert_batches(collection, batches, workers, progress_of=len(user_ids) * per_user)
