"""F&O expiry against real servers: lot sizes from the fake Kite's instrument master, and the expiry job
(`python -m trademesh.services.trade.expiry`, a real process) on the real database and Redis."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from kiteconnect import KiteConnect

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, create
from trademesh.common.v1 import instrument_pb2
from trademesh.services.brokers.zerodha.fake import FakeKite
from trademesh.services.trade.instruments import HttpInstrumentMaster
from trademesh.trade.v1 import position_pb2, trade_event_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
StartTrade = Callable[..., Awaitable[RunningTrade]]
M = 1_000_000
ENTRY = datetime(2026, 2, 20, 4, 0, tzinfo=UTC)  # four days before the 2026-02-24 expiry
PRICES = "symbol,date,price\nNIFTY,2026-02-24,25512.35\nNIFTY26FEBFUT,2026-02-24,25515\n"


@pytest.fixture
async def kite_master() -> AsyncIterator[str]:
    """The fake Kite's base URL (it serves GET /instruments)."""
    server = FakeKite()
    base_url = await server.start()
    try:
        yield base_url.rstrip("/")
    finally:
        await server.stop()


def fo_trade(
    symbol: str,
    kind: trade_pb2.ContractType.ValueType,
    *,
    strike: int = 0,
    expiry: str = "2026-02-24",
    side: trade_pb2.Side.ValueType = trade_pb2.SIDE_BUY,
    quantity: int = 75,
    price: int = 100,
    when: datetime = ENTRY,
    underlying: str = "NIFTY",
) -> trade_pb2.Trade:
    """Build an NFO trade (quantity in units, price and strike in rupees)."""
    message = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NFO),
        derivative=trade_pb2.DerivativeContract(
            underlying=underlying,
            expiry_date=expiry,
            contract_type=kind,
            strike_price_micros=strike * M,
        ),
        side=side,
        quantity_micros=quantity * M,
        price_micros=price * M,
    )
    message.trade_time.FromDatetime(when)
    return message


async def test_the_kite_client_reads_the_fake_masters_csv(kite_master: str) -> None:
    client = KiteConnect(api_key="any", root=kite_master)
    rows: list[dict[str, Any]] = await asyncio.to_thread(client.instruments, "NFO")
    by_symbol = {row["tradingsymbol"]: row for row in rows}
    assert {row["exchange"] for row in rows} == {"NFO"}
    assert by_symbol["NIFTY26DECFUT"]["lot_size"] == 75
    assert str(by_symbol["NIFTY26DEC26000CE"]["expiry"]) == "2026-12-29"
    assert by_symbol["NIFTY26DEC26000CE"]["strike"] == 26000.0
    everything: list[dict[str, Any]] = await asyncio.to_thread(client.instruments)
    assert {"NSE", "NFO", "BFO"} <= {row["exchange"] for row in everything}


async def test_quantities_must_be_whole_lots_of_the_master(
    start_trade: StartTrade, kite_master: str, new_user: NewUser
) -> None:
    trade = await start_trade(instruments_url=f"{kite_master}/instruments")
    user = await new_user()
    when = datetime.now(UTC) - timedelta(hours=1)
    future = fo_trade("NIFTY26DECFUT", trade_pb2.CONTRACT_TYPE_FUTURE, expiry="2026-12-29", quantity=50, when=when)
    failure = await expect_failure(
        trade.stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=future), metadata=user.metadata
        )
    )
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert list(failure.violations) == ["trade.quantity_micros"]
    assert "lot size of NIFTY26DECFUT: 75 units" in failure.violations["trade.quantity_micros"]

    future.quantity_micros = 150 * M
    created = await create(trade.stub, user.metadata, future)
    bad_update = trade_pb2.Trade(id=created.id, quantity_micros=80 * M)
    update_failure = await expect_failure(
        trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=bad_update, etag=created.etag, update_mask=field_mask_pb2.FieldMask(paths=["quantity_micros"])
            ),
            metadata=user.metadata,
        )
    )
    assert (update_failure.code, list(update_failure.violations)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["trade.quantity_micros"],
    )
    positions = await trade.stub.ListPositions(trade_service_pb2.ListPositionsRequest(), metadata=user.metadata)
    (position,) = positions.positions
    assert position.HasField("lot_size")
    assert position.lot_size == 75


async def _run_job(trade: RunningTrade, prices_url: str, *arguments: str) -> tuple[int, str]:
    settings = trade.settings
    environment = {
        "TRADEMESH_MONGO_URL": settings.mongo_url,
        "TRADEMESH_MONGO_DATABASE": settings.mongo_database,
        "TRADEMESH_REDIS_URL": settings.redis_url,
        "TRADEMESH_AUTH_TARGET": settings.auth_target,
        "TRADEMESH_TOKEN_SECRET": settings.token_secret.get_secret_value(),
        "TRADEMESH_SETTLEMENT_PRICES_URL": prices_url,
        "TRADEMESH_LOG_FORMAT": "text",
        "PATH": "/usr/bin:/bin",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trademesh.services.trade.expiry",
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def _trades(trade: RunningTrade, user: MeshUser) -> dict[str, trade_pb2.Trade]:
    response = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)
    return {t.id: t for t in response.trades}


async def _resume_token(trade: RunningTrade, user: MeshUser) -> str:
    call = trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    token = ""
    async for item in call:
        if item.WhichOneof("item") == "snapshot_end":
            token = item.snapshot_end.resume_token
            break
    call.cancel()
    return token


async def _events_after(trade: RunningTrade, user: MeshUser, resume_token: str, count: int) -> list[Any]:
    call = trade.stub.WatchTrades(
        trade_service_pb2.WatchTradesRequest(resume_token=resume_token), metadata=user.metadata
    )
    events: list[Any] = []
    async for item in call:
        if item.WhichOneof("item") == "event":
            events.append(item.event)
            if len(events) == count:
                break
    call.cancel()
    return events


async def test_the_expiry_job_settles_each_users_open_contracts_once(
    trade: RunningTrade, new_user: NewUser, tmp_path: Path
) -> None:
    alice, bob = await new_user(), await new_user()
    await create(
        trade.stub,
        alice.metadata,
        fo_trade("NIFTY26FEB25000CE", trade_pb2.CONTRACT_TYPE_CALL, strike=25_000, quantity=150),
    )
    await create(
        trade.stub,
        alice.metadata,
        fo_trade("NIFTY26FEBFUT", trade_pb2.CONTRACT_TYPE_FUTURE, side=trade_pb2.SIDE_SELL, price=25_000),
    )
    # No price for FINNIFTY: reported and left open, never guessed.
    await create(
        trade.stub,
        alice.metadata,
        fo_trade("FINNIFTY26FEBFUT", trade_pb2.CONTRACT_TYPE_FUTURE, underlying="FINNIFTY", quantity=65),
    )
    await create(
        trade.stub, bob.metadata, fo_trade("NIFTY26FEB26000PE", trade_pb2.CONTRACT_TYPE_PUT, strike=26_000, price=500)
    )
    # Not expired yet: untouched.
    open_later = fo_trade(
        "NIFTY26DECFUT",
        trade_pb2.CONTRACT_TYPE_FUTURE,
        expiry="2099-12-29",
        when=datetime.now(UTC) - timedelta(hours=1),
    )
    await create(trade.stub, alice.metadata, open_later)
    alice_resume = await _resume_token(trade, alice)
    prices = tmp_path / "settlement.csv"
    prices.write_text(PRICES)

    status, output = await _run_job(trade, prices.as_uri())
    assert status == 0, output

    alice_trades, bob_trades = await _trades(trade, alice), await _trades(trade, bob)
    settled = {t.instrument.symbol: t for t in alice_trades.values() if t.source == trade_pb2.TRADE_SOURCE_SETTLEMENT}
    assert {s: (t.side, t.quantity_micros, t.price_micros) for s, t in settled.items()} == {
        "NIFTY26FEB25000CE": (trade_pb2.SIDE_SELL, 150 * M, 512_350_000),  # 25,512.35 - 25,000
        "NIFTY26FEBFUT": (trade_pb2.SIDE_BUY, 75 * M, 25_515 * M),  # final settlement price
    }
    for fill in settled.values():
        assert fill.charges_source == trade_pb2.CHARGES_SOURCE_COMPUTED
    # Exercise STT on the long call (0.125 % of 512.35 x 150 = 96.07 -> ₹96); a future's settlement pays nothing.
    assert settled["NIFTY26FEB25000CE"].fees_micros == 96 * M
    assert settled["NIFTY26FEB25000CE"].fee_breakdown.stt_micros == 96 * M
    assert settled["NIFTY26FEBFUT"].fees_micros == 0
    for fill in settled.values():
        assert fill.trade_time.ToDatetime(tzinfo=UTC) == datetime(2026, 2, 24, 10, 0, tzinfo=UTC)
    (bob_fill,) = [t for t in bob_trades.values() if t.source == trade_pb2.TRADE_SOURCE_SETTLEMENT]
    assert (bob_fill.side, bob_fill.price_micros) == (trade_pb2.SIDE_SELL, 487_650_000)  # 26,000 - 25,512.35

    events = await _events_after(trade, alice, alice_resume, 2)
    assert {e.type for e in events} == {trade_event_pb2.TRADE_EVENT_TYPE_CREATED}
    assert {e.trade.id for e in events} == {t.id for t in settled.values()}

    positions = await trade.stub.ListPositions(
        trade_service_pb2.ListPositionsRequest(status=position_pb2.POSITION_STATUS_OPEN), metadata=alice.metadata
    )
    assert sorted(p.instrument.symbol for p in positions.positions) == ["FINNIFTY26FEBFUT", "NIFTY26DECFUT"]

    # Idempotent: a second run writes nothing.
    status, output = await _run_job(trade, prices.as_uri())
    assert status == 0, output
    assert await _trades(trade, alice) == alice_trades
    assert await _trades(trade, bob) == bob_trades

    # Cross-user isolation: Bob cannot read Alice's settlement fill.
    hidden = await expect_failure(
        trade.stub.GetTrade(
            trade_service_pb2.GetTradeRequest(id=settled["NIFTY26FEBFUT"].id),
            metadata=bob.metadata,
        )
    )
    assert hidden.code is grpc.StatusCode.NOT_FOUND


async def test_the_job_settles_one_user_with_user_and_fails_on_a_bad_prices_file(
    trade: RunningTrade, new_user: NewUser, tmp_path: Path
) -> None:
    alice, bob = await new_user(), await new_user()
    for user in (alice, bob):
        await create(trade.stub, user.metadata, fo_trade("NIFTY26FEBFUT", trade_pb2.CONTRACT_TYPE_FUTURE))
    prices = tmp_path / "settlement.csv"
    prices.write_text(PRICES)
    status, output = await _run_job(trade, prices.as_uri(), "--user", bob.user_id)
    assert status == 0, output
    assert [t.source for t in (await _trades(trade, alice)).values()] == [trade_pb2.TRADE_SOURCE_MANUAL]
    assert sorted(t.source for t in (await _trades(trade, bob)).values()) == [
        trade_pb2.TRADE_SOURCE_MANUAL,
        trade_pb2.TRADE_SOURCE_SETTLEMENT,
    ]
    broken = tmp_path / "broken.csv"
    broken.write_text("symbol,date,price\nNIFTY,2026-02-24,-1\n")
    status, output = await _run_job(trade, broken.as_uri())
    assert status == 1, output
    assert [t.source for t in (await _trades(trade, alice)).values()] == [trade_pb2.TRADE_SOURCE_MANUAL]


async def test_the_master_adapter_keeps_its_last_good_copy(kite_master: str, tmp_path: Path) -> None:
    master = HttpInstrumentMaster(f"{kite_master}/instruments/BFO", timeout_seconds=5, refresh_seconds=3600)
    assert master.lot_size("BFO", "SENSEX26DECFUT") is None  # nothing loaded yet: nothing listed
    assert await master.refresh()
    assert master.lot_size("BFO", "SENSEX26DECFUT") == 20
    assert master.lot_size("NFO", "NIFTY26DECFUT") is None  # the BFO dump only
    for broken in (f"{kite_master}/missing", (tmp_path / "absent.csv").as_uri(), "ftp://example.com/x.csv"):
        master.url = broken
        assert not await master.refresh()
        assert master.lot_size("BFO", "SENSEX26DECFUT") == 20
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("not,a,master\n1,2,3\n")
    master.url = str(garbage)
    assert not await master.refresh()
    assert master.lot_size("BFO", "SENSEX26DECFUT") == 20
