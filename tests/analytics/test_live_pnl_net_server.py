"""WatchPnl net of charges against real servers: trade (charges computed), analytics, Redis, FerretDB.

The issue's INFY case: Positions and Live P&L must show the same realized P&L for a partially closed
position (decision 0150); then random partial-exit histories of several users.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.analytics.conftest import Mesh, create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, pnl_pb2
from trademesh.analytics.v1 import position_pb2 as live_position_pb2
from trademesh.trade.v1 import import_pb2, position_pb2, trade_pb2, trade_service_pb2

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
MICROS = 1_000_000
ALL_TIME = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME)
TRADEBOOKS = Path(__file__).parent.parent / "trade" / "data"
PARTIAL_EXITS = (
    "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
    "order_execution_time\n"
    "HDFCBANK,INE040A01034,2024-04-01,NSE,EQ,EQ,buy,false,10.000000,1450.500000,50001,1500000001,2024-04-01T09:20:00\n"
    "HDFCBANK,INE040A01034,2024-04-02,NSE,EQ,EQ,sell,false,4.000000,1475.250000,50002,1500000002,2024-04-02T10:00:00\n"
    "SBIN,INE062A01020,2024-04-03,NSE,EQ,EQ,sell,false,20.000000,760.000000,50003,1500000003,2024-04-03T09:30:00\n"
    "SBIN,INE062A01020,2024-04-03,NSE,EQ,EQ,buy,false,5.000000,752.100000,50004,1500000004,2024-04-03T11:00:00\n"
)


async def receive(stream: Any) -> analytics_service_pb2.WatchPnlResponse:
    message = await asyncio.wait_for(stream.read(), timeout=10)
    assert isinstance(message, analytics_service_pb2.WatchPnlResponse)
    return message


async def list_positions(mesh: Mesh, user: MeshUser) -> list[position_pb2.Position]:
    positions: list[position_pb2.Position] = []
    token = ""
    while True:
        page = await mesh.trade.ListPositions(
            trade_service_pb2.ListPositionsRequest(page_size=2, page_token=token), metadata=user.metadata
        )
        positions.extend(page.positions)
        token = page.next_page_token
        if not token:
            return positions


async def applied(mesh: Mesh, user: MeshUser, fills: int) -> bool:
    report = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
    return report.activity.fill_count == fills


async def snapshot(mesh: Mesh, user: MeshUser) -> pnl_pb2.PnlUpdate:
    stream = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=user.metadata)
    try:
        first = (await receive(stream)).update
    finally:
        stream.cancel()
    assert first.snapshot
    return first


def assert_agree(update: pnl_pb2.PnlUpdate, positions: list[position_pb2.Position]) -> None:
    assert update.totals.realized_pnl_all_time_micros == sum(p.realized_pnl_micros for p in positions)
    listed = {(p.instrument.symbol, p.instrument.exchange): p for p in positions if p.net_quantity_micros}
    live = {(p.instrument.symbol, p.instrument.exchange): p for p in update.positions}
    assert set(live) == set(listed)
    for key, position in live.items():
        reference = listed[key]
        assert position.position_realized_pnl_micros == reference.realized_pnl_micros, key
        assert position.open_fees_micros == reference.open_fees_micros, key
        assert position.HasField("break_even_price_micros") == reference.HasField("break_even_price_micros"), key
        assert position.break_even_price_micros == reference.break_even_price_micros, key
    assert update.totals.open_fees_micros == sum(p.open_fees_micros for p in listed.values())


async def test_a_partially_closed_position_shows_the_same_realized_pnl_in_positions_and_live_pnl(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    opened = datetime.now(UTC) - timedelta(hours=3)
    buy = await create_trade(mesh.trade, user.metadata, equity_trade("INFY", BUY, 10, 1500, opened))
    sell = await create_trade(
        mesh.trade, user.metadata, equity_trade("INFY", SELL, 4, 1600, opened + timedelta(hours=1))
    )
    # Charges computed by the trade service.
    assert buy.fees_micros > 0
    assert sell.fees_micros > 0
    await eventually(lambda: applied(mesh, user, 2))

    update = await snapshot(mesh, user)
    [listed] = await list_positions(mesh, user)
    [live] = update.positions

    # Net, partial exit included: 4 x 100 - the sell's charges - 4/10 of the buy's.
    expected = 400 * MICROS - sell.fees_micros - round(buy.fees_micros * 4 / 10)
    assert abs(listed.realized_pnl_micros - expected) <= 1
    assert live.position_realized_pnl_micros == listed.realized_pnl_micros
    assert update.totals.realized_pnl_all_time_micros == listed.realized_pnl_micros
    assert live.realized_pnl_micros == 400 * MICROS  # the gross field keeps its meaning
    assert live.open_fees_micros == listed.open_fees_micros
    assert live.break_even_price_micros == listed.break_even_price_micros
    assert 1500 * MICROS < live.break_even_price_micros < 1520 * MICROS
    assert not live.HasField("net_unrealized_pnl_micros")  # no market data: unmarked
    assert_agree(update, [listed])
    # GetAnalytics' open positions carry the same net figures.
    [reported] = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report.open_positions
    assert reported.position_realized_pnl_micros == listed.realized_pnl_micros
    assert reported.break_even_price_micros == listed.break_even_price_micros
    assert reported.open_fees_micros == listed.open_fees_micros


async def test_realized_all_time_is_the_sum_of_list_positions_over_random_partial_exit_histories(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    rng = random.Random(20261205)
    for _ in range(3):
        user = await new_user()
        moment = datetime.now(UTC) - timedelta(days=3)
        held = {"INFY": 0, "TCS": 0, "SBIN": 0}
        count = rng.randint(6, 12)
        for _ in range(count):
            symbol = rng.choice(sorted(held))
            # Mostly partial exits of what is held; sometimes a fill that crosses zero.
            if held[symbol] and rng.random() < 0.6:
                units = rng.randint(1, abs(held[symbol]) + (3 if rng.random() < 0.2 else 0))
                side = SELL if held[symbol] > 0 else BUY
            else:
                units = rng.randint(1, 30)
                side = BUY if rng.random() < 0.7 else SELL
            held[symbol] += units if side == BUY else -units
            moment += timedelta(minutes=rng.randint(1, 90))
            trade = equity_trade(symbol, side, units, rng.randint(100, 3000), moment)
            if rng.random() < 0.3:
                trade.fees_micros = rng.randint(0, 50 * MICROS)
                trade.charges_source = trade_pb2.CHARGES_SOURCE_MANUAL
            await create_trade(mesh.trade, user.metadata, trade)
        await eventually(lambda user=user, count=count: applied(mesh, user, count))  # type: ignore[misc]
        assert_agree(await snapshot(mesh, user), await list_positions(mesh, user))


async def test_live_marks_give_net_unrealized_after_open_and_exit_charges(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh()
    user = await new_user()
    await create_trade(mesh.trade, user.metadata, equity_trade("INFY", BUY, 10, 1500))
    await eventually(lambda: applied(mesh, user, 1))
    stream = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=user.metadata)
    try:

        async def marked() -> live_position_pb2.OpenPosition | None:
            update = (await receive(stream)).update
            for position in update.positions:
                if position.HasField("net_unrealized_pnl_micros"):
                    return position
            return None

        position = await eventually(marked, interval=0)
    finally:
        stream.cancel()
    assert position.estimated_exit_charges_micros > 0
    assert position.net_unrealized_pnl_micros == (
        position.unrealized_pnl_micros - position.open_fees_micros - position.estimated_exit_charges_micros
    )


async def test_imported_tradebooks_with_partial_exits_agree_between_positions_and_live_pnl(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    # Zerodha tradebooks carry no charges (all COMPUTED): equity, F&O (open futures and options: derivative
    # schedules) and partial exits of a long and a short.
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    contents = [
        (TRADEBOOKS / "zerodha_tradebook_eq.csv").read_bytes(),
        (TRADEBOOKS / "zerodha_tradebook_fo.csv").read_bytes(),
        PARTIAL_EXITS.encode(),
    ]
    created = 0
    for content in contents:
        response = await mesh.trade.ImportTrades(
            trade_service_pb2.ImportTradesRequest(
                request_id=str(uuid.uuid4()), format=import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV, content=content
            ),
            metadata=user.metadata,
            timeout=120,
        )
        assert response.rows_failed == 0
        created += response.rows_created
    await eventually(lambda: applied(mesh, user, created))

    update = await snapshot(mesh, user)
    positions = await list_positions(mesh, user)
    assert_agree(update, positions)
    live = {p.instrument.symbol: p for p in update.positions}
    assert live["HDFCBANK"].position_realized_pnl_micros < 4 * 24_750_000  # 4 x 24.75 gross, less charges
    assert live["SBIN"].HasField("break_even_price_micros")
    assert live["SBIN"].break_even_price_micros < 760 * MICROS  # a short breaks even below its entry
    # Derivatives are charged by their segment's schedules (the contract type read from the stored trade).
    assert live["BANKNIFTY24MARFUT"].HasField("break_even_price_micros")
    assert live["BANKNIFTY24MARFUT"].break_even_price_micros < 46_850 * MICROS
