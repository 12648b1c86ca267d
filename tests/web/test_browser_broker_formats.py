"""Built-in broker formats in the browser end to end (docs/decisions/0280): real stack, real Envoy, headless
Chromium.

``clients/web/e2e/broker_formats.mjs`` registers, chooses "Fyers tradebook" in the import panel, previews the
sample tradebook (seven rows, nothing written), imports it, then imports the ICICI Direct sample. Screenshots
land in ``test-artifacts/web-broker-formats/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-broker-formats"


def test_fyers_and_icici_direct_files_preview_and_import_in_the_browser(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("broker_formats.mjs", env, artifacts=ARTIFACTS, timeout=120.0)
    assert run.ok, run.failure("broker formats journey", stack.logs())
    assert run.steps[0] == "registered"
    assert {"fyers preview shown", "fyers import done", "icici import done"} <= set(run.steps)
