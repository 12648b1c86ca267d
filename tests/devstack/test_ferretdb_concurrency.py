"""The local engine under concurrency: MongoDB's single-document atomicity without a server-wide
lock (scripts/ferretdb-patches/0004), and clients that give up or leak cursors cannot wedge it
(0003, and 0005's chunked reads).

Each test runs against the local engine (and, with ``--mongodb-uri``, also against that MongoDB,
where the same answers must hold)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pymongo
import pytest
from pymongo import AsyncMongoClient, ReturnDocument

from tests.conftest import given_mongodb_uri
from tests.eventually import eventually
from trademesh.devstack.processes import FerretDBServer

Doc = dict[str, Any]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_fixture" not in metafunc.fixturenames:
        return
    servers = {"local-engine": "local_database_engine"}
    if given_mongodb_uri(metafunc.config) is not None:
        servers["given-mongodb"] = "database_server"
    metafunc.parametrize("server_fixture", list(servers.values()), ids=list(servers))


@pytest.fixture
async def database(request: pytest.FixtureRequest, server_fixture: str) -> AsyncIterator[Any]:
    url: str = request.getfixturevalue(server_fixture).url
    client: AsyncMongoClient[Doc] = AsyncMongoClient(url, maxPoolSize=200)
    db = client[f"concurrency_{uuid.uuid4().hex[:8]}"]
    yield db
    await client.drop_database(db.name)
    await client.close()


async def test_concurrent_increments_are_all_kept(database: Any) -> None:
    await database.c.insert_one({"_id": "x", "n": 0})
    await asyncio.gather(*[database.c.update_one({"_id": "x"}, {"$inc": {"n": 1}}) for _ in range(60)])
    await asyncio.gather(*[database.c.find_one_and_update({"_id": "x"}, {"$inc": {"n": 1}}) for _ in range(40)])
    assert (await database.c.find_one({"_id": "x"}))["n"] == 100


async def test_a_version_check_has_one_winner(database: Any) -> None:
    await database.v.insert_one({"_id": "v", "version": 1})
    results = await asyncio.gather(
        *[database.v.update_one({"_id": "v", "version": 1}, {"$set": {"version": 2, "by": i}}) for i in range(20)]
    )
    assert sum(result.modified_count for result in results) == 1


async def test_a_queue_hands_each_job_to_one_worker(database: Any) -> None:
    """find_one_and_update on a non-_id filter: a loser takes the next job, not nothing."""
    await database.q.insert_many([{"_id": i, "state": "PENDING"} for i in range(40)])
    taken = await asyncio.gather(
        *[
            database.q.find_one_and_update(
                {"state": "PENDING"},
                {"$set": {"state": "RUNNING"}},
                sort=[("_id", 1)],
                return_document=ReturnDocument.AFTER,
            )
            for _ in range(50)
        ]
    )
    ids = [job["_id"] for job in taken if job is not None]
    assert sorted(ids) == list(range(40))
    assert await database.q.count_documents({"state": "PENDING"}) == 0


async def test_find_and_delete_returns_each_document_once(database: Any) -> None:
    await database.d.insert_many([{"_id": i} for i in range(30)])
    got = await asyncio.gather(*[database.d.find_one_and_delete({}) for _ in range(40)])
    ids = [doc["_id"] for doc in got if doc is not None]
    assert sorted(ids) == list(range(30))


async def test_a_many_update_racing_single_updates_loses_none(database: Any) -> None:
    await database.m.insert_many([{"_id": i, "group": "g", "n": 0} for i in range(50)])
    await asyncio.gather(
        database.m.update_many({"group": "g"}, {"$inc": {"n": 1}}),
        *[database.m.update_one({"_id": i}, {"$inc": {"n": 10}}) for i in range(50)],
    )
    assert sorted([doc["n"] async for doc in database.m.find({})]) == [11] * 50


async def test_concurrent_upserts_make_one_document(database: Any) -> None:
    await database.u.create_index("key", unique=True)
    await asyncio.gather(
        *[database.u.update_one({"_id": "k"}, {"$inc": {"n": 1}}, upsert=True) for _ in range(30)],
        *[database.u.find_one_and_update({"key": "k2"}, {"$inc": {"n": 1}}, upsert=True) for _ in range(30)],
    )
    assert (await database.u.find_one({"_id": "k"}))["n"] == 30
    assert [doc["n"] async for doc in database.u.find({"key": "k2"})] == [30]


async def test_delete_many_racing_updates_deletes_only_what_still_matches(database: Any) -> None:
    await database.r.insert_many([{"_id": i, "state": "OLD"} for i in range(100)])
    deleted, *_ = await asyncio.gather(
        database.r.delete_many({"state": "OLD"}),
        *[database.r.update_one({"_id": i}, {"$set": {"state": "KEPT"}}) for i in range(0, 100, 2)],
    )
    left = [doc async for doc in database.r.find({})]
    assert all(doc["state"] == "KEPT" for doc in left)
    assert deleted.deleted_count + len(left) == 100


async def test_abandoned_cursors_do_not_hold_up_other_clients(database: Any) -> None:
    """Clients that open cursors and never finish them (no killCursors) once took every pooled
    database connection, and every writer queued behind them: the server stopped answering."""
    await database.big.insert_many([{"_id": i, "user": f"u{i % 10}"} for i in range(3000)])
    abandoned = []
    for i in range(150):  # more than FerretDB's 100 pooled SQLite connections
        cursor = database.big.find({"user": f"u{i % 10}"}, batch_size=2)
        await cursor.next()
        abandoned.append(cursor)
    with pymongo.timeout(10):
        await asyncio.gather(
            *[database.big.update_one({"_id": i}, {"$set": {"seen": True}}) for i in range(50)],
            *[database.other.insert_one({"_id": i}) for i in range(50)],
            *[database.big.count_documents({"user": "u1"}) for _ in range(10)],
        )
    assert await database.big.count_documents({"seen": True}) == 50
    for cursor in abandoned:
        await cursor.close()


async def test_a_client_that_gives_up_stops_its_query(local_database_engine: FerretDBServer) -> None:
    """A query whose client gave up must stop consuming the server: the server ends it (as failed)
    while, run to completion, it would still be reading."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(local_database_engine.url)
    db = client[f"concurrency_{uuid.uuid4().hex[:8]}"]
    try:
        await db.slow.insert_many([{"_id": i, "v": i % 97, "pad": "x" * 200} for i in range(40_000)])
        # No index serves this filter and sort: the server reads and sorts all 40,000 documents.
        slow_query = {"$or": [{"v": {"$gt": 10}}, {"pad": {"$exists": False}}]}
        started = time.monotonic()
        await db.slow.find(slow_query).sort("v", -1).limit(1).to_list()
        full = time.monotonic() - started

        async def failed_finds() -> int:
            status = await client.admin.command("serverStatus")
            return int(status["metrics"]["commands"]["find"]["failed"])

        before = await failed_finds()
        # The client gives up after 50 ms (a cancelled task: no maxTimeMS is sent, the socket closes).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(db.slow.find(slow_query).sort("v", -1).limit(1).to_list(), 0.05)

        async def ended() -> bool:
            return await failed_finds() > before

        await eventually(ended, within=full / 2)
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_callers_that_give_up_do_not_break_later_commands(
    database: Any, request: pytest.FixtureRequest, server_fixture: str
) -> None:
    """Callers that give up mid-query (the client closes its connection) once left SQLite
    statements active on pooled connections with an interrupt pending: from then on, other
    clients' finds, updates and inserts failed with ``interrupted (9)`` or ``database is locked
    (517)`` until the server restarted (scripts/ferretdb-patches/0006)."""
    await database.c.create_index([("u", 1), ("t", -1)])
    await database.c.insert_many([{"u": i % 20, "t": i, "pad": "x" * 100} for i in range(20_000)])
    url: str = request.getfixturevalue(server_fixture).url
    impatient: AsyncMongoClient[Doc] = AsyncMongoClient(url, maxPoolSize=100)
    impatient_db = impatient[database.name]

    async def give_up_repeatedly(seed: int) -> None:
        for i in range(40):
            # patience from 1 to 30 ms: some give up before the query starts, some while the
            # server is sending its answer
            patience = 0.001 + ((seed * 40 + i) % 30) / 1000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    impatient_db.c.find({"u": (seed + i) % 20}).sort("t", -1).limit(50).to_list(),
                    patience,
                )

    try:
        await asyncio.gather(*[give_up_repeatedly(seed) for seed in range(16)])
    finally:
        await impatient.close()

    async def a_user_at_work(i: int) -> None:
        await database.c.find({"u": i % 20}).sort("t", -1).limit(50).to_list()
        await database.c.update_one({"t": i}, {"$inc": {"n": 1}})
        await database.later.insert_one({"i": i})

    with pymongo.timeout(30):
        await asyncio.gather(*[a_user_at_work(i) for i in range(300)])
    assert await database.c.count_documents({"n": 1}) == 300
    assert await database.later.count_documents({}) == 300
