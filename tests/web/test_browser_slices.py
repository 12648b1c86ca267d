"""Analytics by slice in the browser end to end (docs/decisions/0250): real stack, real Envoy, headless Chromium.

``clients/web/e2e/slices.mjs`` registers, adds two round trips with different strategies and tags, narrows the
analytics screen to one strategy with the slice bar, compares it with the rest, and checks that a tag no trade
carries gives an empty report. Screenshots land in ``test-artifacts/web-slices/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-slices"
SLICES_SECONDS = 150.0


def test_the_slice_bar_narrows_the_report_and_compares_with_the_rest(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("slices.mjs", env, artifacts=ARTIFACTS, timeout=SLICES_SECONDS)
    assert run.ok, run.failure("slices journey", stack.logs())
    assert run.steps == [
        "registered",
        "two round trips added",
        "analytics shows both round trips",
        "the strategy slice keeps one round trip",
        "the slice is compared with the rest",
        "screenshot",
        "a tag no trade carries gives an empty report",
        "screenshot",
    ]
