"""``trademesh trades add --stop/--target/--risk`` and the R figures of ``trademesh analytics`` (decision 0230)."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, ok
from tests.eventually import eventually_sync


def test_a_trade_with_a_plan_shows_its_r_in_analytics(cli: Run, logged_in: str) -> None:
    added = json.loads(
        ok(
            cli(
                "trades", "add", "buy", "SBIN", "10", "1500", "--time", "2024-12-02 10:00", "--fees", "0",
                "--stop", "1480", "--target", "1600", "--risk", "2000", "--json",
            )
        )
    )  # fmt: skip
    assert (added["stopLossPriceMicros"], added["targetPriceMicros"]) == ("1480000000", "1600000000")
    assert added["plannedRiskMicros"] == "2000000000"
    ok(cli("trades", "add", "sell", "SBIN", "10", "1900", "--time", "2024-12-03 11:00", "--fees", "0"))
    wrong = cli("trades", "add", "buy", "SBIN", "1", "1500", "--stop", "1510")
    assert wrong.returncode != 0
    assert "stop_loss_price_micros" in wrong.stdout + wrong.stderr

    report = eventually_sync(
        lambda: json.loads(ok(cli("analytics", "--period", "all-time", "--json"))),
        within=20,
        interval=0.3,
        until=lambda report: report.get("rMultiples", {}).get("plannedRoundTripCount") == "1",
        what="the planned round trip reaches the analytics report",
    )
    # Net P&L: 10 x 400 minus both trades' computed charges (no fees typed); 1R = ₹2000.
    r = report["rMultiples"]
    net = int(r["netPnlMicros"])
    assert 3_900_000_000 < net < 4_000_000_000
    assert r["averageRMilli"] == str((net * 1000 + 1_000_000_000) // 2_000_000_000)  # half away from zero
    human = ok(cli("analytics", "--period", "all-time"))
    assert "expectancy (R)" in human
    assert "+1.9" in human
