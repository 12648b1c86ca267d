"""``trademesh analytics`` slice flags (decision 0250): the real command against the running mesh."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, ok
from tests.eventually import eventually_sync


def test_analytics_narrows_to_a_slice_and_compares_it_with_the_rest(cli: Run, logged_in: str) -> None:
    for args in (
        ("buy", "INFY", "10", "100", "--time", "2026-11-09 10:00", "--strategy", "Breakout", "--tag", "fomo"),
        ("sell", "INFY", "10", "110", "--time", "2026-11-09 11:00"),
        ("sell", "ITC", "10", "100", "--time", "2026-11-10 14:00", "--strategy", "Reversal"),
        ("buy", "ITC", "10", "105", "--time", "2026-11-10 15:00"),
    ):
        ok(cli("trades", "add", *args, "--fees", "1"))  # typed charges: ₹2 per round trip
    eventually_sync(
        lambda: json.loads(ok(cli("analytics", "--period", "all-time", "--json"))),
        within=20,
        interval=0.3,
        until=lambda report: report.get("performance", {}).get("roundTripCount") == "2",
        what="both round trips reach analytics",
    )
    sliced = json.loads(ok(cli("analytics", "--period", "all-time", "--strategy", "breakout", "--json")))
    assert sliced["performance"]["roundTripCount"] == "1"
    assert sliced["performance"]["netPnlMicros"] == str(98_000_000)
    shorts = json.loads(ok(cli("analytics", "--period", "all-time", "--side", "sell", "--weekday", "tue", "--json")))
    assert shorts["performance"]["netPnlMicros"] == str(-52_000_000)
    afternoon = json.loads(
        ok(cli("analytics", "--period", "all-time", "--hour", "14-16", "--segment", "equity", "--json"))
    )
    assert afternoon["performance"]["roundTripCount"] == "1"
    nothing = json.loads(ok(cli("analytics", "--period", "all-time", "--tag", "never-used", "--json")))
    assert nothing["performance"].get("roundTripCount", "0") == "0"

    human = ok(cli("analytics", "--period", "all-time", "--tag", "FOMO", "--compare-rest"))
    assert "slice vs the rest" in human
    assert "+₹98.00" in human
    assert "-₹52.00" in human

    refused = cli("analytics", "--period", "all-time", "--tag", "x" * 40)
    assert refused.returncode == 1
    assert "INVALID_SLICE" in refused.stderr
    assert cli("analytics", "--side", "up").returncode == 2
