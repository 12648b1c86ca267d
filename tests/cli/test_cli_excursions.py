"""``trademesh calendar --day`` shows each round trip's MAE/MFE and how it was measured (decision 0270)."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, ok
from tests.eventually import eventually_sync


def test_the_day_lists_mae_mfe_and_their_quality(cli: Run, logged_in: str) -> None:
    # A round trip of a symbol market data never quoted: no recording and no bars, so it is unmeasured.
    ok(cli("trades", "add", "buy", "ZZNOBARS", "5", "100", "--time", "2026-10-05 10:00"))
    ok(cli("trades", "add", "sell", "ZZNOBARS", "5", "104", "--time", "2026-10-05 10:30"))
    text = eventually_sync(
        lambda: ok(cli("calendar", "--day", "2026-10-05", "--json")),
        within=20,
        interval=0.3,
        until=lambda found: len(json.loads(found).get("trips", [])) == 1,
        what="the round trip reaches the day",
    )
    trip = json.loads(text)["trips"][0]
    assert trip["excursion"]["quality"] == "EXCURSION_QUALITY_UNAVAILABLE"
    human = ok(cli("calendar", "--day", "2026-10-05"))
    for heading in ("MAE", "MFE", "measured"):
        assert heading in human
    assert "unavailable" in human
