"""Saved CSV mappings in the browser end to end (docs/decisions/0240): real stack, real Envoy, headless Chromium.

``clients/web/e2e/mappings.mjs`` registers, saves a column mapping (a bad time format is refused first, naming
the field), previews a broker file through it (three rows, one bad side word, nothing written) and imports it.
Screenshots land in ``test-artifacts/web-mappings/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-mappings"


def test_a_saved_mapping_previews_and_imports_a_brokers_file(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("mappings.mjs", env, artifacts=ARTIFACTS, timeout=120.0)
    assert run.ok, run.failure("mappings journey", stack.logs())
    assert run.steps[0] == "registered"
    assert {"bad time format refused", "mapping saved", "preview shown", "mapped import done"} <= set(run.steps)
