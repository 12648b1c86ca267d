"""Watchlists and the P&L calendar in the browser: real stack, real Envoy, real headless Chromium.

The user and its trades are written through the Python SDK at the gateway; ``clients/web/e2e/lists_calendar.mjs``
then logs in, builds and reorders watchlists by drag, reloads the page and finds them as they were, and
opens the calendar's month and day. Screenshots land in ``test-artifacts/web/``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.eventually import eventually_sync
from tests.web.e2e import run_e2e
from tests.web.test_browser import ARTIFACTS, Stack, _chromium, stack  # noqa: F401 - the stack fixture
from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.calendar import IST
from trademesh.sdk import connect_sync
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

PASSWORD = "Calendar-Horse-42"
DAY = "2026-11-09"
JOURNEY_SECONDS = 150.0


def _trade(symbol: str, side: int, units: int, rupees: int, hour: int) -> trade_service_pb2.CreateTradeRequest:
    trade = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        side=side,  # type: ignore[arg-type]
        quantity_micros=units * 1_000_000,
        price_micros=rupees * 1_000_000,
        fees_micros=1_000_000,
    )
    trade.trade_time.FromDatetime(datetime(2026, 11, 9, hour, 0, tzinfo=IST))
    return trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade)


def _user_with_trades(running: Stack) -> tuple[str, int]:
    """Register a user and write one winning round trip on DAY; return the username and the day's net."""
    name = f"cal_{uuid.uuid4().hex[:10]}"
    target = running.url.removeprefix("http://").rstrip("/")
    with connect_sync(target) as client:
        client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        client.trade.CreateTrade(_trade("HDFC", trade_pb2.SIDE_BUY, 10, 100, 10))
        client.trade.CreateTrade(_trade("HDFC", trade_pb2.SIDE_SELL, 10, 110, 11))
        request = analytics_service_pb2.GetPnlCalendarRequest(start_date=DAY, end_date=DAY)
        calendar = eventually_sync(
            lambda: client.analytics.GetPnlCalendar(request).calendar,
            within=20,
            interval=0.2,
            until=lambda found: found.trading_day_count == 1,
            what="the round trip reaches the calendar",
        )
    return name, calendar.days[0].net_pnl_micros


def test_watchlists_survive_reload_and_the_calendar_opens_a_day(stack: Stack) -> None:  # noqa: F811
    if not {"marketdata", "analytics", "trade"} <= stack.services:
        pytest.fail(f"the stack runs {sorted(stack.services)}: market data, trade and analytics are needed")
    name, net = _user_with_trades(stack)
    assert net == 98_000_000  # 10 x 10 gross - 2 typed charges
    env = {
        "TM_URL": stack.url,
        "TM_CHROMIUM": _chromium(),
        "TM_USER": name,
        "TM_PASSWORD": PASSWORD,
        "TM_DAY": DAY,
        "TM_DAY_NET": str(net),
        "TM_DAY_SYMBOL": "HDFC",
    }
    run = run_e2e("lists_calendar.mjs", env, artifacts=ARTIFACTS, timeout=JOURNEY_SECONDS)
    report = run.report
    failed = run.failure("browser journey", stack.logs())
    assert run.returncode == 0, failed
    assert report.get("ok"), failed
    names = run.steps
    assert {
        "default list streams",
        "reordered by drag",
        "reordered by buttons",
        "lists survive reload",
        "calendar shows the day",
        "day lists its round trips",
    } <= set(names)
    survived = next(step for step in report["steps"] if step["name"] == "lists survive reload")
    assert survived["tabs"] == ["Bank stocks", "My watchlist"]
    assert survived["rows"] == ["ICICIBANK", "SBIN"]
    assert run.elapsed < JOURNEY_SECONDS
