"""Live P&L net of charges in the browser: real stack, real Envoy, real headless Chromium (decision 0150).

``clients/web/e2e/live_pnl.mjs`` registers, buys 10 INFY and sells 4 at a profit, then checks that the
Positions page and the Live P&L screen show the same realized P&L (net, partial exit included), a break-even
price and the definitions panel. Screenshots land in ``test-artifacts/web/``. The stack is the module-scoped
``make up`` launcher of ``test_browser.py``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import ARTIFACTS, Stack, _chromium, stack  # noqa: F401 - the stack fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

JOURNEY_SECONDS = 150.0


def test_live_pnl_shows_the_positions_realized_pnl_a_break_even_and_the_definitions(stack: Stack) -> None:  # noqa: F811
    if not {"trade", "analytics"} <= stack.services:
        pytest.fail(f"the stack runs no trade or analytics service: {sorted(stack.services)}")
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("live_pnl.mjs", env, artifacts=ARTIFACTS, timeout=JOURNEY_SECONDS)
    assert run.returncode == 0, run.failure("live P&L journey")
    assert run.report["ok"]
    names = run.steps
    assert {"positions realized", "realized agrees", "break-even shown", "definitions shown"} <= set(names)
    agreed = next(step for step in run.report["steps"] if step["name"] == "realized agrees")
    assert agreed["live"] == agreed["allTime"] == agreed["positions"]
