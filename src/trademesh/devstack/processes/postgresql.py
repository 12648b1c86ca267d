"""A private PostgreSQL (``initdb`` into a temporary directory) and FerretDB on top of it."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from trademesh.devstack.processes.base import _HOST, ManagedProcess, ProcessStartError, _tcp_accepts
from trademesh.devstack.processes.ferretdb import FerretDBServer


class PostgreSQLServer(ManagedProcess):
    """A private PostgreSQL cluster (Debian's ``postgresql``), for FerretDB's PostgreSQL backend.

    Only the trade benchmark uses it (docs/decisions/0016). The cluster lives in its own
    temporary directory (``cluster_dir``, created by ``initdb`` at the first start and removed
    by :meth:`remove_cluster` or on leaving the ``with`` block), listens on 127.0.0.1:``port``
    and on a unix socket in that directory, and trusts local connections (it is reachable only
    from this machine). As root, ``initdb`` and ``postgres`` run as the ``postgres`` user
    (``setpriv``, which execs, so the PID is the postmaster's). ``data_dir`` only holds the log.

    Binaries: ``TRADEMESH_POSTGRES_BINDIR`` or the newest ``/usr/lib/postgresql/<major>/bin``
    (installed by ``scripts/install-postgres.sh``).
    """

    name: ClassVar[str] = "postgresql"
    os_user: ClassVar[str] = "postgres"
    #: PostgreSQL's *fast* shutdown (SIGTERM would wait for every client to disconnect).
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT
    default_timeouts: ClassVar[tuple[float, float]] = (60.0, 30.0)

    def __init__(
        self, data_dir: Path, port: int | None = None, *, settings: dict[str, str] | None = None, **timeouts: float
    ) -> None:
        """See :class:`ManagedProcess`; ``settings`` are extra ``-c name=value`` server settings."""
        super().__init__(data_dir, port, **timeouts)
        self._settings = dict(settings or {})
        self._cluster_dir: Path | None = None

    @property
    def url(self) -> str:
        """``postgres://postgres@127.0.0.1:PORT/postgres`` (TCP)."""
        return f"postgres://{self.os_user}@{_HOST}:{self._port}/postgres"

    @property
    def socket_url(self) -> str:
        """The same database over the unix socket (``host=<socket dir>``), as libpq and pgx read it."""
        return f"postgres://{self.os_user}@/postgres?host={self.cluster_dir}&port={self._port}"

    @property
    def cluster_dir(self) -> Path:
        """The temporary directory holding the cluster (``data/``) and the socket."""
        if self._cluster_dir is None:
            import tempfile

            self._cluster_dir = Path(tempfile.mkdtemp(prefix="trademesh-pg-"))
            # Registered after _stop_all_at_exit, so it runs first: stop, then delete.
            atexit.register(self.remove_cluster)
            if self._as_root():
                import pwd

                entry = pwd.getpwnam(self.os_user)
                os.chown(self._cluster_dir, entry.pw_uid, entry.pw_gid)
        return self._cluster_dir

    @staticmethod
    def bindir() -> Path:
        """Directory of ``postgres``, ``initdb`` and ``psql``."""
        override = os.environ.get("TRADEMESH_POSTGRES_BINDIR")
        if override:
            return Path(override)
        found = sorted(
            (path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        )
        if not found:
            raise FileNotFoundError("PostgreSQL not found in /usr/lib/postgresql; run scripts/install-postgres.sh")
        return found[-1]

    def psql(self, sql: str, *, timeout: float = 600.0) -> str:
        """Run SQL with ``psql`` over the socket and return its unaligned, tuples-only output."""
        command = [str(self.bindir() / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        result = subprocess.run(
            [*command, "-h", str(self.cluster_dir), "-p", str(self._port), "-U", self.os_user, "-d", "postgres"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def remove_cluster(self) -> None:
        """Stop, then delete the cluster directory (its data is gone)."""
        self.stop()
        if self._cluster_dir is not None:
            shutil.rmtree(self._cluster_dir, ignore_errors=True)
            self._cluster_dir = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove_cluster()

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run_as(self) -> list[str]:
        if not self._as_root():
            return []
        return ["setpriv", f"--reuid={self.os_user}", f"--regid={self.os_user}", "--init-groups", "--"]

    def _initdb(self) -> None:
        pgdata = self.cluster_dir / "data"
        if (pgdata / "PG_VERSION").is_file():
            return
        command = [
            *self._run_as(),
            str(self.bindir() / "initdb"),
            f"--pgdata={pgdata}",
            f"--username={self.os_user}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        result = subprocess.run(command, cwd=self.cluster_dir, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ProcessStartError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _command(self) -> list[str]:
        self._initdb()
        settings = {"listen_addresses": _HOST, "unix_socket_directories": str(self.cluster_dir)} | self._settings
        flags = [item for key, value in settings.items() for item in ("-c", f"{key}={value}")]
        return [
            *self._run_as(),
            str(self.bindir() / "postgres"),
            "-D", str(self.cluster_dir / "data"),
            "-p", str(self._port),
            *flags,
        ]  # fmt: skip

    def _server_pid(self) -> int | None:
        # postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shmem key, status.
        try:
            lines = (self.cluster_dir / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or lines[7].strip() != "ready" or not _tcp_accepts(self._port):
            return None
        return int(lines[0])


class FerretDBPostgreSQLServer(FerretDBServer):
    """A private FerretDB v1 with the PostgreSQL backend (``--handler=postgresql``).

    Same binary and patches as :class:`FerretDBServer` (decision 0002); each MongoDB database is
    a PostgreSQL schema, each collection a table with one ``jsonb`` column (``_jsonb``). Used by
    the trade benchmark (docs/decisions/0016) with a :class:`PostgreSQLServer`.
    """

    def __init__(
        self,
        data_dir: Path,
        postgresql_url: str,
        port: int | None = None,
        *,
        log_level: str = "error",
        **timeouts: float,
    ) -> None:
        """``postgresql_url`` is FerretDB's ``--postgresql-url`` (e.g. ``PostgreSQLServer.socket_url``)."""
        super().__init__(data_dir, port, log_level=log_level, extra_args=(), **timeouts)
        self._postgresql_url = postgresql_url

    def _command(self) -> list[str]:
        return [
            self.binary(),
            "--handler=postgresql",
            f"--postgresql-url={self._postgresql_url}",
            f"--state-dir={self._data_dir}",
            f"--listen-addr={_HOST}:{self._port}",
            "--debug-addr=-",
            "--telemetry=disable",
            f"--log-level={self._log_level}",
        ]
