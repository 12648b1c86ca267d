"""A private ``redis-server`` on its own port and data directory."""

from __future__ import annotations

import os
import shutil
import socket
from typing import ClassVar

from trademesh.devstack.processes.base import _HOST, ManagedProcess


class RedisServer(ManagedProcess):
    """A private ``redis-server`` with persistence off (no RDB, no AOF)."""

    name: ClassVar[str] = "redis"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{_HOST}:{self._port}/0"

    @staticmethod
    def binary() -> str:
        """Path of ``redis-server`` (``TRADEMESH_REDIS_SERVER_BIN`` or ``PATH``)."""
        override = os.environ.get("TRADEMESH_REDIS_SERVER_BIN")
        if override:
            return override
        found = shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError("redis-server not found on PATH; run scripts/install-redis.sh")
        return found

    def _command(self) -> list[str]:
        return [
            self.binary(),
            "--port", str(self._port),
            "--bind", _HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._data_dir),
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def _server_pid(self) -> int | None:
        try:
            with socket.create_connection((_HOST, self._port), timeout=1.0) as sock:
                sock.settimeout(1.0)
                reader = sock.makefile("rb")
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                # "-LOADING ..." while loading a dataset: not ready yet.
                if not reader.readline().startswith(b"+PONG"):
                    return None
                sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
                header = reader.readline()
                if not header.startswith(b"$"):
                    return None
                info = reader.read(int(header[1:]))
        except (OSError, ValueError):
            return None
        for line in info.decode("utf-8", errors="replace").splitlines():
            if line.startswith("process_id:"):
                return int(line.split(":", 1)[1])
        return None
