"""The private stack (``python -m trademesh.devstack.up`` on free ports) and samples of FerretDB's state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.storage_soak.common import RUN_MARKER
from trademesh.devstack.processes import find_free_port, repo_root
from trademesh.devstack.stack import free_base_port


class StackError(RuntimeError):
    """The private stack did not start, or died."""


class DevStack:
    """``python -m trademesh.devstack.up`` on a temporary data directory and free ports, in its own process group."""

    def __init__(self, workdir: Path, start_timeout: float) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "devstack.log"
        self.base_port = free_base_port()
        self.redis_port = find_free_port()
        self.mongo_port = find_free_port()
        self.gateway_port = find_free_port()
        self.gateway_admin_port = find_free_port()
        self.debug_address = f"127.0.0.1:{find_free_port()}"
        self.marker = uuid.uuid4().hex
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def gateway(self) -> str:
        """The gateway's address (gRPC for every service)."""
        return f"127.0.0.1:{self.gateway_port}"

    @property
    def auth(self) -> str:
        """The auth service's own address."""
        return f"127.0.0.1:{self.base_port}"

    @property
    def mongo_url(self) -> str:
        """FerretDB's MongoDB URL."""
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def metrics_url(self) -> str:
        """FerretDB's Prometheus metrics."""
        return f"http://{self.debug_address}/debug/metrics"

    def start(self) -> None:
        """Start the launcher and wait until it prints its summary (everything SERVING)."""
        command = [
            sys.executable, "-m", "trademesh.devstack.up",
            "--data-dir", str(self.data_dir),
            "--base-port", str(self.base_port),
            "--redis-port", str(self.redis_port),
            "--mongo-port", str(self.mongo_port),
            "--gateway-port", str(self.gateway_port),
            "--gateway-admin-port", str(self.gateway_admin_port),
        ]  # fmt: skip
        env = os.environ | {
            "TRADEMESH_FERRETDB_DEBUG_ADDR": self.debug_address,
            RUN_MARKER: self.marker,
        }
        print(f"starting the mesh (data {self.data_dir}, gateway {self.gateway}, log {self.log_path})", flush=True)
        with self.log_path.open("ab") as log:
            # Its own process group: a Ctrl-C reaches only this script, which then stops the launcher,
            # which stops its children in order (services before the databases they use).
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=repo_root(),
                process_group=0,
            )
        deadline = time.monotonic() + self._start_timeout
        while "trademesh dev stack is up" not in self._log_text():
            if self._process.poll() is not None:
                raise StackError(f"the launcher exited ({self._process.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"the mesh was not up within {self._start_timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.5)
        print(f"the mesh is up ({time.monotonic() - deadline + self._start_timeout:.0f}s)", flush=True)

    def alive(self) -> bool:
        """Return True while the launcher runs."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 240.0) -> None:
        """SIGINT the launcher (it stops every child in order) and wait; SIGKILL only if it hangs."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        print("stopping the mesh (SIGINT to the launcher)", flush=True)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"the launcher did not stop within {timeout:.0f}s; killing it", flush=True)
            process.kill()
            process.wait()

    def strays(self) -> list[tuple[int, str]]:
        """Processes of this run still alive (pid, command line), found by the marker in their environment."""
        needle = f"{RUN_MARKER}={self.marker}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append((int(entry.name), command.strip()))
            except OSError:
                continue
        return found

    def ferretdb_pid(self) -> int | None:
        """The PID of this stack's FerretDB (found again after a restart by the launcher's supervisor)."""
        needle = f"--state-dir={self.data_dir / 'ferretdb'}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if arguments and arguments[0].endswith(b"ferretdb") and needle in arguments:
                return int(entry.name)
        return None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the launcher's output."""
        return "\n".join(self._log_text().splitlines()[-lines:])

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass(frozen=True)
class Sample:
    """FerretDB's state at one moment."""

    pid: int | None
    created: int
    closed: int
    #: Open cursors by (db, collection, type), only those with any open.
    open_by_label: dict[tuple[str, str, str], int]
    rss_bytes: int
    cpu_seconds: float
    moment: float

    @property
    def open(self) -> int:
        """Cursors created and not removed yet."""
        return self.created - self.closed

    def describe_open(self) -> str:
        """``db.collection (type) xN`` for every label set with open cursors."""
        return ", ".join(f"{db}.{coll} ({kind}) x{n}" for (db, coll, kind), n in sorted(self.open_by_label.items()))


def _fetch_metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback http URL of our own
        text: str = response.read().decode()
        return text


def _process_state(pid: int | None) -> tuple[int, float]:
    if pid is None:
        return 0, 0.0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0.0
    rss_kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return rss_kib * 1024, (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def observe(stack: DevStack) -> Sample:
    """Read FerretDB's cursor metrics and its process figures."""
    created: Counter[tuple[str, str, str]] = Counter()
    closed: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(_fetch_metrics(stack.metrics_url)):
        for sample in family.samples:
            label = (sample.labels.get("db", ""), sample.labels.get("collection", ""), sample.labels.get("type", ""))
            if sample.name == "ferretdb_cursors_created_total":
                created[label] += int(sample.value)
            elif sample.name == "ferretdb_cursors_duration_seconds_count":
                closed[label] += int(sample.value)
    pid = stack.ferretdb_pid()
    rss, cpu = _process_state(pid)
    open_by_label = {label: created[label] - closed[label] for label in created if created[label] > closed[label]}
    return Sample(pid, sum(created.values()), sum(closed.values()), open_by_label, rss, cpu, time.monotonic())
