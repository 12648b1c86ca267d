"""A private FerretDB (MongoDB wire protocol) on its own port and data directory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pymongo
from pymongo.errors import PyMongoError

from trademesh.devstack.processes.base import _HOST, ManagedProcess, _tcp_accepts, repo_root


class FerretDBServer(ManagedProcess):
    """A private FerretDB v1 (MongoDB wire protocol) with the SQLite backend.

    Databases are stored as ``<data_dir>/<db>.sqlite`` files; FerretDB's
    state file also goes to ``data_dir``. The debug HTTP listener and
    telemetry are disabled.
    """

    name: ClassVar[str] = "ferretdb"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        log_level: str = "error",
        extra_args: Sequence[str] = (),
        **timeouts: float,
    ) -> None:
        """See :class:`ManagedProcess`; ``log_level`` is FerretDB's ``--log-level``; ``extra_args`` are
        further flags (the planner tests run a reference with ``--test-disable-pushdown``)."""
        super().__init__(data_dir, port, **timeouts)
        self._log_level = log_level
        self._extra_args = tuple(extra_args)

    @property
    def url(self) -> str:
        """``mongodb://127.0.0.1:PORT/``."""
        return f"mongodb://{_HOST}:{self._port}/"

    @staticmethod
    def binary() -> str:
        """Path of the FerretDB binary (``TRADEMESH_FERRETDB_BIN`` or ``<repo>/.tools/bin/ferretdb``)."""
        override = os.environ.get("TRADEMESH_FERRETDB_BIN")
        path = Path(override) if override else repo_root() / ".tools" / "bin" / "ferretdb"
        if not path.is_file():
            raise FileNotFoundError(f"FerretDB binary not found at {path}; run scripts/install-ferretdb.sh")
        return str(path)

    def _environment(self) -> dict[str, str]:
        # Go's collector at its default (GOGC=100) took a quarter of the engine's CPU reading a journal:
        # every row is decoded into short-lived Go values. 400 trades memory (a heap up to ~5x the live
        # one, tens of MiB here) for that CPU: a 10,000-fill read went from ~505 to ~420 ms. An explicit
        # GOGC in the environment wins.
        return {"GOGC": "400", **os.environ}

    def _command(self) -> list[str]:
        # The SQLite URL must be "file:" + an existing directory ending in "/". synchronous(normal): in
        # WAL mode a commit survives a crash of the process (what the tests kill) but not of the
        # machine, and costs no fsync; every commit paid one before (decision 0025).
        return [
            self.binary(),
            "--handler=sqlite",
            f"--sqlite-url=file:{self._data_dir}/?_pragma=synchronous(normal)",
            f"--state-dir={self._data_dir}",
            f"--listen-addr={_HOST}:{self._port}",
            # FerretDB's debug listener (metrics, Go pprof) only when asked: two on the default port clash.
            f"--debug-addr={os.environ.get('TRADEMESH_FERRETDB_DEBUG_ADDR') or '-'}",
            "--telemetry=disable",
            f"--log-level={self._log_level}",
            *self._extra_args,
        ]

    def _server_pid(self) -> int | None:
        if not _tcp_accepts(self._port):
            return None
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.url,
            directConnection=True,
            serverSelectionTimeoutMS=1000,
            connectTimeoutMS=1000,
        )
        try:
            client.admin.command("ping")
            pid = client.admin.command("serverStatus").get("pid")
        except PyMongoError:
            return None
        finally:
            client.close()
        return int(pid) if isinstance(pid, int) else None
