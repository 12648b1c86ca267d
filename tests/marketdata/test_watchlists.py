"""Watchlists over real gRPC with the real database: isolation, etags, limits, bad input, streaming a list."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from tests.conftest import MeshUser
from tests.marketdata.helpers import nse
from tests.rpc import expect_failure
from trademesh.marketdata.v1 import marketdata_service_pb2 as messages
from trademesh.marketdata.v1 import watchlist_pb2


def new_list(name: str, *symbols: str) -> messages.CreateWatchlistRequest:
    return messages.CreateWatchlistRequest(watchlist=watchlist_pb2.Watchlist(name=name, instruments=nse(*symbols)))


async def test_lists_persist_per_user_and_other_users_get_not_found(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    alice, bob = await new_user(), await new_user()
    banks = (
        await stub.CreateWatchlist(new_list("Banks", "SBIN", "HDFCBANK", "SBIN"), metadata=alice.metadata)
    ).watchlist
    await stub.CreateWatchlist(new_list("IT", "INFY", "TCS"), metadata=alice.metadata)
    assert [i.symbol for i in banks.instruments] == ["SBIN", "HDFCBANK"]
    assert banks.id
    assert banks.etag
    assert banks.create_time.seconds > 0
    listed = await stub.ListWatchlists(messages.ListWatchlistsRequest(), metadata=alice.metadata)
    assert [item.name for item in listed.watchlists] == ["Banks", "IT"]
    assert not (await stub.ListWatchlists(messages.ListWatchlistsRequest(), metadata=bob.metadata)).watchlists
    for call in (
        stub.GetWatchlist(messages.GetWatchlistRequest(id=banks.id), metadata=bob.metadata),
        stub.DeleteWatchlist(messages.DeleteWatchlistRequest(id=banks.id), metadata=bob.metadata),
        stub.UpdateWatchlist(
            messages.UpdateWatchlistRequest(
                watchlist=watchlist_pb2.Watchlist(id=banks.id, name="Mine"), update_mask=FieldMask(paths=["name"])
            ),
            metadata=bob.metadata,
        ),
        stub.SubscribeQuotes(messages.SubscribeQuotesRequest(watchlist_id=banks.id), metadata=bob.metadata).read(),
    ):
        failure = await expect_failure(call)
        assert failure.code == grpc.StatusCode.NOT_FOUND
        assert failure.reason == "WATCHLIST_NOT_FOUND"
    stored = (await stub.GetWatchlist(messages.GetWatchlistRequest(id=banks.id), metadata=alice.metadata)).watchlist
    assert stored == banks


async def test_a_stale_etag_is_aborted_and_reorder_and_delete_apply(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()
    first = (await stub.CreateWatchlist(new_list("One", "INFY"), metadata=user.metadata)).watchlist
    second = (await stub.CreateWatchlist(new_list("Two"), metadata=user.metadata)).watchlist
    update = messages.UpdateWatchlistRequest(
        watchlist=watchlist_pb2.Watchlist(id=first.id, etag=first.etag, name="Renamed", instruments=nse("TCS", "INFY")),
        update_mask=FieldMask(paths=["name", "instruments"]),
    )
    changed = (await stub.UpdateWatchlist(update, metadata=user.metadata)).watchlist
    assert changed.name == "Renamed"
    assert [i.symbol for i in changed.instruments] == ["TCS", "INFY"]
    assert changed.etag != first.etag
    stale = await expect_failure(stub.UpdateWatchlist(update, metadata=user.metadata))
    assert stale.code == grpc.StatusCode.ABORTED
    assert stale.reason == "ETAG_MISMATCH"
    stale_delete = await expect_failure(
        stub.DeleteWatchlist(messages.DeleteWatchlistRequest(id=first.id, etag=first.etag), metadata=user.metadata)
    )
    assert stale_delete.code == grpc.StatusCode.ABORTED
    reordered = await stub.ReorderWatchlists(
        messages.ReorderWatchlistsRequest(ids=[second.id, first.id]), metadata=user.metadata
    )
    assert [item.name for item in reordered.watchlists] == ["Two", "Renamed"]
    mismatch = await expect_failure(
        stub.ReorderWatchlists(messages.ReorderWatchlistsRequest(ids=[second.id]), metadata=user.metadata)
    )
    assert mismatch.code == grpc.StatusCode.INVALID_ARGUMENT
    assert mismatch.reason == "WATCHLIST_ORDER_MISMATCH"
    await stub.DeleteWatchlist(messages.DeleteWatchlistRequest(id=first.id, etag=changed.etag), metadata=user.metadata)
    listed = await stub.ListWatchlists(messages.ListWatchlistsRequest(), metadata=user.metadata)
    assert [item.id for item in listed.watchlists] == [second.id]


async def test_concurrent_creates_respect_the_list_limit(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()
    results = await asyncio.gather(
        *(stub.CreateWatchlist(new_list(f"L{n}"), metadata=user.metadata) for n in range(24)), return_exceptions=True
    )
    codes = [result.code().name if isinstance(result, grpc.aio.AioRpcError) else "OK" for result in results]
    # Racing writers retry on the fresh book; one that keeps losing is ABORTED, never over the limit.
    assert set(codes) <= {"OK", "FAILED_PRECONDITION", "ABORTED"}
    assert codes.count("OK") <= 20
    stored = len((await stub.ListWatchlists(messages.ListWatchlistsRequest(), metadata=user.metadata)).watchlists)
    assert stored == codes.count("OK")
    for n in range(stored, 20):
        await stub.CreateWatchlist(new_list(f"M{n}"), metadata=user.metadata)
    failure = await expect_failure(stub.CreateWatchlist(new_list("L99"), metadata=user.metadata))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "WATCHLIST_LIMIT_REACHED"
    listed = await stub.ListWatchlists(messages.ListWatchlistsRequest(), metadata=user.metadata)
    assert len(listed.watchlists) == 20


async def test_bad_input_is_invalid_argument_with_field_violations(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()
    cases = [
        (new_list("", "INFY"), "INVALID_WATCHLIST_NAME", "watchlist.name"),
        (new_list("x" * 65), "INVALID_WATCHLIST_NAME", "watchlist.name"),
        (new_list("A", "infy"), "INVALID_INSTRUMENT", "watchlist.instruments[0].symbol"),
        (new_list("A", "INFY", "NOPE"), "UNKNOWN_INSTRUMENTS", "watchlist.instruments[1]"),
        (new_list("A", *[f"X{n}" for n in range(101)]), "TOO_MANY_INSTRUMENTS", "watchlist.instruments"),
    ]
    for request, reason, field in cases:
        failure = await expect_failure(stub.CreateWatchlist(request, metadata=user.metadata))
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
        assert field in failure.violations
    empty_id = await expect_failure(stub.GetWatchlist(messages.GetWatchlistRequest(), metadata=user.metadata))
    assert empty_id.code == grpc.StatusCode.INVALID_ARGUMENT
    assert empty_id.reason == "INVALID_WATCHLIST_ID"
    created = (await stub.CreateWatchlist(new_list("A", "INFY"), metadata=user.metadata)).watchlist
    no_mask = await expect_failure(
        stub.UpdateWatchlist(messages.UpdateWatchlistRequest(watchlist=created), metadata=user.metadata)
    )
    assert no_mask.reason == "INVALID_UPDATE_MASK"
    both = await expect_failure(
        stub.SubscribeQuotes(
            messages.SubscribeQuotesRequest(watchlist_id=created.id, instruments=nse("TCS")), metadata=user.metadata
        ).read()
    )
    assert both.code == grpc.StatusCode.INVALID_ARGUMENT
    assert both.reason == "CONFLICTING_INSTRUMENTS"
    listed = await stub.ListWatchlists(messages.ListWatchlistsRequest(), metadata=user.metadata)
    assert [item.name for item in listed.watchlists] == ["A"]


async def test_subscribe_quotes_streams_a_stored_list(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()
    created = (await stub.CreateWatchlist(new_list("Mix", "TCS", "INFY", "ITC"), metadata=user.metadata)).watchlist
    call = stub.SubscribeQuotes(messages.SubscribeQuotesRequest(watchlist_id=created.id), metadata=user.metadata)
    first = await asyncio.wait_for(call.read(), 5)
    assert first.batch.snapshot
    assert [quote.instrument.symbol for quote in first.batch.quotes] == ["TCS", "INFY", "ITC"]
    call.cancel()
    empty = (await stub.CreateWatchlist(new_list("Empty"), metadata=user.metadata)).watchlist
    failure = await expect_failure(
        stub.SubscribeQuotes(messages.SubscribeQuotesRequest(watchlist_id=empty.id), metadata=user.metadata).read()
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "NO_INSTRUMENTS"
