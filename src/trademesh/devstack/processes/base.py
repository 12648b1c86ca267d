"""What every managed server shares: start on a free port, wait until it accepts, stop, restart, kill, log tail."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

_HOST = "127.0.0.1"
_LOG_TAIL_BYTES = 4000
# How often to retry a start on a fresh port when an automatically chosen port
# was grabbed by someone else between choosing it and the server binding it.
_AUTO_PORT_ATTEMPTS = 3


def repo_root() -> Path:
    """Return the repository root (``src/trademesh/devstack/processes/base.py`` -> ``parents[4]``)."""
    return Path(__file__).resolve().parents[4]


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
