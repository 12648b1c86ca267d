"""Day notes in the browser end to end (docs/decisions/0200): real stack, real Envoy, headless Chromium.

``clients/web/e2e/notes.mjs`` registers, adds a trade (listed under today's note), writes a Markdown note
(the preview must be sanitised) with a mood, a mistake and lessons, saves it, edits the mistake list,
reloads the page and logs in again, finds the note unchanged, then finds it by search from another day
and opens it from the P&L calendar's day.
Screenshots land in ``test-artifacts/web-notes/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-notes"
NOTES_SECONDS = 120.0


def test_a_day_note_survives_a_reload_and_is_found_by_search(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("notes.mjs", env, artifacts=ARTIFACTS, timeout=NOTES_SECONDS)
    assert run.ok, run.failure("notes journey", stack.logs())
    names = run.steps
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
