"""``trademesh bars``: the real command against the running mesh (its simulated feed makes the bars)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.cli.conftest import Run, ok
from tests.eventually import eventually_sync


def test_bars_of_each_interval_come_from_the_feed(cli: Run, logged_in: str) -> None:
    since = (datetime.now(UTC) - timedelta(days=2)).isoformat()

    def every_interval_has_bars() -> bool:
        return all(
            json.loads(ok(cli("bars", "INFY", "--interval", name, "--from", since, "--json")))
            for name in ("1m", "5m", "1d")
        )

    eventually_sync(every_interval_has_bars, within=30)
    fives = json.loads(ok(cli("bars", "NSE:INFY", "--interval", "5m", "--from", since, "--json")))
    assert all(datetime.fromisoformat(bar["startTime"].replace("Z", "+00:00")).minute % 5 == 0 for bar in fives)
    table = ok(cli("bars", "INFY", "--interval", "1d"))
    assert "bar(s) of INFY" in table
    assert "running" in table


def test_bars_refuse_bad_input(cli: Run, logged_in: str) -> None:
    assert cli("bars", "INFY", "--interval", "2h").returncode == 2
    assert cli("bars", "INFY", "--from", "yesterday").returncode == 2
    backwards = cli("bars", "INFY", "--from", "2026-01-02 10:00", "--to", "2026-01-01 10:00")
    assert backwards.returncode == 1
    assert "INVALID_TIME_RANGE" in backwards.stderr
    unknown = cli("bars", "NOPE")
    assert unknown.returncode == 1
    assert "INSTRUMENT_NOT_FOUND" in unknown.stderr
    empty = ok(cli("bars", "TCS", "--from", "2026-01-01 10:00", "--to", "2026-01-01 11:00"))
    assert "No bars recorded for this range" in empty
