"""Live P&L net of charges in the browser: real stack, real Envoy, real headless Chromium (decision 0150).

``clients/web/e2e/live_pnl.mjs`` registers, buys 10 INFY and sells 4 at a profit, then checks that the
Positions page and the Live P&L screen show the same realized P&L (net, partial exit included), a break-even
price and the definitions panel. Screenshots land in ``test-artifacts/web/``. The stack is the module-scoped
``make up`` launcher of ``test_browser.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.web.test_browser import ARTIFACTS, WEB, Stack, _chromium, stack  # noqa: F401 - the stack fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

JOURNEY_SECONDS = 150.0


def test_live_pnl_shows_the_positions_realized_pnl_a_break_even_and_the_definitions(stack: Stack) -> None:  # noqa: F811
    if not {"trade", "analytics"} <= stack.services:
        pytest.fail(f"the stack runs no trade or analytics service: {sorted(stack.services)}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TM_URL": stack.url, "TM_ARTIFACTS": str(ARTIFACTS), "TM_CHROMIUM": _chromium()}
    result = subprocess.run(
        ["node", "e2e/live_pnl.mjs"],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=JOURNEY_SECONDS,
        check=False,
    )
    (ARTIFACTS / "live_pnl.log").write_text(f"{result.stderr}\n{result.stdout}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False, "error": "no report"}
    assert result.returncode == 0, f"live P&L journey failed: {report.get('error')}\n{result.stderr[-4000:]}"
    assert report["ok"]
    names = [step["name"] for step in report["steps"]]
    assert {"positions realized", "realized agrees", "break-even shown", "definitions shown"} <= set(names)
    agreed = next(step for step in report["steps"] if step["name"] == "realized agrees")
    assert agreed["live"] == agreed["allTime"] == agreed["positions"]
