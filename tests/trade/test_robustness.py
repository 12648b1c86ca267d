"""Robustness: fuzzed requests never give INTERNAL; a database outage is UNAVAILABLE with no partial state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, create, equity_trade, new_request_id
from trademesh.common.v1 import instrument_pb2
from trademesh.devstack.processes import FerretDBServer
from trademesh.trade.v1 import import_pb2, trade_pb2, trade_service_pb2, trade_service_pb2_grpc

NewUser = Callable[[], Awaitable[MeshUser]]
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80)
int64 = st.integers(-(2**63), 2**63 - 1)
small_enum = st.integers(0, 9)


@st.composite
def trades(draw: st.DrawFn) -> trade_pb2.Trade:
    message = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(
            symbol=draw(st.one_of(texts, st.sampled_from(["INFY", "NIFTY24DEC24000CE", "M&M"]))),
            exchange=draw(small_enum),  # type: ignore[arg-type]
        ),
        segment=draw(small_enum),  # type: ignore[arg-type]
        side=draw(st.integers(0, 3)),  # type: ignore[arg-type]
        quantity_micros=draw(st.one_of(int64, st.integers(1, 10**9))),
        price_micros=draw(st.one_of(int64, st.integers(1, 10**9))),
        fees_micros=draw(st.one_of(int64, st.just(0))),
        isin=draw(texts),
        category=draw(small_enum),  # type: ignore[arg-type]
        strategy=draw(texts),
        tags=draw(st.lists(texts, max_size=25)),
        notes=draw(st.text(max_size=2100).filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t))),
        broker=draw(small_enum),  # type: ignore[arg-type]
        broker_trade_id=draw(texts),
        broker_order_id=draw(texts),
        broker_account_id=draw(texts),
    )
    if draw(st.booleans()):
        message.trade_time.seconds = draw(st.one_of(int64, st.integers(946_665_000, 1_800_000_000)))
        message.trade_time.nanos = draw(st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(0, 999_999_999)))
    if draw(st.booleans()):
        message.derivative.CopyFrom(
            trade_pb2.DerivativeContract(
                underlying=draw(texts),
                expiry_date=draw(st.one_of(texts, st.sampled_from(["2024-12-26", "2024-02-30", "1999-01-01"]))),
                contract_type=draw(small_enum),  # type: ignore[arg-type]
                strike_price_micros=draw(int64),
            )
        )
    if draw(st.booleans()):
        message.fee_breakdown.CopyFrom(
            trade_pb2.FeeBreakdown(brokerage_micros=draw(int64), gst_micros=draw(st.integers(0, 10**9)))
        )
    return message


@pytest.fixture
def sync_stub(trade: RunningTrade) -> Iterator[trade_service_pb2_grpc.TradeServiceStub]:
    """A blocking stub, for hypothesis (which drives synchronous tests) run in a worker thread."""
    channel = grpc.insecure_channel(f"127.0.0.1:{trade.host.port}")
    yield trade_service_pb2_grpc.TradeServiceStub(channel)
    channel.close()


def _code(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_fuzzed_creates_updates_and_lists_never_give_internal(
    trade: RunningTrade, new_user: NewUser, sync_stub: trade_service_pb2_grpc.TradeServiceStub
) -> None:
    user = await new_user()
    existing = await create(trade.stub, user.metadata, equity_trade())
    meta = user.metadata

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(trades(), st.one_of(st.just(""), texts, st.builds(lambda: str(uuid.uuid4()))))
    def fuzz_create(message: trade_pb2.Trade, request_id: str) -> None:
        request = trade_service_pb2.CreateTradeRequest(request_id=request_id or str(uuid.uuid4()), trade=message)
        assert _code(lambda: sync_stub.CreateTrade(request, metadata=meta, timeout=10)) not in BAD_CODES

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        trades(),
        st.lists(st.one_of(texts, st.sampled_from(sorted(_ALL_PATHS))), max_size=5),
        st.one_of(texts, st.just(existing.etag)),
    )
    def fuzz_update(message: trade_pb2.Trade, paths: list[str], etag: str) -> None:
        message.id = existing.id
        request = trade_service_pb2.UpdateTradeRequest(trade=message, update_mask=FieldMask(paths=paths), etag=etag)
        assert _code(lambda: sync_stub.UpdateTrade(request, metadata=meta, timeout=10)) not in BAD_CODES

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.integers(-(2**31), 2**31 - 1),
        texts,
        texts,
        small_enum,
        small_enum,
        st.booleans(),
        st.one_of(int64, st.just(0)),
        st.one_of(texts, st.sampled_from(["symbol,exchange,side,quantity,price,trade_time\nX,NSE,BUY,1,1,2024-01-01"])),
    )
    def fuzz_reads(
        page_size: int, token: str, symbol: str, status: Any, exchange: Any, deleted: bool, seconds: int, csv: str
    ) -> None:
        listing = trade_service_pb2.ListTradesRequest(
            page_size=page_size,
            page_token=token,
            symbol=symbol,
            status=status,
            exchange=exchange,
            show_deleted=deleted,
        )
        listing.start_time.seconds = seconds
        assert _code(lambda: sync_stub.ListTrades(listing, metadata=meta, timeout=10)) not in BAD_CODES
        positions = trade_service_pb2.ListPositionsRequest(page_size=page_size, page_token=token, status=status)
        assert _code(lambda: sync_stub.ListPositions(positions, metadata=meta, timeout=10)) not in BAD_CODES
        assert (
            _code(lambda: sync_stub.GetTrade(trade_service_pb2.GetTradeRequest(id=token), metadata=meta))
            not in BAD_CODES
        )
        imported = trade_service_pb2.ImportTradesRequest(
            request_id=str(uuid.uuid4()),
            format=exchange % 4,
            content=csv.encode(),
            dry_run=True,
        )
        assert _code(lambda: sync_stub.ImportTrades(imported, metadata=meta, timeout=10)) not in BAD_CODES

    await asyncio.to_thread(fuzz_create)
    await asyncio.to_thread(fuzz_update)
    await asyncio.to_thread(fuzz_reads)


_ALL_PATHS = {
    "category", "strategy", "tags", "notes", "fees_micros", "fee_breakdown", "instrument", "segment", "derivative",
    "isin", "side", "quantity_micros", "price_micros", "trade_time", "broker", "broker_trade_id", "broker_order_id",
    "broker_account_id", "id", "version",
}  # fmt: skip


async def test_unauthenticated_calls_are_rejected(trade: RunningTrade) -> None:
    failure = await expect_failure(trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id="x")))

    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


async def _import_started(url: str, database: str, user_id: str, within: float = 10.0) -> None:
    """Return once the user's import has recorded its start (it then writes its trades)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await eventually(
            lambda: client[database].trade_imports.find_one({"user_id": user_id}),
            within=within,
            interval=0.01,
            what="the import records its start",
        )
    finally:
        await client.close()


@pytest.mark.slow
async def test_database_outage_is_unavailable_and_leaves_no_partial_state(
    restartable_database: FerretDBServer, start_trade: Callable[..., Awaitable[RunningTrade]], new_user: NewUser
) -> None:
    running = await start_trade(mongo_url=restartable_database.url, query_timeout_seconds=2.0)
    user = await new_user()
    kept = await create(running.stub, user.metadata, equity_trade())
    request_id = new_request_id()
    message = equity_trade("TCS")
    rows = "symbol,exchange,side,quantity,price,trade_time,trade_id\n" + "".join(
        f"S{i % 50},NSE,BUY,1,{100 + i % 9},2024-03-15 09:{i % 60:02d},T{i}\n" for i in range(3000)
    )
    import_request = trade_service_pb2.ImportTradesRequest(
        request_id=new_request_id(), format=import_pb2.IMPORT_FORMAT_GENERIC_CSV, content=rows.encode()
    )

    importing = asyncio.create_task(expect_failure(running.stub.ImportTrades(import_request, metadata=user.metadata)))
    await _import_started(restartable_database.url, running.settings.mongo_database, user.user_id)
    restartable_database.kill()
    failed_import = await importing
    failed_create = await expect_failure(
        running.stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=request_id, trade=message), metadata=user.metadata
        )
    )
    failed_update = await expect_failure(
        running.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=trade_pb2.Trade(id=kept.id, notes="lost"),
                update_mask=FieldMask(paths=["notes"]),
                etag=kept.etag,
            ),
            metadata=user.metadata,
        )
    )
    failed_list = await expect_failure(
        running.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)
    )
    restartable_database.restart()

    unchanged = await running.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=kept.id), metadata=user.metadata)
    created = await create(running.stub, user.metadata, message, request_id)
    finished = await running.stub.ImportTrades(import_request, metadata=user.metadata)
    listed = await running.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(page_size=500, import_id=finished.import_id), metadata=user.metadata
    )
    count = len(listed.trades)
    token = listed.next_page_token
    while token:
        page = await running.stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=500, import_id=finished.import_id, page_token=token),
            metadata=user.metadata,
        )
        count += len(page.trades)
        token = page.next_page_token

    assert {failed_import.code, failed_create.code, failed_update.code, failed_list.code} == {
        grpc.StatusCode.UNAVAILABLE
    }
    assert unchanged.trade == kept
    assert created.version == 1
    assert (finished.rows_total, finished.rows_created, finished.rows_duplicate) == (3000, 3000, 0)
    assert count == 3000
