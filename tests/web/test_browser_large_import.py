"""A 50,000-row Zerodha tradebook imported from the browser (issue 15 item 7): real stack, real Envoy (grpc-web),
headless Chromium.

``clients/web/e2e/large_import.mjs`` registers, attaches the file this test writes to the import panel and
imports it: one grpc-web ImportTrades call of 5.6 MiB through the gateway under the client's 120 s deadline, on
ImportTrades' own route timeout. The journal is then counted here as the browser's user, with ListPositions
(``trade_count`` per instrument, summed) straight from the trade service under a 120 s deadline: on FerretDB v1
that call decodes the user's whole journal (issue 15 item 2) and can take longer than the gateway's 15 s for
50,000 trades on a busy machine. Screenshots land in ``test-artifacts/web-large-import/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from tests.large_tradebook import ISINS, LARGE_ROWS, write_zerodha_tradebook
from tests.rpc import bearer
from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ARTIFACTS = REPO / "test-artifacts" / "web-large-import"
#: One import of up to the client's 120 s deadline, plus registering and Chromium's start.
SCRIPT_SECONDS = 200.0
#: The deadline of the counting call (the clients' import deadline, the contract's "allow 120 s").
COUNT_DEADLINE_SECONDS = 120.0
#: The trade service's row of the launcher's summary table: "  trade  127.0.0.1:PORT  PID  …".
TRADE_ROW = re.compile(r"^  trade +(?P<address>\S+) ", re.MULTILINE)


def trade_address(stack: Stack) -> str:
    """The trade service's own ``host:port``, from the launcher's summary."""
    match = TRADE_ROW.search(stack.log.read_text(errors="replace"))
    assert match, f"no trade row in the launcher's summary\n{stack.logs()}"
    return match["address"]


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
    assert run.steps == ["registered", "file attached", "imported", "screenshot"]
    steps = {step["name"]: step for step in run.report["steps"]}
    assert steps["file attached"]["bytes"] == tradebook.stat().st_size

    user = steps["registered"]
    with grpc.insecure_channel(stack.url.removeprefix("http://").rstrip("/")) as channel:
        login = auth_service_pb2_grpc.AuthServiceStub(channel).Login(
            auth_service_pb2.LoginRequest(login=user["username"], password=user["password"]), timeout=15
        )
    with grpc.insecure_channel(trade_address(stack)) as channel:
        page = trade_service_pb2_grpc.TradeServiceStub(channel).ListPositions(
            trade_service_pb2.ListPositionsRequest(page_size=1000),
            metadata=bearer(login.tokens.access_token),
            timeout=COUNT_DEADLINE_SECONDS,
        )
    assert not page.next_page_token
    assert sum(position.trade_count for position in page.positions) == LARGE_ROWS
    assert {position.instrument.symbol for position in page.positions} == set(ISINS)
    print(
        f"{LARGE_ROWS:,}-row Zerodha tradebook ({tradebook.stat().st_size / 2**20:.1f} MiB) from the browser: "
        f"import {steps['imported']['ms'] / 1000:.1f} s, whole script {run.elapsed:.1f} s"
    )
