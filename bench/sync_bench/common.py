"""Names and small helpers the benchmark's processes share."""

from __future__ import annotations

import socket

SOLO_KEY = "bench-solo"
SECRET = "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sweep_key(index: int) -> str:
    return f"bench-{index:05d}"
