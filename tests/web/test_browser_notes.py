"""Day notes in the browser end to end (docs/decisions/0200): real stack, real Envoy, headless Chromium.

``clients/web/e2e/notes.mjs`` registers, adds a trade (listed under today's note), writes a Markdown note
(the preview must be sanitised) with a mood, a mistake and lessons, saves it, edits the mistake list,
reloads the page and logs in again, finds the note unchanged, then finds it by search from another day
and opens it from the P&L calendar's day.
Screenshots land in ``test-artifacts/web-notes/``.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.web.test_browser import REPO, WEB, Stack, _chromium, stack

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-notes"
NOTES_SECONDS = 120.0


def test_a_day_note_survives_a_reload_and_is_found_by_search(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {**os.environ, "TM_URL": stack.url, "TM_ARTIFACTS": str(ARTIFACTS), "TM_CHROMIUM": _chromium()}
    result = subprocess.run(
        ["node", "e2e/notes.mjs"], cwd=WEB, env=env, capture_output=True, text=True, timeout=NOTES_SECONDS, check=False
    )
    (ARTIFACTS / "notes.log").write_text(f"{result.stderr}\n{result.stdout}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False, "error": "no report"}
    ok = result.returncode == 0 and bool(report.get("ok"))
    assert ok, f"notes journey failed: {report.get('error')}\n{result.stderr[-4000:]}\n{stack.logs()}"
    names = [step["name"] for step in report["steps"]]
    assert names[0] == "registered"
    assert {
        "trade added",
        "the day's trade listed before the note exists",
        "preview rendered and sanitised",
        "note saved",
        "mistake tags saved",
        "note kept across reload",
        "note found by search",
        "note opened from the calendar",
    } <= set(names)
