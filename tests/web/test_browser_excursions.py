"""MAE/MFE in the browser end to end (docs/decisions/0270): real stack, real Envoy, headless Chromium.

A user and one round trip closed today are written through the Python SDK at the gateway;
``clients/web/e2e/excursions.mjs`` logs in, opens the calendar's day and reads the round trip's MAE, MFE and
their quality (the one GetDayTrips reports), then finds the MAE/MFE summary on the analytics screen.
Screenshots land in ``test-artifacts/web-excursions/``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.eventually import eventually_sync
from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack
from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.calendar import IST
from trademesh.sdk import connect_sync
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-excursions"
JOURNEY_SECONDS = 120.0
PASSWORD = "Excursion-Horse-42"
SYMBOL = "INFY"


def _trade(side: int, rupees: int) -> trade_service_pb2.CreateTradeRequest:
    trade = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=SYMBOL, exchange=instrument_pb2.EXCHANGE_NSE),
        side=side,  # type: ignore[arg-type]
        quantity_micros=10 * 1_000_000,
        price_micros=rupees * 1_000_000,
        fees_micros=1_000_000,
    )
    trade.trade_time.FromDatetime(datetime.now(UTC))
    return trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade)


def test_the_calendar_day_and_analytics_show_mae_and_mfe(stack: Stack) -> None:
    name = f"mae_{uuid.uuid4().hex[:10]}"
    day = datetime.now(IST).date().isoformat()
    target = stack.url.removeprefix("http://").rstrip("/")
    with connect_sync(target) as client:
        client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        client.trade.CreateTrade(_trade(trade_pb2.SIDE_BUY, 1500))
        client.trade.CreateTrade(_trade(trade_pb2.SIDE_SELL, 1510))
        trips = eventually_sync(
            lambda: client.analytics.GetDayTrips(analytics_service_pb2.GetDayTripsRequest(date=day)).trips,
            within=20,
            interval=0.2,
            until=lambda found: len(found) == 1,
            what="the round trip reaches the day",
        )
    assert trips[0].excursion.quality != 0  # every listed round trip says how it was measured
    env = {
        "TM_URL": stack.url,
        "TM_CHROMIUM": _chromium(),
        "TM_USER": name,
        "TM_PASSWORD": PASSWORD,
        "TM_DAY": day,
        "TM_SYMBOL": SYMBOL,
    }
    run = run_e2e("excursions.mjs", env, artifacts=ARTIFACTS, timeout=JOURNEY_SECONDS)
    assert run.ok, run.failure("excursions journey", stack.logs())
    assert run.steps[:2] == ["logged in", "the day shows MAE and MFE"]
    assert "analytics shows the MAE/MFE summary" in run.steps
