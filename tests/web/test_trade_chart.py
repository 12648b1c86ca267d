"""The chart of a trade in the browser: real stack, real Envoy, real headless Chromium.

The user and its trades are written through the Python SDK at the gateway: a round trip of INFY minutes ago
(the stack's simulated feed ticks INFY, so its bars exist) at the live price, and a round trip of TCS long before
any bar was recorded. ``clients/web/e2e/trade_chart.mjs`` then opens the calendar's day, the INFY round trip's
chart (candles on a canvas, a marker per fill), switches to 5-minute and day bars, and opens the old round trip
from the trade list, which says plainly that no bars cover it. Screenshots land in ``test-artifacts/web/``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.eventually import eventually_sync
from tests.web.e2e import run_e2e
from tests.web.test_browser import ARTIFACTS, Stack, _chromium, stack  # noqa: F401 - the stack fixture
from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.calendar import IST
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2
from trademesh.sdk import connect_sync
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

PASSWORD = "Candle-Horse-42"
JOURNEY_SECONDS = 150.0


def _instrument(symbol: str) -> instrument_pb2.Instrument:
    return instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE)


def _trade(symbol: str, side: int, price_micros: int, when: datetime) -> trade_service_pb2.CreateTradeRequest:
    trade = trade_pb2.Trade(
        instrument=_instrument(symbol),
        side=side,  # type: ignore[arg-type]
        quantity_micros=10_000_000,
        price_micros=price_micros,
    )
    trade.trade_time.FromDatetime(when)
    return trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade)


def _user_with_round_trips(running: Stack) -> tuple[str, str]:
    """Register a user with a fresh INFY round trip and an old TCS one; return the username and the IST day."""
    name = f"chart_{uuid.uuid4().hex[:10]}"
    target = running.url.removeprefix("http://").rstrip("/")
    with connect_sync(target) as client:
        client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        since = datetime.now(UTC) - timedelta(hours=1)
        bars_request = marketdata_service_pb2.GetBarsRequest(
            instrument=_instrument("INFY"), interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE
        )
        bars_request.start_time.FromDatetime(since)
        eventually_sync(
            lambda: client.marketdata.GetBars(bars_request).bars,
            within=60,
            interval=0.5,
            until=lambda bars: len(bars) >= 2,
            what="two 1-minute INFY bars from the simulated feed",
        )
        quote = client.marketdata.GetQuote(marketdata_service_pb2.GetQuoteRequest(instrument=_instrument("INFY"))).quote
        now = datetime.now(UTC).replace(microsecond=0)
        opened, closed = now - timedelta(minutes=2), now - timedelta(seconds=20)
        client.trade.CreateTrade(_trade("INFY", trade_pb2.SIDE_BUY, quote.last_price_micros, opened))
        client.trade.CreateTrade(_trade("INFY", trade_pb2.SIDE_SELL, quote.last_price_micros + 1_000_000, closed))
        long_ago = datetime(2025, 6, 2, 10, 0, tzinfo=IST)
        client.trade.CreateTrade(_trade("TCS", trade_pb2.SIDE_BUY, 4_000_000_000, long_ago))
        client.trade.CreateTrade(_trade("TCS", trade_pb2.SIDE_SELL, 4_010_000_000, long_ago + timedelta(hours=1)))
        day = closed.astimezone(IST).date().isoformat()
        request = analytics_service_pb2.GetDayTripsRequest(date=day)
        eventually_sync(
            lambda: client.analytics.GetDayTrips(request).trips,
            within=20,
            interval=0.2,
            until=lambda trips: [trip.instrument.symbol for trip in trips] == ["INFY"],
            what="the INFY round trip reaches the day's trips",
        )
    return name, day


def test_the_calendar_opens_a_round_trip_chart_with_candles_and_fill_markers(stack: Stack) -> None:  # noqa: F811
    if not {"marketdata", "analytics", "trade"} <= stack.services:
        pytest.fail(f"the stack runs {sorted(stack.services)}: market data, trade and analytics are needed")
    name, day = _user_with_round_trips(stack)
    env = {
        "TM_URL": stack.url,
        "TM_CHROMIUM": _chromium(),
        "TM_USER": name,
        "TM_PASSWORD": PASSWORD,
        "TM_DAY": day,
        "TM_SYMBOL": "INFY",
        "TM_OLD_SYMBOL": "TCS",
    }
    run = run_e2e("trade_chart.mjs", env, artifacts=ARTIFACTS, timeout=JOURNEY_SECONDS)
    failed = run.failure("trade chart journey", stack.logs())
    assert run.returncode == 0, failed
    assert run.report.get("ok"), failed
    assert {
        "calendar opens the day",
        "round trip chart shows candles and markers",
        "switcher redraws 5-minute and day bars",
        "old round trip says no bars",
    } <= set(run.steps)
    steps = {step["name"]: step for step in run.report["steps"]}
    chart = steps["round trip chart shows candles and markers"]
    assert chart["candles"] >= 2
    assert chart["markers"] == 2
    assert chart["canvases"] >= 1
    assert chart["drawn"]
    assert chart["fills"] == ["buy", "sell"]
    assert chart["hash"].startswith("#/trades/")
    switched = steps["switcher redraws 5-minute and day bars"]
    assert switched["five"]["candles"] >= 1
    assert switched["days"]["candles"] >= 1
    said = steps["old round trip says no bars"]
    assert said["resolution"] == "1d"  # a trip older than 365 days: only day bars could cover it
    assert "bars come from the live feed" in said["said"]
