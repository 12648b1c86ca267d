"""CreateTrade / GetTrade / UpdateTrade / DeleteTrade / UndeleteTrade / ListTrades end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, create, equity_trade, new_request_id
from trademesh.common.v1 import instrument_pb2
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]


async def test_create_then_get(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    request_id = new_request_id()

    created = await create(
        trade.stub,
        user.metadata,
        equity_trade(" infy ", quantity=10, price="1500.5", tags=["Breakout", "breakout", " momentum "]),
        request_id,
    )
    fetched = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=created.id), metadata=user.metadata)

    assert fetched.trade == created
    assert created.user_id == user.user_id
    assert created.instrument.symbol == "INFY"
    assert created.segment == trade_pb2.SEGMENT_EQUITY
    assert created.version == 1
    assert created.etag
    assert created.value_micros == 15_005_000_000
    assert created.status == trade_pb2.TRADE_STATUS_ACTIVE
    assert created.source == trade_pb2.TRADE_SOURCE_MANUAL
    assert created.broker == instrument_pb2.BROKER_MANUAL
    assert created.category == trade_pb2.TRADE_CATEGORY_SWING
    assert created.category_inferred
    assert list(created.tags) == ["Breakout", "momentum"]
    assert created.request_id == request_id


async def test_invalid_trade_lists_every_bad_field(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    bad = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol="IN FY!", exchange=instrument_pb2.EXCHANGE_NFO),
        quantity_micros=0,
        price_micros=-5,
        fees_micros=-1,
        tags=["ok", "bad,tag"],
        notes="\x00",
    )
    bad.trade_time.FromDatetime(datetime.now(UTC) + timedelta(hours=1))

    failure = await expect_failure(
        trade.stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=new_request_id(), trade=bad), metadata=user.metadata
        )
    )

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "trade.instrument.symbol",
        "trade.derivative",
        "trade.side",
        "trade.quantity_micros",
        "trade.price_micros",
        "trade.fees_micros",
        "trade.tags[1]",
        "trade.notes",
        "trade.trade_time",
    } <= set(failure.violations)


async def test_a_trade_worth_more_than_the_value_limit_is_invalid_and_the_largest_allowed_is_exact(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    largest = equity_trade(quantity=100_000, price="100000")  # 10^5 shares at ₹10^5 = ₹10^10 = 10^16 micros
    too_big = equity_trade(quantity=100_001, price="100000")

    failure = await expect_failure(
        trade.stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=new_request_id(), trade=too_big), metadata=user.metadata
        )
    )
    created = await create(trade.stub, user.metadata, largest)
    await create(trade.stub, user.metadata, largest)
    positions = await trade.stub.ListPositions(trade_service_pb2.ListPositionsRequest(), metadata=user.metadata)

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.violations) == {"trade.price_micros"}
    assert created.value_micros == 10**16
    (position,) = positions.positions
    assert position.buy_value_micros == 2 * 10**16
    assert position.net_quantity_micros == 2 * 100_000 * 1_000_000


async def test_request_id_must_be_a_uuid(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()

    failure = await expect_failure(
        trade.stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id="not-a-uuid", trade=equity_trade()), metadata=user.metadata
        )
    )

    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_INVALID")


async def test_retry_returns_the_first_trade_and_reuse_is_already_exists(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    request_id = new_request_id()
    message = equity_trade()

    first = await create(trade.stub, user.metadata, message, request_id)
    again = await create(trade.stub, user.metadata, message, request_id)
    reused = await expect_failure(create(trade.stub, user.metadata, equity_trade(quantity=99), request_id))

    assert again == first
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_same_request_id_from_two_users_are_two_trades(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    request_id = new_request_id()

    first = await create(trade.stub, alice.metadata, equity_trade(), request_id)
    second = await create(trade.stub, bob.metadata, equity_trade(), request_id)

    assert first.id != second.id


async def test_100_concurrent_creates_with_one_request_id_make_one_trade(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    request_id = new_request_id()
    message = equity_trade()

    results = await asyncio.gather(*(create(trade.stub, user.metadata, message, request_id) for _ in range(100)))
    listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)

    assert len({result.id for result in results}) == 1
    assert len(listed.trades) == 1


async def test_duplicate_broker_trade_id_is_already_exists_with_the_trade_id(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    first = await create(trade.stub, user.metadata, equity_trade(broker_trade_id="T-1"))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await create(trade.stub, user.metadata, equity_trade(broker_trade_id="T-1"))

    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    status = rpc_status.from_call(raised.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.reason == "DUPLICATE_BROKER_TRADE"
    assert info.metadata["trade_id"] == first.id


async def test_update_honours_mask_and_etag(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    created = await create(trade.stub, user.metadata, equity_trade(notes="old"))
    patch = trade_pb2.Trade(id=created.id, notes="new notes", strategy="Breakout", quantity_micros=1)

    updated = await trade.stub.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=patch, update_mask=FieldMask(paths=["notes", "strategy"]), etag=created.etag
        ),
        metadata=user.metadata,
    )
    stale = await expect_failure(
        trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=patch, update_mask=FieldMask(paths=["notes"]), etag=created.etag
            ),
            metadata=user.metadata,
        )
    )

    assert updated.trade.notes == "new notes"
    assert updated.trade.strategy == "Breakout"
    assert updated.trade.quantity_micros == created.quantity_micros
    assert updated.trade.version == 2
    assert updated.trade.etag != created.etag
    assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")


@pytest.mark.parametrize(
    ("paths", "etag", "bad_field"),
    [
        (["user_id"], "x", "update_mask.paths[0]"),
        (["notes", "instrument.symbol"], "x", "update_mask.paths[1]"),
        (["*"], "x", "update_mask.paths[0]"),
        ([], "x", "update_mask"),
        (["notes"], "", "etag"),
    ],
)
async def test_update_rejects_bad_masks(
    trade: RunningTrade, new_user: NewUser, paths: list[str], etag: str, bad_field: str
) -> None:
    user = await new_user()
    created = await create(trade.stub, user.metadata, equity_trade())

    failure = await expect_failure(
        trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=trade_pb2.Trade(id=created.id), update_mask=FieldMask(paths=paths), etag=etag
            ),
            metadata=user.metadata,
        )
    )

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field in failure.violations


async def test_50_concurrent_updates_with_one_etag_have_one_winner(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    created = await create(trade.stub, user.metadata, equity_trade())

    async def update(index: int) -> grpc.StatusCode:
        try:
            await trade.stub.UpdateTrade(
                trade_service_pb2.UpdateTradeRequest(
                    trade=trade_pb2.Trade(id=created.id, notes=f"writer {index}"),
                    update_mask=FieldMask(paths=["notes"]),
                    etag=created.etag,
                ),
                metadata=user.metadata,
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(update(index) for index in range(50)))
    final = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=created.id), metadata=user.metadata)

    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.ABORTED) == 49
    assert final.trade.version == 2


async def test_delete_is_soft_and_undelete_restores(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    created = await create(trade.stub, user.metadata, equity_trade())

    deleted = await trade.stub.DeleteTrade(
        trade_service_pb2.DeleteTradeRequest(id=created.id, etag=created.etag), metadata=user.metadata
    )
    again = await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=created.id), metadata=user.metadata)
    active = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)
    with_deleted = await trade.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(show_deleted=True), metadata=user.metadata
    )
    positions = await trade.stub.ListPositions(trade_service_pb2.ListPositionsRequest(), metadata=user.metadata)
    frozen = await expect_failure(
        trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=trade_pb2.Trade(id=created.id, notes="x"),
                update_mask=FieldMask(paths=["notes"]),
                etag=deleted.trade.etag,
            ),
            metadata=user.metadata,
        )
    )
    restored = await trade.stub.UndeleteTrade(
        trade_service_pb2.UndeleteTradeRequest(id=created.id), metadata=user.metadata
    )

    assert deleted.trade.status == trade_pb2.TRADE_STATUS_DELETED
    assert deleted.trade.version == 2
    assert deleted.trade.purge_time.ToDatetime() - deleted.trade.delete_time.ToDatetime() == timedelta(days=30)
    assert again.trade == deleted.trade
    assert list(active.trades) == []
    assert [t.id for t in with_deleted.trades] == [created.id]
    assert list(positions.positions) == []
    assert (frozen.code, frozen.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TRADE_DELETED")
    assert restored.trade.status == trade_pb2.TRADE_STATUS_ACTIVE
    assert restored.trade.version == 3
    assert not restored.trade.HasField("delete_time")


async def test_other_users_trade_is_not_found_on_every_rpc(trade: RunningTrade, new_user: NewUser) -> None:
    owner, stranger = await new_user(), await new_user()
    created = await create(trade.stub, owner.metadata, equity_trade(broker_trade_id="OWN-1"))
    meta = stranger.metadata
    mask = FieldMask(paths=["notes"])

    calls: list[Awaitable[Any]] = [
        trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=created.id), metadata=meta),
        trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=trade_pb2.Trade(id=created.id, notes="mine"), update_mask=mask, etag=created.etag
            ),
            metadata=meta,
        ),
        trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=created.id), metadata=meta),
        trade.stub.UndeleteTrade(trade_service_pb2.UndeleteTradeRequest(id=created.id), metadata=meta),
    ]
    failures = [await expect_failure(call) for call in calls]
    listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=meta)
    positions = await trade.stub.ListPositions(trade_service_pb2.ListPositionsRequest(), metadata=meta)
    unknown = await expect_failure(
        trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id="0" * 32), metadata=owner.metadata)
    )
    # The stranger may use the same broker trade id: keys are per user.
    theirs = await create(trade.stub, meta, equity_trade(broker_trade_id="OWN-1"))

    assert [(f.code, f.reason) for f in failures] == [(grpc.StatusCode.NOT_FOUND, "TRADE_NOT_FOUND")] * 4
    assert (unknown.code, unknown.message) == (failures[0].code, failures[0].message)
    assert list(listed.trades) == []
    assert list(positions.positions) == []
    assert theirs.id != created.id


async def test_list_filters_and_keyset_pages(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    base = datetime.now(UTC) - timedelta(days=3)
    for index in range(7):
        await create(
            trade.stub,
            user.metadata,
            equity_trade(
                "TCS" if index % 2 else "INFY",
                when=base + timedelta(minutes=index),
                tags=["even"] if index % 2 == 0 else [],
                strategy="Breakout",
            ),
        )
    seen: list[str] = []
    token = ""
    while True:
        page = await trade.stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=3, page_token=token), metadata=user.metadata
        )
        seen += [t.id for t in page.trades]
        if len(seen) == 3:
            # A trade inserted between pages (newer than the cursor) must not shift the rest.
            await create(trade.stub, user.metadata, equity_trade("WIPRO", when=base + timedelta(hours=5)))
        token = page.next_page_token
        if not token:
            break
    everything = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=500), metadata=user.metadata)
    infy = await trade.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(symbol=" infy ", tag="EVEN", strategy="breakout"), metadata=user.metadata
    )
    window = await trade.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(
            start_time=_stamp(base + timedelta(minutes=2)), end_time=_stamp(base + timedelta(minutes=4))
        ),
        metadata=user.metadata,
    )

    times = [t.trade_time.ToDatetime() for t in everything.trades]
    assert times == sorted(times, reverse=True)
    assert len(seen) == 7
    assert len(set(seen)) == 7
    assert seen == [t.id for t in everything.trades if t.instrument.symbol != "WIPRO"]
    assert {t.instrument.symbol for t in infy.trades} == {"INFY"}
    assert len(infy.trades) == 4
    assert len(window.trades) == 2


async def test_page_token_with_other_filters_or_tampered_is_invalid(trade: RunningTrade, new_user: NewUser) -> None:
    user, other = await new_user(), await new_user()
    for _ in range(3):
        await create(trade.stub, user.metadata, equity_trade())
    page = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=1), metadata=user.metadata)

    attempts = [
        trade.stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=1, page_token=page.next_page_token, symbol="TCS"),
            metadata=user.metadata,
        ),
        trade.stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=1, page_token=page.next_page_token + "x"),
            metadata=user.metadata,
        ),
        trade.stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=1, page_token=page.next_page_token),
            metadata=other.metadata,
        ),
        trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=-1), metadata=user.metadata),
    ]
    failures = [await expect_failure(call) for call in attempts]

    assert [f.reason for f in failures[:3]] == ["PAGE_TOKEN_INVALID"] * 3
    assert all(f.code == grpc.StatusCode.INVALID_ARGUMENT for f in failures)


async def test_category_is_inferred_intraday_for_a_round_trip_on_one_day(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    day = datetime(2024, 3, 15, 4, 0, tzinfo=UTC)  # 09:30 IST
    buy = await create(trade.stub, user.metadata, equity_trade(when=day))
    sell = await create(
        trade.stub, user.metadata, equity_trade(side=trade_pb2.SIDE_SELL, when=day + timedelta(hours=2))
    )
    chosen = await create(
        trade.stub,
        user.metadata,
        equity_trade(when=day + timedelta(hours=3), category=trade_pb2.TRADE_CATEGORY_LONG_TERM),
    )
    buy_now = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=buy.id), metadata=user.metadata)

    assert buy.category == trade_pb2.TRADE_CATEGORY_SWING
    assert sell.category == trade_pb2.TRADE_CATEGORY_INTRADAY
    assert buy_now.trade.category == trade_pb2.TRADE_CATEGORY_INTRADAY
    assert buy_now.trade.version == 2
    assert (chosen.category, chosen.category_inferred) == (trade_pb2.TRADE_CATEGORY_LONG_TERM, False)


async def test_a_sell_sees_the_days_buy_among_other_symbols(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    day = datetime(2024, 3, 15, 4, 0, tzinfo=UTC)
    infy = await create(trade.stub, user.metadata, equity_trade(when=day))
    tcs = await create(trade.stub, user.metadata, equity_trade(symbol="TCS", when=day))
    # A symbol with "." is a group of its own.
    await create(trade.stub, user.metadata, equity_trade(symbol="BAJAJ.AUTO", when=day))

    # A sell of INFY the same day sees the buy; TCS's group is untouched.
    sell = await create(trade.stub, user.metadata, equity_trade(side=trade_pb2.SIDE_SELL, when=day))
    infy_now = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=infy.id), metadata=user.metadata)
    tcs_now = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=tcs.id), metadata=user.metadata)

    assert sell.category == trade_pb2.TRADE_CATEGORY_INTRADAY
    assert infy_now.trade.category == trade_pb2.TRADE_CATEGORY_INTRADAY
    assert tcs_now.trade.category == trade_pb2.TRADE_CATEGORY_SWING


def _stamp(moment: datetime) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
