"""Planned risk and R in the browser end to end (docs/decisions/0230): real stack, real Envoy, headless Chromium.

``clients/web/e2e/risk.mjs`` registers, adds a buy whose stop is on the wrong side (refused on the stop
field), fixes it, closes the round trip with a sell, and reads the expectancy in R on the analytics screen.
Screenshots land in ``test-artifacts/web-risk/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-risk"
RISK_SECONDS = 120.0


def test_a_trade_with_a_stop_shows_its_expectancy_in_r(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("risk.mjs", env, artifacts=ARTIFACTS, timeout=RISK_SECONDS)
    assert run.ok, run.failure("risk journey", stack.logs())
    assert run.steps[:5] == [
        "registered",
        "a stop on the wrong side is refused on its field",
        "screenshot",
        "buy with a stop added",
        "sell added",
    ]
    assert "analytics shows the expectancy in R" in run.steps
