"""A 50,000-row Zerodha tradebook imported from the browser (issue 15 item 7): real stack, real Envoy (grpc-web),
headless Chromium.

``clients/web/e2e/large_import.mjs`` registers, attaches the file this test writes to the import panel, imports
it (one grpc-web ImportTrades call through the gateway under the client's 120 s deadline, on ImportTrades' own
route timeout) and imports it again (every row a duplicate). The journal is then read back here, over native
gRPC through the same gateway as the browser's user: ListPositions' ``trade_count``, summed, is the number of
trades. Screenshots land in ``test-artifacts/web-large-import/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.large_tradebook import ISINS, LARGE_ROWS, write_zerodha_tradebook
from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack
from trademesh.sdk import connect_sync
from trademesh.trade.v1 import trade_service_pb2

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ARTIFACTS = REPO / "test-artifacts" / "web-large-import"
#: Two imports of up to the client's 120 s deadline each, plus registering and Chromium's start.
SCRIPT_SECONDS = 330.0


def test_a_50000_row_zerodha_tradebook_imports_from_the_browser_once(stack: Stack, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    tradebook = write_zerodha_tradebook(tmp_path / "tradebook.csv")
    env = {
        "TM_URL": stack.url,
        "TM_CHROMIUM": _chromium(),
        "TM_TRADEBOOK": str(tradebook),
        "TM_ROWS": str(LARGE_ROWS),
    }
    run = run_e2e("large_import.mjs", env, artifacts=ARTIFACTS, timeout=SCRIPT_SECONDS)
    assert run.ok, run.failure("large import from the browser", stack.logs())
    assert run.steps == ["registered", "file attached", "imported", "screenshot", "imported again"]
    steps = {step["name"]: step for step in run.report["steps"]}
    assert steps["file attached"]["bytes"] == tradebook.stat().st_size

    user = steps["registered"]
    with connect_sync(stack.url.removeprefix("http://").rstrip("/")) as mesh:
        mesh.login(user["username"], user["password"])
        page = mesh.trade.ListPositions(trade_service_pb2.ListPositionsRequest(page_size=1000), timeout=60)
    assert not page.next_page_token
    assert sum(position.trade_count for position in page.positions) == LARGE_ROWS
    assert {position.instrument.symbol for position in page.positions} == set(ISINS)
    print(
        f"{LARGE_ROWS:,}-row Zerodha tradebook ({tradebook.stat().st_size / 2**20:.1f} MiB) from the browser: "
        f"import {steps['imported']['ms'] / 1000:.1f} s, re-import {steps['imported again']['ms'] / 1000:.1f} s, "
        f"whole script {run.elapsed:.1f} s"
    )
