"""The browser client's own checks, in ``make test``: ``tsc --noEmit`` (after building the SDK it
imports) and its unit tests (vitest: exact money parsing and formatting, IST times, decoding of
``grpc-status-details-bin`` into readable errors)."""

from __future__ import annotations

import subprocess

import pytest

from trademesh.devstack.processes import repo_root

WEB = repo_root() / "clients" / "web"


def _run(*command: str) -> str:
    if not (WEB / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("the browser client's npm modules are missing: run scripts/install-browser.sh")
    result = subprocess.run(command, cwd=WEB, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def test_client_typechecks() -> None:
    _run("npm", "run", "--silent", "typecheck")


def test_client_unit_tests() -> None:
    output = _run("node_modules/.bin/vitest", "run", "--reporter=dot")
    assert "passed" in output
