"""The Go and Node (TypeScript) SDKs against the running mesh, directly and through Envoy.

Each client program (``clients/go/cmd/trademesh-journey``, ``clients/typescript/examples/journey.ts``)
registers, logs in, creates a trade, lists it and waits for a live quote tick, then prints what it saw;
the Python SDK then logs in as the same user and checks the trade really is in the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.client_mesh import PASSWORD, RunningMesh, new_username
from trademesh.devstack.processes import repo_root
from trademesh.sdk import connect_sync
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

REPO = repo_root()
GO_MODULE = REPO / "clients" / "go"
TS_PACKAGE = REPO / "clients" / "typescript"
RUN_TIMEOUT = 60

Journey = Callable[[RunningMesh, str, str], list[str]]


@pytest.fixture(scope="session")
def go_journey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go client program, built into a temporary directory."""
    if shutil.which("go") is None:
        pytest.fail("Go is needed for the cross-language tests (scripts/setup.sh expects it)")
    binary = tmp_path_factory.mktemp("go") / "trademesh-journey"
    subprocess.run(
        ["go", "build", "-o", str(binary), "./cmd/trademesh-journey"],
        cwd=GO_MODULE,
        check=True,
        timeout=300,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    return binary


@pytest.fixture(scope="session")
def node_journey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TypeScript client program, compiled (with the SDK sources) into a temporary directory."""
    out = tmp_path_factory.mktemp("ts")
    subprocess.run(
        [str(TS_PACKAGE / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.examples.json", "--outDir", str(out)],
        cwd=TS_PACKAGE,
        check=True,
        timeout=300,
    )
    # ES modules, resolving the SDK package's own dependencies.
    (out / "package.json").write_text('{"type": "module"}\n')
    (out / "node_modules").symlink_to(TS_PACKAGE / "node_modules", target_is_directory=True)
    return out / "examples" / "journey.js"


def go_command(binary: Path) -> Journey:
    def command(mesh: RunningMesh, route: str, username: str) -> list[str]:
        if route == "gateway":
            targets = ["-target", mesh.gateway]
        else:
            targets = ["-auth", mesh.auth, "-trade", mesh.trade, "-marketdata", mesh.marketdata]
        return [str(binary), *targets, "-username", username, "-password", PASSWORD]

    return command


def node_command(script: Path) -> Journey:
    def command(mesh: RunningMesh, route: str, username: str) -> list[str]:
        if route == "gateway":
            target = f"http://{mesh.gateway}"
        else:
            target = ",".join(f"http://{address}" for address in (mesh.auth, mesh.trade, mesh.marketdata))
        return ["node", str(script), target, username, PASSWORD]

    return command


@pytest.fixture(params=["go", "node"])
def journey(request: pytest.FixtureRequest) -> tuple[str, Journey]:
    if request.param == "go":
        return "go", go_command(request.getfixturevalue("go_journey"))
    return "typescript", node_command(request.getfixturevalue("node_journey"))


@pytest.mark.parametrize("route", ["direct", "gateway"])
def test_client_registers_logs_in_trades_lists_and_gets_a_quote_tick(
    mesh: RunningMesh, journey: tuple[str, Journey], route: str
) -> None:
    tag, command = journey
    username = new_username()
    completed = subprocess.run(
        command(mesh, route, username), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    assert completed.returncode == 0, completed.stderr
    seen: dict[str, Any] = json.loads(completed.stdout)

    assert seen["username"] == username
    assert seen["userId"]
    assert seen["tradeId"] in seen["listedTradeIds"]
    quote = seen["quote"]
    assert quote["symbol"] == "INFY"
    assert quote["snapshot"] is False
    assert int(quote["lastPriceMicros"]) > 0
    assert int(quote["sequence"]) > 0

    # The journal, read back through the Python SDK as the same user, holds exactly that trade.
    with connect_sync(mesh.gateway) as python:
        user = python.login(username, PASSWORD)
        assert user.id == seen["userId"]
        [trade] = python.trade.ListTrades(trade_service_pb2.ListTradesRequest()).trades
    assert trade.id == seen["tradeId"]
    assert trade.instrument.symbol == "INFY"
    assert list(trade.tags) == [tag]
    assert trade.source == trade_pb2.TRADE_SOURCE_MANUAL
