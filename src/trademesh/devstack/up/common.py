"""What the launcher's parts share: its logger, timings, stop request and errors, and log-display helpers."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

logger = logging.getLogger("trademesh.devstack.up")

#: How long a service may take to report SERVING after its process started.
HEALTH_TIMEOUT_SECONDS = 30.0
#: Added to a service's shutdown grace before it is killed.
STOP_MARGIN_SECONDS = 5.0
_POLL_SECONDS = 0.2
_LOG_TAIL_BYTES = 4000
_SERVING = "SERVING"
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StackError(Exception):
    """The stack cannot start or keep running; the message says why (and shows a log tail)."""


class _Interrupted(Exception):
    """A stop signal arrived during start-up."""


class _StopRequest:
    """Set by SIGINT/SIGTERM/SIGHUP; polled by the launcher's loops."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
        else:
            logger.info("%s received; already stopping", signal.Signals(signum).name)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_tail(path: Path, start: int = 0, max_bytes: int = _LOG_TAIL_BYTES) -> str:
    """Return the end of ``path`` from byte ``start`` on, at most ``max_bytes``, starting at a line."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            begin = max(start, size - max_bytes)
            f.seek(begin)
            data = f.read()
    except OSError:
        return ""
    if begin > start and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", errors="replace").strip()


def _indent(text: str) -> str:
    return "\n".join(("    " + line).rstrip() for line in text.splitlines()) if text else "    (log is empty)"
