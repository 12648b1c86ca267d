"""The local database server answers the queries our FerretDB patches serve from the `_id` index
(scripts/install-ferretdb.sh, patch 4) exactly as MongoDB would: an `_id` equality beside other
conditions and `_id $in` lists, including the shapes that are not pushed down.

With a MongoDB given (`--mongodb-uri`, see tests/conftest.py) every test also runs against it, so the
expected answers are checked against MongoDB itself, not only against what we believe it answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from tests.conftest import given_mongodb_uri


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    servers = {"local-engine": "local_database_engine"}
    if given_mongodb_uri(metafunc.config) is not None:
        servers["given-mongodb"] = "database_server"
    metafunc.parametrize("server_fixture", list(servers.values()), ids=list(servers))


@pytest.fixture
async def collection(request: pytest.FixtureRequest, server_fixture: str) -> AsyncIterator[Any]:
    url: str = request.getfixturevalue(server_fixture).url
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    docs = client[f"pushdown_{uuid.uuid4().hex[:8]}"]["docs"]
    await docs.insert_many(
        [{"_id": f"d{i}", "n": i, "parity": i % 2} for i in range(1500)]
        + [{"_id": 7, "n": -7, "parity": 1}, {"_id": ObjectId("65a000000000000000000001"), "n": -1, "parity": 1}]
    )
    yield docs
    await client.drop_database(docs.database.name)
    await client.close()


async def _ns(collection: Any, query: dict[str, Any]) -> list[int]:
    return sorted([doc["n"] async for doc in collection.find(query)])


async def test_id_equality_beside_other_conditions(collection: Any) -> None:
    assert await _ns(collection, {"_id": "d10", "parity": 0}) == [10]
    assert await _ns(collection, {"_id": "d10", "parity": 1}) == []
    assert await _ns(collection, {"parity": 0, "_id": "d10", "n": {"$gte": 10}}) == [10]
    assert await _ns(collection, {"_id": "d10", "$or": [{"n": 1}, {"n": 10}]}) == [10]
    assert await _ns(collection, {"_id": ObjectId("65a000000000000000000001"), "parity": 1}) == [-1]
    assert await _ns(collection, {"_id": 7, "parity": 1}) == [-7]  # a number: not pushed down, same answer


async def test_conditional_writes_by_id(collection: Any) -> None:
    missed = await collection.update_one({"_id": "d3", "parity": 0}, {"$set": {"n": 0}})
    assert (missed.matched_count, missed.modified_count) == (0, 0)
    hit = await collection.update_one({"_id": "d3", "parity": 1}, {"$inc": {"n": 100}})
    assert (hit.matched_count, hit.modified_count) == (1, 1)
    assert (await collection.delete_one({"_id": "d4", "parity": 1})).deleted_count == 0
    assert (await collection.delete_one({"_id": "d4", "parity": 0})).deleted_count == 1
    swapped = await collection.find_one_and_update({"_id": "d5", "n": 5}, {"$set": {"n": 55}})
    assert swapped is not None
    assert swapped["n"] == 5
    assert await collection.find_one_and_update({"_id": "d5", "n": 5}, {"$set": {"n": 56}}) is None
    assert await _ns(collection, {"_id": {"$in": ["d3", "d4", "d5"]}}) == [55, 103]


async def test_id_in_lists(collection: Any) -> None:
    assert await _ns(collection, {"_id": {"$in": ["d1", "d2", "nope", "d1"]}}) == [1, 2]
    assert await _ns(collection, {"_id": {"$in": ["d1", "d2", "d3"]}, "parity": 1}) == [1, 3]
    assert await _ns(collection, {"_id": {"$in": []}}) == []
    # Mixed types and lists longer than the pushdown takes are answered by the scan, the same way.
    assert await _ns(collection, {"_id": {"$in": ["d9", 7, ObjectId("65a000000000000000000001")]}}) == [-7, -1, 9]
    many = [f"d{i}" for i in range(1200)] + ["nope"]
    assert await _ns(collection, {"_id": {"$in": many}}) == list(range(1200))
    assert await _ns(collection, {"_id": {"$in": ["d1"], "$ne": "d1"}}) == []
    assert await _ns(collection, {"_id": {"$nin": [f"d{i}" for i in range(2, 1500)]}}) == [-7, -1, 0, 1]
