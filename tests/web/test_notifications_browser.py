"""Notifications in the browser client end to end: real stack, real Envoy (grpc-web), real headless Chromium.

``clients/web/e2e/notifications.mjs`` registers, sets an alert from the INFY watchlist row, lets the
simulated feed's next tick fire it, watches the bell's unread count rise over WatchNotifications, finds
the notice in the notification centre, marks it read, then all (the count falls), deletes it, then edits and
deletes the alert. Midway a relay cuts the page off while two more alerts fire: reconnected, the bell's
stream reopens with its resume token (checked in the request) and counts all three. Last, a positions row
opens the editor prefilled with that position's instrument and average price. The stack is ``make up``'s
launcher (the same fixture as the browser journey). Screenshots land in ``test-artifacts/web-notifications/``.
"""

from __future__ import annotations

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]  # the module-scoped stack fixture, shared by name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-notifications"
SCRIPT_SECONDS = 150.0


def test_an_alert_from_the_watchlist_rings_the_bell_and_is_read_in_the_inbox(stack: Stack) -> None:
    assert {"notifications", "marketdata"} <= stack.services
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium()}
    run = run_e2e("notifications.mjs", env, artifacts=ARTIFACTS, timeout=SCRIPT_SECONDS)
    report, elapsed = run.report, run.elapsed
    assert (run.returncode, bool(report.get("ok"))) == (0, True), run.failure(
        "notifications e2e", f"(screenshot: {ARTIFACTS / 'failure.png'})\n{stack.logs()}"
    )
    names = run.steps
    assert names.index("alert created") < names.index("bell count rose") < names.index("marked read, bell back to 0")
    assert {"editor opened from the watchlist row", "level rejected", "inbox shows it", "notification deleted"} <= set(
        names
    )
    assert {"alert edited and armed again", "alert deleted", "editor opened from a positions row"} <= set(names)
    assert names.index("bell count rose") < names.index("stream resumed with its token after a cut")
    page_errors = [error for error in report["consoleErrors"] if "Failed to load resource" not in error]
    assert page_errors == [], page_errors
    shots = {path.name for path in ARTIFACTS.glob("*.png")}
    assert {"n1-alert-editor.png", "n2-bell.png", "n3-inbox.png", "n4-alerts.png"} <= shots, shots
    assert elapsed < SCRIPT_SECONDS
