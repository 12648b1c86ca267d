"""The local engine's query planner (scripts/ferretdb-patches/0005) gives FerretDB's own answers.

Two servers from the same binary hold the same documents and indexes: one plans queries onto its
indexes, the other runs with ``--test-disable-pushdown``, so every document is read and filtered,
sorted, skipped and limited by FerretDB's handler in Go (the evaluation the patch must not change).
Every query below, generated from a fixed seed over many value types (with arrays, objects, nulls
and missing fields where a plan must fall back), must return the same documents in the same order.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from trademesh.devstack.processes import FerretDBServer

Doc = dict[str, Any]

USERS = [f"u{i}" for i in range(6)]
BASE = datetime(2024, 1, 1, tzinfo=UTC)
SEED = 20261204


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FerretDBServer, FerretDBServer]]:
    root: Path = tmp_path_factory.mktemp("planner")
    (root / "planned").mkdir()
    (root / "reference").mkdir()
    with (
        FerretDBServer(root / "planned") as planned,
        FerretDBServer(root / "reference", extra_args=["--test-disable-pushdown"]) as reference,
    ):
        yield planned, reference


def _mixed_value(rng: random.Random) -> Any:
    """A value of one of the types MongoDB orders, drawn so that types and values collide."""
    kind = rng.randrange(12)
    small = rng.randrange(-5, 6)
    values: list[Any] = [
        small,
        Int64(small),
        small + 0.5 * rng.choice([0, 1]),
        f"s{rng.randrange(4)}",
        BASE + timedelta(days=small),
        rng.choice([True, False]),
        None,
        ObjectId(f"65a0000000000000000000{rng.randrange(10):02d}"),
        "",
        -0.0,
        2**53 + rng.randrange(3),
        float(2**53),
    ]
    return values[kind]


def _documents(rng: random.Random, *, complex_values: bool) -> list[Doc]:
    docs: list[Doc] = []
    for i in range(600):
        doc: Doc = {
            "_id": f"d{i:04d}",
            "user_id": rng.choice(USERS),
            "trade_time": BASE + timedelta(minutes=rng.randrange(0, 400)),  # collisions on purpose
            "status": rng.choice(["ACTIVE", "DELETED"]),
            "exchange": rng.choice(["NSE", "BSE"]),
            "symbol": rng.choice(["INFY", "TCS", "SBIN"]),
            "n": rng.randrange(50),
        }
        if rng.random() < 0.9:
            doc["v"] = _mixed_value(rng)
        if rng.random() < 0.5:
            doc["email"] = f"e{i}@x"
        if complex_values and rng.random() < 0.05:
            doc["v"] = rng.choice([[1, 7], {"a": 1}, [], ["s1", "s9"]])
        if complex_values and rng.random() < 0.02:
            doc["user_id"] = [rng.choice(USERS), "other"]
        docs.append(doc)
    return docs


INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("user_id", ASCENDING), ("trade_time", DESCENDING), ("_id", DESCENDING)], {}),
    ([("user_id", ASCENDING), ("exchange", ASCENDING), ("symbol", ASCENDING), ("n", ASCENDING)], {}),
    ([("status", ASCENDING), ("v", ASCENDING)], {}),
    ([("v", ASCENDING)], {}),
    ([("email", ASCENDING)], {"unique": True, "sparse": True}),
]


@pytest.fixture(params=["scalars", "with-arrays-and-objects"])
async def collections(
    request: pytest.FixtureRequest, engines: tuple[FerretDBServer, FerretDBServer]
) -> AsyncIterator[tuple[Any, Any, list[Doc]]]:
    docs = _documents(random.Random(SEED), complex_values=request.param != "scalars")
    clients: list[AsyncMongoClient[Doc]] = [AsyncMongoClient(server.url) for server in engines]
    name = f"planner_{uuid.uuid4().hex[:8]}"
    pair = [client[name]["docs"] for client in clients]
    for collection in pair:
        for keys, options in INDEXES:
            await collection.create_index(keys, **options)
        await collection.insert_many([dict(doc) for doc in docs])
    yield pair[0], pair[1], docs
    for client in clients:
        await client.drop_database(name)
        await client.close()


def _queries(rng: random.Random, docs: list[Doc]) -> Iterator[tuple[Doc, list[tuple[str, int]], int, int]]:
    """Yield (filter, sort, skip, limit); every sort ends in `_id` so the order is total."""
    times = [doc["trade_time"] for doc in docs]
    by_time = [("trade_time", DESCENDING), ("_id", DESCENDING)]
    for user in [*USERS, "nobody"]:
        yield {"user_id": user}, by_time, 0, 50
        yield {"user_id": user}, [("trade_time", ASCENDING), ("_id", ASCENDING)], 3, 20
        yield {"user_id": user}, by_time, 0, 0
        cut = rng.choice(times)
        yield {"user_id": user, "trade_time": {"$lt": cut}}, by_time, 0, 25
        yield {"user_id": user, "trade_time": {"$lte": cut}, "$or": [
            {"trade_time": {"$lt": cut}}, {"trade_time": cut, "_id": {"$lt": "d0300"}}
        ]}, by_time, 0, 25  # fmt: skip
        yield {"user_id": user, "trade_time": {"$gte": cut, "$lt": cut + timedelta(hours=2)}}, by_time, 0, 0
        yield {"user_id": user, "exchange": "NSE", "symbol": {"$in": ["INFY", "SBIN"]}}, [("_id", ASCENDING)], 0, 0
        by_n = [("n", DESCENDING), ("_id", ASCENDING)]
        yield {"user_id": user, "exchange": "NSE", "symbol": "TCS", "n": {"$gt": 20}}, by_n, 0, 0
        yield {"user_id": user, "status": "ACTIVE"}, [], 0, 0
    for _ in range(60):
        value = _mixed_value(rng)
        for op in ("$eq", "$gt", "$gte", "$lt", "$lte"):
            yield {"v": {op: value}}, [("v", ASCENDING), ("_id", ASCENDING)], 0, 0
        yield {"status": "ACTIVE", "v": {"$gte": value}}, [("v", DESCENDING), ("_id", DESCENDING)], 0, 10
        yield {"v": {"$in": [value, _mixed_value(rng)]}}, [("_id", ASCENDING)], 0, 0
        yield {"v": value}, [], 0, 0
    yield {}, [("v", ASCENDING), ("_id", ASCENDING)], 0, 0
    yield {}, [("v", DESCENDING), ("_id", DESCENDING)], 5, 30
    yield {"v": {"$exists": False}}, [("_id", ASCENDING)], 0, 0
    yield {"v": None}, [("_id", ASCENDING)], 0, 0
    yield {"email": "e10@x"}, [], 0, 0
    yield {"email": {"$in": ["e1@x", "e2@x", "nobody"]}}, [("_id", ASCENDING)], 0, 0
    yield {"user_id": {"$in": USERS[:2]}, "n": {"$lt": 10}}, [("trade_time", ASCENDING), ("_id", ASCENDING)], 0, 0
    yield {"_id": {"$in": ["d0001", "d0100", "d9999"]}, "status": "ACTIVE"}, [], 0, 0


async def _ids(collection: Any, query: Doc, sort: list[tuple[str, int]], skip: int, limit: int) -> list[str]:
    cursor = collection.find(query, {"_id": 1}, batch_size=40)  # several getMores: chunks continue
    if sort:
        cursor = cursor.sort(sort)
    return [str(doc["_id"]) async for doc in cursor.skip(skip).limit(limit)]


async def test_every_query_answers_as_without_pushdown(collections: tuple[Any, Any, list[Doc]]) -> None:
    planned, reference, docs = collections
    checked = 0
    for query, sort, skip, limit in _queries(random.Random(SEED + 1), docs):
        expected = await _ids(reference, query, sort, skip, limit)
        got = await _ids(planned, query, sort, skip, limit)
        if not sort:
            expected, got = sorted(expected), sorted(got)
        assert got == expected, (query, sort, skip, limit)
        checked += 1
    assert checked > 400


async def test_counts_and_find_and_modify_with_sort_answer_as_without_pushdown(
    collections: tuple[Any, Any, list[Doc]],
) -> None:
    planned, reference, _ = collections
    for user in USERS:
        query = {"user_id": user, "status": "ACTIVE"}
        assert await planned.count_documents(query) == await reference.count_documents(query)
        sort = [("trade_time", DESCENDING), ("_id", DESCENDING)]
        first = [
            await collection.find_one_and_update({"user_id": user}, {"$inc": {"n": 1000}}, sort=sort)
            for collection in (planned, reference)
        ]
        assert first[0] == first[1]


async def test_pages_over_many_chunks_and_tied_keys(engines: tuple[FerretDBServer, FerretDBServer]) -> None:
    """Chunks continue across getMores and across runs of equal sort keys longer than a chunk."""
    clients: list[AsyncMongoClient[Doc]] = [AsyncMongoClient(server.url) for server in engines]
    name = f"planner_{uuid.uuid4().hex[:8]}"
    try:
        pair = [client[name]["docs"] for client in clients]
        rows = [
            # 2,500 documents of u1 share one trade_time: more than the largest chunk (1,024)
            {"_id": f"t{i:05d}", "user_id": f"u{i % 3}", "trade_time": BASE + timedelta(seconds=i // 7500)}
            for i in range(9_000)
        ]
        for collection in pair:
            await collection.create_index([("user_id", ASCENDING), ("trade_time", DESCENDING)])
            await collection.insert_many(rows)
        for sort in ([("trade_time", DESCENDING)], [("trade_time", ASCENDING)]):
            got = [
                sorted([doc["_id"] async for doc in collection.find({"user_id": "u1"}, batch_size=50).sort(sort)])
                for collection in pair
            ]
            assert got[0] == got[1]
            assert len(got[0]) == 3_000
    finally:
        for client in clients:
            await client.drop_database(name)
            await client.close()
