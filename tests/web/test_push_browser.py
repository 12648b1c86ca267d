"""Web Push and SMS settings in the browser client end to end: `make up`'s stack (with its local push service and
Twilio fake), real Envoy (grpc-web), real headless Chromium.

``clients/web/e2e/push.mjs`` registers, opens the delivery settings, enables push on this device (notification
permission, the service worker ``/sw.js``, RegisterPushSubscription), sets the push and SMS toggles and the SMS
number (a bad number is refused under its field), then an alert fires and the local push service decrypts the push.
Limit: headless Chromium has no browser vendor's push service, so ``PushManager.subscribe()`` is the one call the
script replaces — with a subscription made at the stack's local push service (RFC 8030) for the key the page passed;
the browser never receives the push itself. Screenshots land in ``test-artifacts/web-push/``.
"""

from __future__ import annotations

import re

import pytest

from tests.web.e2e import run_e2e
from tests.web.test_browser import REPO, Stack, _chromium, stack

__all__ = ["stack"]  # the module-scoped stack fixture, shared by name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTIFACTS = REPO / "test-artifacts" / "web-push"
SCRIPT_SECONDS = 120.0


def _push_service_url(stack: Stack) -> str:
    """The local push service's address, from the launcher's summary ("push: HTTP at http://…/")."""
    found = re.search(r"\bpush: HTTP at (http://\S+?)/?\s", stack.log.read_text(errors="replace"))
    assert found, f"the stack runs no local push service:\n{stack.logs()}"
    return found.group(1)


def test_push_is_enabled_on_this_device_and_the_toggles_and_number_are_saved(stack: Stack) -> None:
    assert {"notifications", "marketdata", "push", "sms"} <= stack.services
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    env = {"TM_URL": stack.url, "TM_CHROMIUM": _chromium(), "TM_PUSH_URL": _push_service_url(stack)}
    run = run_e2e("push.mjs", env, artifacts=ARTIFACTS, timeout=SCRIPT_SECONDS)
    report = run.report
    assert (run.returncode, bool(report.get("ok"))) == (0, True), run.failure(
        "push e2e", f"(screenshot: {ARTIFACTS / 'failure.png'})\n{stack.logs()}"
    )
    names = run.steps
    assert names.index("push registered for this device") < names.index("alert pushed and decrypted")
    assert {"push and SMS offered", "bad number refused", "toggles and number saved", "device removed"} <= set(names)
    [registered] = [s for s in report["steps"] if s["name"] == "push registered for this device"]
    assert registered["worker"].endswith("/sw.js")
    assert registered["permission"] == "granted"
    page_errors = [error for error in report["consoleErrors"] if "Failed to load resource" not in error]
    assert page_errors == [], page_errors
    assert "p1-delivery-settings.png" in {path.name for path in ARTIFACTS.glob("*.png")}
