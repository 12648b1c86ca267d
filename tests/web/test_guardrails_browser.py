"""P&L guardrails in the browser client end to end (decision 0300): real stack, Envoy (grpc-web), headless Chromium.

``clients/web/e2e/guardrails.mjs`` registers, opens a losing position, sets a daily loss limit in the alert
editor (a drawdown share of 150 % is refused under its field first) and waits until analytics' live P&L fires it:
the bell rises, the alert cools down until the next IST day and the inbox shows the notice. Screenshots land in
``test-artifacts/web-guardrails/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]  # the module-scoped stack fixture, shared by name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-guardrails"
SCRIPT_SECONDS = 120.0


def test_a_daily_loss_limit_set_in_the_editor_fires_from_the_live_pnl(stack: Stack) -> None:
    assert {"notifications", "analytics", "marketdata"} <= stack.services
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("guardrails.mjs", env, artifacts=ARTIFACTS, timeout=SCRIPT_SECONDS)
    assert run.ok, run.failure("guardrails e2e", f"(screenshot: {ARTIFACTS / 'failure.png'})\n{stack.logs()}")
    names = run.steps
    assert names.index("drawdown share refused") < names.index("guardrail created")
    assert (
        names.index("guardrail created")
        < names.index("guardrail fired, re-arms tomorrow")
        < names.index("inbox shows it")
    )
    page_errors = [error for error in run.report["consoleErrors"] if "Failed to load resource" not in error]
    assert page_errors == [], page_errors
    assert {"g1-guardrail-editor.png", "g2-guardrail-fired.png", "g3-inbox.png"} <= {
        path.name for path in ARTIFACTS.glob("*.png")
    }
