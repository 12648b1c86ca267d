"""Synthetic trade journals for the benchmarks: deterministic fills in the trade store's own shape.

A user's fills alternate BUY and SELL over ten NSE symbols, a minute apart from 2020-01-01 09:15 IST, with
varying quantities and prices; documents come from the store's `trade_to_document`, so the shape cannot
drift from what the trade service writes. Dev-only (benchmarks), like the rest of `trademesh.devstack`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
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

__all__ = ["START", "SYMBOLS", "load_journals", "synthetic_trade"]

Document = dict[str, Any]
SYMBOLS = ["INFY", "TCS", "RELIANCE", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "WIPRO", "AXISBANK"]
START = datetime(2020, 1, 1, 3, 45, tzinfo=UTC)
LOAD_BATCH = 5000


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
    return Trade(
        id=derive_id(namespace, user_id, str(index)),
        user_id=user_id,
        fields=fields,
        category_inferred=False,
        source=Source.MANUAL,
        status=Status.ACTIVE,
        version=1,
        create_time=moment,
        update_time=moment,
    )


def _batches(namespace: str, user_ids: list[str], per_user: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for user_id in user_ids:
        for index in range(per_user):
            batch.append(trade_to_document(synthetic_trade(namespace, user_id, index)))
            if len(batch) == LOAD_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


async def load_journals(
    collection: AsyncCollection[Document], namespace: str, user_ids: list[str], per_user: int, workers: int
) -> int:
    """Insert `per_user` fills for every user (insert_many, `workers` at once), printing progress; return
    how many were inserted."""
    total = len(user_ids) * per_user
    batches = _batches(namespace, user_ids, per_user)
    done = 0
    started = time.perf_counter()
    step = max(LOAD_BATCH, total // 10)

    async def worker() -> None:
        nonlocal done
        for batch in batches:  # a shared generator: each batch goes to one worker
            result = await collection.insert_many(batch, ordered=False)
            before, done = done, done + len(result.inserted_ids)
            if done // step != before // step or done == total:
                elapsed = time.perf_counter() - started
                print(f"  {done:>10,} / {total:,}  {elapsed:7.1f}s  {done / elapsed:,.0f} docs/s", flush=True)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done
