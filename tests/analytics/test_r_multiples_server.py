"""R-multiples end to end (decision 0230): trades with a plan written through the real trade service,
GetAnalytics from the real analytics service (Redis, FerretDB) reports the expectancy in R."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tests.analytics.conftest import Mesh, create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2
from trademesh.trade.v1 import trade_pb2

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
MANUAL = trade_pb2.CHARGES_SOURCE_MANUAL
ALL_TIME = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME)
MICROS = 1_000_000


async def test_get_analytics_reports_the_expectancy_in_r_of_trades_with_stops(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    opened = datetime.now(UTC) - timedelta(hours=3)

    def trade(symbol: str, side: int, units: int, rupees: int, minutes: int, **plan: int) -> trade_pb2.Trade:
        message = equity_trade(symbol, side, units, rupees, opened + timedelta(minutes=minutes), charges_source=MANUAL)
        for name, value in plan.items():
            setattr(message, name, value)
        return message

    # INFY: long 10 @1500, stop 1480 → 1R = 200; out @1540 → +400 = 2R.
    await create_trade(mesh.trade, user.metadata, trade("INFY", BUY, 10, 1500, 0, stop_loss_price_micros=1480 * MICROS))
    await create_trade(mesh.trade, user.metadata, trade("INFY", SELL, 10, 1540, 10))
    # TCS: long 5 @3500, planned risk 500 (the stop 3450 would say 250); out @3400 → -500 = -1R.
    await create_trade(
        mesh.trade,
        user.metadata,
        trade("TCS", BUY, 5, 3500, 20, stop_loss_price_micros=3450 * MICROS, planned_risk_micros=500 * MICROS),
    )
    await create_trade(mesh.trade, user.metadata, trade("TCS", SELL, 5, 3400, 30))
    # WIPRO: no plan → counted, excluded.
    await create_trade(mesh.trade, user.metadata, trade("WIPRO", BUY, 1, 400, 40))
    await create_trade(mesh.trade, user.metadata, trade("WIPRO", SELL, 1, 410, 50))

    async def three_round_trips() -> bool:
        report = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
        return report.performance.round_trip_count == 3

    await eventually(three_round_trips)
    r = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report.r_multiples

    assert (r.planned_round_trip_count, r.unplanned_round_trip_count) == (2, 1)
    assert (r.planned_risk_micros, r.net_pnl_micros) == (700 * MICROS, -100 * MICROS)
    assert r.average_r_milli == 500  # (2000 - 1000) / 2
    assert r.expectancy_r_milli == -143  # -100 / 700 = -0.142857 R
    assert r.win_rate_percent == 50.0
    assert [bucket.round_trip_count for bucket in r.buckets] == [1, 0, 0, 0, 1]
