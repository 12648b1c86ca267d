"""The browser client end to end: real stack, real Envoy, real headless Chromium.

The launcher of ``make up`` (``python -m trademesh.devstack.up``) starts Redis, FerretDB, every service
(with sync's fake Kite) and Envoy serving ``clients/web/dist`` on free ports with a
temporary data directory; ``clients/web/e2e/journey.mjs`` (playwright-core driving Debian's
``chromium``) then registers, logs in, adds a trade, sees it listed and in positions, sees the
watchlist tick, checks analytics (the report when the analytics service exists, otherwise the
"not available yet" notice), logs out and checks the old token is refused. Screenshots of each screen
land in ``test-artifacts/web/``.

Needs ``scripts/install-browser.sh`` (chromium and the client's npm modules); the client is built here
when ``dist/`` is missing or older than its sources.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.eventually import eventually_sync
from trademesh.devstack.processes import find_free_port, repo_root
from trademesh.devstack.stack import SERVICES, free_base_port, select_services
from trademesh.gateway.mesh import CATALOG

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

REPO = repo_root()
WEB = REPO / "clients" / "web"
SDK = REPO / "clients" / "typescript"
ARTIFACTS = REPO / "test-artifacts" / "web"
HOST = "127.0.0.1"
STACK_START_SECONDS = 120.0
JOURNEY_SECONDS = 150.0
_READY_MARKER = "Ctrl-C stops everything."
#: The client refreshes 60 s before expiry (at least 5 s after login): a 70 s token refreshes ~10 s in.
ACCESS_TOKEN_SECONDS = 70


def _chromium() -> str:
    path = os.environ.get("TM_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is not installed: run scripts/install-browser.sh")
    return path


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


def _build_client() -> Path:
    """Return ``clients/web/dist``, building it first when missing or older than its sources."""
    if not (WEB / "node_modules" / ".bin" / "vite").exists():
        pytest.fail("the browser client's npm modules are missing: run scripts/install-browser.sh")
    index = WEB / "dist" / "index.html"
    sources = [
        WEB / "src",
        WEB / "index.html",
        WEB / "vite.config.ts",
        WEB / "package-lock.json",
        SDK / "src",
    ]
    if not index.exists() or index.stat().st_mtime < _newest_mtime(sources):
        result = subprocess.run(
            ["npm", "run", "build"], cwd=WEB, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"npm run build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return index.parent


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback admin URL
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return ""


@dataclass
class Stack:
    """The running stack: the gateway's URL and what runs behind it."""

    url: str
    admin_url: str
    services: set[str]
    data_dir: Path
    log: Path

    def logs(self) -> str:
        """The launcher's output and the end of every service log (for failure messages)."""
        parts = [f"--- launcher\n{self.log.read_text(errors='replace')[-4000:]}"]
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def _jwks_fetched(admin: str) -> bool:
    """True once Envoy's jwt_authn fetched auth's JWKS at least once."""
    for line in _get(f"{admin}/stats?filter=jwks_fetch_success").splitlines():
        name, _, value = line.partition(":")
        if name.endswith("jwks_fetch_success") and value.strip().isdigit() and int(value) >= 1:
            return True
    return False


def _healthy(admin: str, service: str) -> bool:
    """True once Envoy's cluster of ``service`` has a host passing its gRPC health checks."""
    return any(
        line.startswith(f"svc-{service}::") and line.endswith("::health_flags::healthy")
        for line in _get(f"{admin}/clusters").splitlines()
    )


def _while_running(
    check: Callable[[], bool], process: subprocess.Popen[bytes], log_tail: Callable[[], str]
) -> Callable[[], bool]:
    """``check``, failing at once instead of waiting on once the stack has exited."""

    def checked() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the stack exited with {process.returncode}:\n{log_tail()}")
        return check()

    return checked


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``make up``'s launcher on free ports, serving the freshly built client."""
    _build_client()
    data_dir = tmp_path_factory.mktemp("stack")
    log = data_dir / "launcher.log"
    gateway_port, admin_port = find_free_port(), find_free_port()
    command = [
        sys.executable, "-m", "trademesh.devstack.up",
        "--data-dir", str(data_dir / "data"),
        "--redis-port", str(find_free_port()),
        "--mongo-port", str(find_free_port()),
        "--base-port", str(free_base_port()),
        "--gateway-port", str(gateway_port),
        "--gateway-admin-port", str(admin_port),
    ]  # fmt: skip
    # The simulated NSE feed ticks only in session hours by default; the test runs at any hour.
    # Access tokens live ACCESS_TOKEN_SECONDS, so the client's refresh-before-expiry runs during the journey.
    env = {
        **os.environ,
        "TRADEMESH_SESSION_POLICY": "always_open",
        "TRADEMESH_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    admin = f"http://{HOST}:{admin_port}"
    try:
        services = {spec.name for spec in select_services(SERVICES)[0]}
        behind_gateway = {entry.name for entry in CATALOG}  # not the stack's HTTP fakes (fake-kite)

        def log_tail() -> str:
            return log.read_text(errors="replace")[-6000:]

        eventually_sync(
            _while_running(lambda: _READY_MARKER in log.read_text(errors="replace"), process, log_tail),
            within=STACK_START_SECONDS,
            interval=0.2,
            what="the stack",
            details=log_tail,
        )
        # Protected calls need the JWKS Envoy fetches at start-up, and every running service a healthy host.
        eventually_sync(
            _while_running(lambda: _jwks_fetched(admin), process, log_tail),
            within=30,
            interval=0.2,
            what="the gateway's JWKS fetch",
            details=log_tail,
        )
        for name in sorted(services & behind_gateway):
            eventually_sync(
                _while_running(functools.partial(_healthy, admin, name), process, log_tail),
                within=30,
                interval=0.2,
                what=f"a healthy {name} host",
                details=log_tail,
            )
        yield Stack(f"http://{HOST}:{gateway_port}/", admin, services, data_dir / "data", log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_browser_journey(stack: Stack) -> None:
    """register → log in → add a trade → listed → watchlist ticks → analytics → log out and locked out."""
    chromium = _chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        old.unlink()
    env = {
        **os.environ,
        "TM_URL": stack.url,
        "TM_ARTIFACTS": str(ARTIFACTS),
        "TM_CHROMIUM": chromium,
        "TM_EXPECT_TRADE": "1" if "trade" in stack.services else "0",
        "TM_EXPECT_MARKETDATA": "1" if "marketdata" in stack.services else "0",
        "TM_EXPECT_ANALYTICS": "1" if "analytics" in stack.services else "0",
        "TM_EXPECT_REFRESH": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        ["node", "e2e/journey.mjs"],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=JOURNEY_SECONDS,
        check=False,
    )
    elapsed = time.monotonic() - started
    (ARTIFACTS / "journey.log").write_text(f"{result.stderr}\n{result.stdout}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False, "error": "no report"}
    ok = result.returncode == 0 and bool(report.get("ok"))
    assert ok, (
        f"browser journey failed: {report.get('error')}\n{result.stderr[-4000:]}\n"
        f"(screenshot: {ARTIFACTS / 'failure.png'})\n{stack.logs()}"
    )
    names = [step["name"] for step in report["steps"]]
    assert {"registered", "logged in", "token refreshed", "locked out"} <= set(names)
    if "trade" in stack.services:
        assert {"trade listed", "trade edited", "csv imported", "position shown"} <= set(names)
    if "marketdata" in stack.services:
        assert "watchlist ticked" in names
    assert ("analytics reflects the trade" if "analytics" in stack.services else "analytics unavailable shown") in names
    shots = sorted(path.name for path in ARTIFACTS.glob("*.png"))
    assert {"01-login.png", "dashboard.png", "07-logged-out.png"} <= set(shots), shots
    assert elapsed < JOURNEY_SECONDS
