"""``trades import`` of Fyers and ICICI Direct tradebooks through the gateway (docs/decisions/0280): ``auto``
recognises both headers, ``--format`` names them, a preview writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run, ok

DATA = Path(__file__).resolve().parents[1] / "trade" / "data"


def test_broker_tradebooks_are_detected_previewed_and_imported(cli: Run, logged_in: str) -> None:
    fyers = str(DATA / "fyers_tradebook.csv")
    icici = str(DATA / "icicidirect_tradebook.csv")

    preview = ok(cli("trades", "import", fyers, "--preview"))
    assert "7 row(s): 7 would be created, 0 already imported, 0 failed (preview: nothing written)" in preview
    assert json.loads(ok(cli("trades", "list", "--json"))) == []

    detected = ok(cli("trades", "import", fyers))  # auto: the header under the report lines is Fyers'
    assert "7 row(s): 7 created, 0 already imported, 0 failed" in detected
    named = json.loads(ok(cli("trades", "import", icici, "--format", "icici", "--json")))
    assert (named["rowsTotal"], named["rowsCreated"]) == ("4", "4")
    again = json.loads(ok(cli("trades", "import", icici, "--json")))  # auto: ICICI Direct again, all duplicates
    assert (again.get("rowsCreated", "0"), again["rowsDuplicate"]) == ("0", "4")

    trades = json.loads(ok(cli("trades", "list", "--json")))
    assert len(trades) == 11
    assert {"RELIND", "TATMOT", "INFY", "NIFTY24SEP25500CE", "SENSEX2492083000PE"} == {
        t["instrument"]["symbol"] for t in trades
    }
