"""Logging configured once per process: JSON lines (or plain text) on stderr."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure_logging(level: str, fmt: str, service: str) -> None:
    """Send every log record to stderr as one JSON object per line (or text when `fmt` is "text")."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pymongo's own debug chatter is not ours to ship.
    logging.getLogger("pymongo").setLevel(max(logging.INFO, root.level))
