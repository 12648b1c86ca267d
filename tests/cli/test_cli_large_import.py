"""A 50,000-row Zerodha tradebook through the gateway with the ``trademesh`` CLI (issue 15 item 7).

The CLI runs as a subprocess against the mesh ``make up`` runs (real Envoy from the generated config, auth,
trade, analytics, Redis, FerretDB): one gzip-compressed ImportTrades call under the SDK's 120 s deadline, on
ImportTrades' own route timeout (IMPORT_TIMEOUT_SECONDS, 300 s; every other unary route ends a call at 15 s).
What the journal holds afterwards is read back through the gateway with ``positions`` (ListPositions:
``trade_count`` per instrument, summed), and a second import of the same file must add nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Run, ok
from tests.large_tradebook import ISINS, LARGE_ROWS, write_zerodha_tradebook

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: What the subprocess may take, well above the import itself (~40 s on the 2-core reference machine) and
#: above the SDK's deadline, so a slow import ends as the CLI's DEADLINE_EXCEEDED, not as a killed process.
CLI_TIMEOUT_SECONDS = 200.0


def journal_trade_count(cli: Run) -> tuple[int, set[str]]:
    """Every ACTIVE trade of the user, counted by ListPositions through the gateway; and the symbols."""
    positions = json.loads(ok(cli("positions", "--status", "all", "--json", timeout=60)))
    return sum(int(p["tradeCount"]) for p in positions), {p["instrument"]["symbol"] for p in positions}


def test_a_50000_row_zerodha_tradebook_imports_through_the_gateway_once(
    cli: Run, logged_in: str, tmp_path: Path
) -> None:
    tradebook = write_zerodha_tradebook(tmp_path / "tradebook.csv")
    size_mib = tradebook.stat().st_size / 2**20

    started = time.monotonic()
    first = cli("trades", "import", str(tradebook), timeout=CLI_TIMEOUT_SECONDS)  # auto: Zerodha's header
    first_seconds = time.monotonic() - started
    assert f"{LARGE_ROWS} row(s): {LARGE_ROWS} created, 0 already imported, 0 failed (import " in ok(first)
    # The progress bar, on stderr: the file and its layout while the call runs, the rows it processed at the end.
    assert "Importing tradebook.csv (zerodha tradebook csv)" in first.stderr.lower()
    assert f"{LARGE_ROWS:,}/{LARGE_ROWS:,} rows" in first.stderr

    count, symbols = journal_trade_count(cli)
    assert count == LARGE_ROWS
    assert symbols == set(ISINS)

    started = time.monotonic()
    again = json.loads(ok(cli("trades", "import", str(tradebook), "--json", timeout=CLI_TIMEOUT_SECONDS)))
    again_seconds = time.monotonic() - started
    assert (again["rowsTotal"], again["rowsDuplicate"]) == (str(LARGE_ROWS), str(LARGE_ROWS))
    assert "rowsCreated" not in again  # 0: nothing imported twice
    assert "rowsFailed" not in again
    assert journal_trade_count(cli)[0] == LARGE_ROWS

    print(
        f"{LARGE_ROWS:,}-row Zerodha tradebook ({size_mib:.1f} MiB) through the gateway with the CLI: "
        f"import {first_seconds:.1f} s, re-import {again_seconds:.1f} s"
    )
