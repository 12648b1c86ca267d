"""Running one of ``clients/web/e2e/*.mjs`` in headless Chromium against a stack, the way every browser test does.

A script prints JSON lines; its last one is the report ``{"ok": …, "steps": [{"name": …}, …], "error": …}``.
The script's stderr and stdout are kept in ``<artifacts>/<script>.log`` for a failed run's reader.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trademesh.devstack.processes import repo_root

WEB = repo_root() / "clients" / "web"


@dataclass(frozen=True)
class E2eRun:
    """What a script did: its exit code, its report, its stderr, and how long it took."""

    returncode: int
    report: dict[str, Any]
    stderr: str
    elapsed: float

    @property
    def ok(self) -> bool:
        """True when the script exited 0 and reported ok."""
        return self.returncode == 0 and bool(self.report.get("ok"))

    @property
    def steps(self) -> list[str]:
        """The names of the steps the script reported, in order."""
        return [step["name"] for step in self.report.get("steps", [])]

    def failure(self, what: str, logs: str = "") -> str:
        """A failure message: the script's error, the tail of its stderr, and the stack's logs."""
        return f"{what} failed: {self.report.get('error')}\n{self.stderr[-4000:]}\n{logs}"


def run_e2e(script: str, env: dict[str, str], *, artifacts: Path, timeout: float) -> E2eRun:
    """Run ``clients/web/e2e/<script>`` with node and ``env`` added to this process's environment."""
    artifacts.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = subprocess.run(
        ["node", f"e2e/{script}"],
        cwd=WEB,
        env={**os.environ, "TM_ARTIFACTS": str(artifacts), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - started
    (artifacts / f"{Path(script).stem}.log").write_text(f"{result.stderr}\n{result.stdout}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False, "error": "no report"}
    return E2eRun(result.returncode, report, result.stderr, elapsed)
