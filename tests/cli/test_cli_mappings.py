"""``trademesh mappings`` and ``trades import --mapping/--preview`` through the gateway (docs/decisions/0240)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run, ok

BROKER_FILE = (
    "Tradebook of client X\n"
    "Scrip,Exch,Buy/Sell,Qty,Rate,Trade Date,Trade Time,Trade No\n"
    "INFY,NSE,Bought,10,1500.5,02/03/2026,09:30:00 AM,C1\n"
    "INFY,NSE,Sold,10,1510,02/03/2026,10:30:00 AM,C2\n"
    "WIPRO,NSE,Held,1,400,02/03/2026,10:00:00 AM,C3\n"
)


def test_a_saved_mapping_previews_and_imports_a_brokers_file(cli: Run, logged_in: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "broker.csv"
    csv_file.write_text(BROKER_FILE)
    columns = [
        "symbol=Scrip",
        "exchange=Exch",
        "side=Buy/Sell",
        "quantity=Qty",
        "price=Rate",
        "trade_date=Trade Date",
        "time_of_day=Trade Time",
        "trade_id=Trade No",
    ]
    args = [arg for column in columns for arg in ("-c", column)]
    saved = ok(
        cli(
            "mappings", "save", "Broker X", *args, "--time-format", "%d/%m/%Y %I:%M:%S %p",
            "--buy", "Bought", "--sell", "Sold", "--header-row", "2",
        )
    )  # fmt: skip
    assert "saved CSV mapping 'Broker X' (v1)" in saved
    assert "Broker X" in ok(cli("mappings", "list"))

    preview = ok(cli("trades", "import", str(csv_file), "--mapping", "broker x", "--preview"))
    assert "3 row(s): 2 would be created, 0 already imported, 1 failed (preview: nothing written)" in preview
    assert "INVALID_SIDE" in preview
    assert json.loads(ok(cli("trades", "list", "--json"))) == []

    imported = json.loads(ok(cli("trades", "import", str(csv_file), "--mapping", "Broker X", "--json")))
    assert (imported["rowsCreated"], imported["rowsFailed"]) == ("2", "1")

    bad = cli("mappings", "save", "Bad", "-c", "symbol=Scrip", "--timezone", "Nowhere/Zone")
    assert bad.returncode == 1
    assert "mapping.timezone" in bad.stderr
    assert "deleted CSV mapping 'Broker X'" in ok(cli("mappings", "rm", "Broker X"))
    missing = cli("trades", "import", str(csv_file), "--mapping", "Broker X")
    assert missing.returncode != 0
    assert "no CSV mapping named" in missing.stderr
