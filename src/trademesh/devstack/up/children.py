"""The processes the launcher runs: Redis and FerretDB restartable in place, and each service."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from trademesh.devstack.processes import FerretDBServer, ManagedProcess, RedisServer
from trademesh.devstack.stack import (
    HOST,
    ServiceSpec,
    StackContext,
    service_command,
    service_environment,
)
from trademesh.devstack.up.common import _LOG_TAIL_BYTES, _SERVING, STOP_MARGIN_SECONDS, _read_tail, logger
from trademesh.devstack.up.health import check_health, check_http_ready

# Runs `argv[1:]` via exec (same PID) after leaving the launcher's process group, so the terminal's
# Ctrl-C does not reach Redis and FerretDB before the services that use them have stopped.
_OWN_GROUP_SHIM = "import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])"


def _in_own_process_group(command: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _OWN_GROUP_SHIM, *command]


class _SupervisedServer(ManagedProcess):
    """Redis or FerretDB as the launcher runs it: what the supervisor needs besides :class:`ManagedProcess`."""

    started_at = 0.0

    def start(self) -> None:
        super().start()
        self.started_at = time.monotonic()

    @property
    def last_pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def exit_code(self) -> int | None:
        proc = self._proc
        return proc.poll() if proc is not None else None

    def respawn(self) -> None:
        # stop() only tidies up after the dead process; start() waits until the server answers on its port.
        self.restart()

    def probe(self) -> str:
        return _SERVING if self.running else "EXITED"

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        return _read_tail(self.log_path, 0, max_bytes)


class _DevRedis(_SupervisedServer, RedisServer):
    def _command(self) -> list[str]:
        return _in_own_process_group(super()._command())


class _DevFerretDB(_SupervisedServer, FerretDBServer):
    def _command(self) -> list[str]:
        return _in_own_process_group(super()._command())


@dataclass(eq=False)
class ServiceProcess:
    """One running service: ``python -m <module>`` in its own process group, output to its log file."""

    spec: ServiceSpec
    context: StackContext
    health: str = "STARTING"
    started_at: float = 0.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_start: int = 0
    _stopped: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def port(self) -> int:
        return self.context.ports[self.spec.name]

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.context.layout.service_log(self.spec.name)

    @property
    def ready_url(self) -> str | None:
        """Readiness over HTTP instead of gRPC health (the gateway, the fake broker)."""
        return self.spec.ready_url(self.context) if self.spec.ready_url else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # The names the supervisor uses for every child (Redis and FerretDB have their own `pid`).
    last_pid = pid

    def probe(self) -> str:
        """Check readiness once: gRPC health, or the HTTP ready URL."""
        url = self.ready_url
        return check_http_ready(url) if url else check_health(self.address, service=self.spec.health_service)

    def start(self) -> None:
        """Spawn the process (does not wait for it to serve)."""
        # Built at every start: the sync service's environment renews its service token when it is due.
        command = service_command(self.spec, self.context)
        env = service_environment(self.spec, self.context, os.environ)
        cwd = self.context.layout.root
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_start = log.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== trademesh devstack {stamp}: starting {' '.join(command)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                process_group=0,
            )
        self.started_at = time.monotonic()

    def poll(self) -> int | None:
        """Return the exit code if the process has ended, else None."""
        return self._proc.poll() if self._proc is not None else None

    exit_code = poll  # the supervisor's name

    def respawn(self) -> None:
        """Start the process again after it exited (same command, port and log file)."""
        # The group outlives its dead leader only if the service left children behind.
        self._signal_group(signal.SIGKILL)
        self._stopped = False
        self.health = "STARTING"
        self.start()

    def stop(self) -> None:
        """SIGTERM, wait up to grace + 5 s, then SIGKILL; also clears anything left in its process group."""
        proc = self._proc
        if proc is None or self._stopped:
            return
        self._stopped = True
        if proc.poll() is None:
            wait = self.spec.shutdown_grace_seconds + STOP_MARGIN_SECONDS
            logger.info("stopping %s (pid %d)", self.name, proc.pid)
            self._signal_group(signal.SIGTERM)
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0fs; killing it", self.name, wait)
                self._signal_group(signal.SIGKILL)
                proc.wait()
        # The group outlives its leader only if the service left children behind.
        self._signal_group(signal.SIGKILL)

    def log_tail(self) -> str:
        """Return the end of this run's part of the log."""
        return _read_tail(self.log_path, self._log_start)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)
