"""``trademesh calendar``: the real command against the running mesh (trades in, the month's calendar out)."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, ok
from tests.eventually import eventually_sync


def test_calendar_shows_a_month_and_a_day(cli: Run, logged_in: str) -> None:
    ok(cli("trades", "add", "buy", "HDFC", "10", "100", "--time", "2026-11-09 10:00", "--fees", "1"))
    ok(cli("trades", "add", "sell", "HDFC", "10", "110", "--time", "2026-11-09 11:00", "--fees", "1"))
    ok(cli("trades", "add", "buy", "ITC", "10", "100", "--time", "2026-11-10 10:00", "--fees", "1"))
    ok(cli("trades", "add", "sell", "ITC", "10", "95", "--time", "2026-11-10 11:00", "--fees", "1"))
    text = eventually_sync(
        lambda: ok(cli("calendar", "--month", "2026-11", "--json")),
        within=20,
        interval=0.3,
        until=lambda found: json.loads(found).get("tradingDayCount") == 2,
        what="both days reach the calendar",
    )
    calendar = json.loads(text)
    assert [day["date"] for day in calendar["days"]] == ["2026-11-09", "2026-11-10"]
    assert calendar["days"][0]["netPnlMicros"] == str(98_000_000)  # 10 x 10 - 2 typed charges
    assert calendar["days"][1]["netPnlMicros"] == str(-52_000_000)
    assert calendar["months"][0]["month"] == "2026-11"
    human = ok(cli("calendar", "--month", "2026-11"))
    assert "P&L calendar November 2026" in human
    assert "+₹98.00" in human
    assert "-₹52.00" in human
    assert "2 trading day(s)" in human
    day = ok(cli("calendar", "--day", "2026-11-09"))
    assert "HDFC" in day
    assert "ITC" not in day
    bad = cli("calendar", "--month", "2026-13")
    assert bad.returncode == 2
    refused = cli("calendar", "--day", "9 Nov")
    assert refused.returncode == 1
    assert "INVALID_DATE" in refused.stderr
