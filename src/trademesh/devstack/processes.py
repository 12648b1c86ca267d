"""Launch and supervise local Redis and FerretDB server processes.

Used by the pytest fixtures and by the ``make up`` dev launcher. Every
instance is a private child process bound to ``127.0.0.1`` on its own port
with its own data directory, so several can run side by side (for example one
per test session) without touching any system-wide service.

Binaries:

* ``redis-server`` from ``PATH`` (installed by ``scripts/install-redis.sh``),
  overridable with ``TRADEMESH_REDIS_SERVER_BIN``.
* ``<repo>/.tools/bin/ferretdb`` (built by ``scripts/install-ferretdb.sh``),
  overridable with ``TRADEMESH_FERRETDB_BIN``.
* ``<repo>/.tools/bin/ratelimit`` (Envoy's global rate-limit service, built by
  ``scripts/install-ratelimit.sh``), overridable with ``TRADEMESH_RATELIMIT_BIN``.

Example::

    with RedisServer(tmp_path / "redis") as redis, FerretDBServer(tmp_path / "db") as db:
        print(redis.url, db.url)
        redis.kill()      # simulate a crash
        redis.restart()   # same port, same data dir
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

import pymongo
from pymongo.errors import PyMongoError

__all__ = [
    "FerretDBPostgreSQLServer",
    "FerretDBServer",
    "ManagedProcess",
    "PostgreSQLServer",
    "ProcessStartError",
    "RateLimitServer",
    "RedisServer",
    "find_free_port",
    "ratelimit_environment",
    "repo_root",
]

_HOST = "127.0.0.1"
_LOG_TAIL_BYTES = 4000
# How often to retry a start on a fresh port when an automatically chosen port
# was grabbed by someone else between choosing it and the server binding it.
_AUTO_PORT_ATTEMPTS = 3


def repo_root() -> Path:
    """Return the repository root (``src/trademesh/devstack/processes.py`` -> ``parents[3]``)."""
    return Path(__file__).resolve().parents[3]


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The kernel picks the port; it is released before returning, so another
    process could in principle take it before the caller binds it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tcp_accepts(port: int, timeout: float = 0.5) -> bool:
    """Return True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((_HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class ProcessStartError(RuntimeError):
    """A managed server process exited or did not become ready in time."""


class _PortConflictError(ProcessStartError):
    """The port is owned by another process."""


# Running instances (strong references, so a server whose object was dropped
# without stop() is still found), stopped at interpreter exit so no server
# outlives its owner on a normal exit (including KeyboardInterrupt). A SIGKILLed
# owner cannot clean up: its servers keep running until killed.
_live: set[ManagedProcess] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.stop()


class ManagedProcess(ABC):
    """A server child process with a data dir, a fixed port and a readiness probe.

    Subclasses provide the command line (:meth:`_command`), the readiness
    check (:meth:`_server_pid`) and the :attr:`url`.

    The port is chosen in the constructor (so :attr:`url` is known before
    :meth:`start`) and pinned by the first successful start: :meth:`restart`
    (e.g. after :meth:`kill`) brings the server back at the same address. Only
    if an automatically chosen port turns out to be taken at the first start is
    another one picked. Readiness means the server on the port answers *and*
    reports our child's PID, so a foreign server on the port is never mistaken
    for ours. stdout and stderr go to ``<data_dir>/<name>.log`` (appended
    across restarts).
    """

    #: Short name used for the log file and in error messages.
    name: ClassVar[str]
    #: What `stop` sends first (SIGKILL follows after ``stop_timeout``).
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    #: Defaults of ``startup_timeout`` and ``stop_timeout`` for this kind of server.
    default_timeouts: ClassVar[tuple[float, float]] = (30.0, 10.0)

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        startup_timeout: float | None = None,
        stop_timeout: float | None = None,
    ) -> None:
        """Prepare (but do not start) a server.

        Args:
            data_dir: Directory for the server's data and log file; created if missing.
                Avoid ``?``, ``#`` and ``%`` in it (FerretDB takes it as a ``file:`` URL).
            port: TCP port on 127.0.0.1; ``None`` or ``0`` picks a free one.
            startup_timeout: Seconds :meth:`start` waits for the server to be ready.
            stop_timeout: Seconds :meth:`stop` waits after ``stop_signal`` before SIGKILL.
        """
        self._data_dir = Path(data_dir).resolve()
        self._auto_port = not port
        self._port = port or find_free_port()
        self._startup_timeout = self.default_timeouts[0] if startup_timeout is None else startup_timeout
        self._stop_timeout = self.default_timeouts[1] if stop_timeout is None else stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._ever_started = False
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ API

    @property
    def port(self) -> int:
        """TCP port the server listens on (fixed for the object's lifetime)."""
        return self._port

    @property
    def host(self) -> str:
        """Address the server binds to (always ``127.0.0.1``)."""
        return _HOST

    @property
    @abstractmethod
    def url(self) -> str:
        """Client connection URL."""

    @property
    def data_dir(self) -> Path:
        """Absolute path of the data directory."""
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """File receiving the server's stdout and stderr."""
        return self._data_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """PID of the running process, or ``None`` if not running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the child process is alive (not necessarily ready)."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    def start(self) -> None:
        """Spawn the server and block until it accepts requests.

        Raises:
            ProcessStartError: The process exited early or was not ready within
                ``startup_timeout`` (the message includes the log tail).
            FileNotFoundError: The server binary cannot be found.
            RuntimeError: The server is already running.
        """
        with self._lock:
            if self.running:
                raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
            self._data_dir.mkdir(parents=True, exist_ok=True)
            # An auto-chosen port may be stolen before the first bind: retry on
            # a fresh one. After a successful start the port is pinned.
            attempts = _AUTO_PORT_ATTEMPTS if self._auto_port and not self._ever_started else 1
            for attempt in range(attempts):
                try:
                    self._spawn_and_wait()
                except _PortConflictError:
                    if attempt + 1 < attempts:
                        self._port = find_free_port()
                        continue
                    raise
                self._ever_started = True
                _live.add(self)
                return

    def stop(self) -> None:
        """Stop gracefully: ``stop_signal`` (SIGTERM), wait up to ``stop_timeout``, then SIGKILL.

        A no-op if not running.
        """
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(self.stop_signal)
                try:
                    proc.wait(timeout=self._stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._cleanup()

    def kill(self) -> None:
        """Kill immediately with SIGKILL (simulates a crash). A no-op if not running."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            self._cleanup()

    def restart(self) -> None:
        """Stop if running, then start again on the same port with the same data dir."""
        with self._lock:
            self.stop()
            self.start()

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        """Return the last ``max_bytes`` of the log file (empty if none)."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"{type(self).__name__}(port={self._port}, data_dir={str(self._data_dir)!r}, {state})"

    # ------------------------------------------------------ subclass hooks

    @abstractmethod
    def _command(self) -> list[str]:
        """Return the argv that starts the server on :attr:`port`."""

    def _environment(self) -> dict[str, str] | None:
        """Return the server's environment (``None``: this process's own)."""
        return None

    @abstractmethod
    def _server_pid(self) -> int | None:
        """Ask the server on :attr:`port` for its PID; ``None`` if it does not answer yet.

        Called repeatedly during start-up. Comparing the answer with our child's
        PID makes sure we are not talking to some other server on the port.
        """

    # ------------------------------------------------------------ internals

    def _spawn_and_wait(self) -> None:
        cmd = self._command()
        if _tcp_accepts(self._port):
            raise _PortConflictError(f"{self.name}: port {self._port} is already in use by another process")
        log = self.log_path.open("ab")
        log.write(f"\n=== trademesh devstack: starting {' '.join(cmd)}\n".encode())
        log.flush()
        self._log_file = log
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._data_dir,
            env=self._environment(),
        )
        deadline = time.monotonic() + self._startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._cleanup()
                error = _PortConflictError if _tcp_accepts(self._port) else ProcessStartError
                raise error(
                    f"{self.name} exited with code {code} during start-up on port {self._port}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            server_pid = self._server_pid()
            if server_pid == self._proc.pid:
                return
            if server_pid is not None:
                self.kill()
                raise _PortConflictError(
                    f"{self.name}: port {self._port} is served by another process (pid {server_pid})"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ProcessStartError(
                    f"{self.name} not ready on port {self._port} after {self._startup_timeout:.0f}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _cleanup(self) -> None:
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _live.discard(self)


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


def _redis_address(redis_url: str) -> str:
    address = redis_url.removeprefix("redis://").split("/", 1)[0]
    return address.rsplit("@", 1)[-1]


def ratelimit_environment(
    *, grpc_port: int, http_port: int, debug_port: int, redis_url: str, config_root: Path, key_prefix: str = ""
) -> dict[str, str]:
    """The variables envoyproxy/ratelimit reads: loopback ports, Redis over TCP, limits from ``config_root``."""
    config_root = Path(config_root).resolve()
    return {
        "HOST": _HOST,
        "PORT": str(http_port),
        "GRPC_HOST": _HOST,
        "GRPC_PORT": str(grpc_port),
        "DEBUG_HOST": _HOST,
        "DEBUG_PORT": str(debug_port),
        "BACKEND_TYPE": "redis",
        "REDIS_SOCKET_TYPE": "tcp",
        "REDIS_URL": _redis_address(redis_url),
        "CACHE_KEY_PREFIX": key_prefix,
        # The limits are <RUNTIME_ROOT>/<RUNTIME_SUBDIRECTORY>/config/*.yaml, reloaded when they change.
        "RUNTIME_ROOT": str(config_root.parent),
        "RUNTIME_SUBDIRECTORY": config_root.name,
        "RUNTIME_APPDIRECTORY": "config",
        "RUNTIME_IGNOREDOTFILES": "true",
        "RUNTIME_WATCH_ROOT": "false",
        "USE_STATSD": "false",
        "LOG_LEVEL": "warn",
        "LOG_FORMAT": "json",
        # Not healthy until its limits are loaded: a gateway must not count against an empty config.
        "HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED": "true",
    }


class RateLimitServer(ManagedProcess):
    """Envoy's global rate-limit service (envoyproxy/ratelimit) on Redis, for the gateway's per-client limits.

    ``port`` is its gRPC port (Envoy's ``rate_limit_service``); it also listens on an HTTP port
    (``/healthcheck``, what readiness polls) and a debug port, both chosen free. Its configuration is the
    directory ``config_root`` holding ``config/<domain>.yaml`` (written by
    :func:`trademesh.gateway.envoy_config.write_ratelimit_config`), reread when a file in it changes.
    Counters live in Redis under ``key_prefix``, so several services (tests) can share one Redis.
    """

    name: ClassVar[str] = "ratelimit"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        redis_url: str,
        config_root: Path,
        key_prefix: str = "",
        **timeouts: float,
    ) -> None:
        """See :class:`ManagedProcess`; ``redis_url`` is ``redis://host:port[/db]``."""
        super().__init__(data_dir, port, **timeouts)
        self._redis_address = _redis_address(redis_url)
        self._config_root = Path(config_root).resolve()
        self._key_prefix = key_prefix
        self.http_port = find_free_port()
        self._debug_port = find_free_port()

    @property
    def url(self) -> str:
        """``127.0.0.1:PORT``, the gRPC address Envoy calls."""
        return f"{_HOST}:{self._port}"

    @staticmethod
    def binary() -> str:
        """Path of the binary (``TRADEMESH_RATELIMIT_BIN`` or ``<repo>/.tools/bin/ratelimit``)."""
        override = os.environ.get("TRADEMESH_RATELIMIT_BIN")
        path = Path(override) if override else repo_root() / ".tools" / "bin" / "ratelimit"
        if not path.is_file():
            raise FileNotFoundError(f"rate-limit service not found at {path}; run scripts/install-ratelimit.sh")
        return str(path)

    def _environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "TMPDIR")}
        return environment | ratelimit_environment(
            grpc_port=self._port,
            http_port=self.http_port,
            debug_port=self._debug_port,
            redis_url=f"redis://{self._redis_address}",
            config_root=self._config_root,
            key_prefix=self._key_prefix,
        )

    def _command(self) -> list[str]:
        return [self.binary()]

    def _server_pid(self) -> int | None:
        # The service cannot tell its PID; the port was free before our child started (checked by
        # _spawn_and_wait), so a healthy answer there is our child's.
        url = f"http://{_HOST}:{self.http_port}/healthcheck"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                healthy = response.status == 200
        except OSError:
            return None
        proc = self._proc
        return proc.pid if healthy and proc is not None else None


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
