"""``make up``: run the whole local mesh in the foreground until Ctrl-C.

``python -m trademesh.devstack.up [--once] [--no-services] [--data-dir DIR] [--redis-port N]
[--mongo-port N] [--base-port N] [--gateway-port N] [--gateway-admin-port N]``

1. Prepares the data directory (see :mod:`trademesh.devstack.stack`), generating auth's signing key
   on the first run.
2. Checks that every port it needs is free, naming the flag that changes a busy one.
3. Starts Redis and FerretDB, then each service of :data:`~trademesh.devstack.stack.SERVICES` as its
   own OS process (``python -m <module>``, output appended to ``<data>/logs/<name>.log``), a service
   only once the services it depends on report SERVING.
4. Waits (up to 30 s each) for every service to report SERVING on the standard gRPC health service
   (the gateway: Envoy's admin ``/ready`` answering LIVE); prints a summary of addresses, PIDs, health
   and log files, and the gateway's URL.
5. Supervises (decision 0024): a process that exits afterwards — Redis, FerretDB or any service, the
   gateway and the fake broker included — is started again with exponential backoff (0.5 s, doubling
   up to 30 s; back to 0.5 s once it had run for 60 s), on the same port with the same data directory,
   so the services still running reconnect to it by themselves. Each exit is logged with the process,
   its PID and exit code, the tail of its log, the attempt number and the delay; a restarted service is
   logged again once it reports SERVING. The launcher keeps running. A failure *during start-up*
   (steps 1-4) still stops everything and exits 1: that is a broken setup, not a crash.
6. On SIGINT (Ctrl-C), SIGTERM or SIGHUP: stops the services (SIGTERM, then SIGKILL after their grace
   + 5 s), then FerretDB, then Redis, and exits 0 — also while a restart is pending.

Every child runs in its own process group, so a Ctrl-C in the terminal reaches only this launcher,
which then stops the children in that order (services before the databases they use).

``--once`` starts everything, prints the summary, runs the health check once more and stops (exit 0
if all is SERVING); the tests use it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import ClassVar, Protocol

import grpc
from grpc_health.v1 import health_pb2
from tenacity import RetryCallState, Retrying, wait_exponential

from trademesh.devstack.processes import FerretDBServer, ManagedProcess, ProcessStartError, RedisServer
from trademesh.devstack.stack import (
    DEFAULT_BASE_PORT,
    DEFAULT_GATEWAY_ADMIN_PORT,
    DEFAULT_GATEWAY_PORT,
    DEFAULT_MONGO_PORT,
    DEFAULT_REDIS_PORT,
    GATEWAY_ADMIN,
    GATEWAY_PORT_FLAG,
    HOST,
    RATELIMIT,
    SERVICES,
    WEB_DIST,
    DataLayout,
    ServiceSpec,
    StackContext,
    default_data_dir,
    select_services,
    service_command,
    service_environment,
    service_port,
    validate_services,
)

__all__ = ["RestartBackoff", "check_health", "check_http_ready", "main", "run"]

#: The demo trader `make up` creates, so the printed browser URL comes with a login that works.
DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@trademesh.dev"
DEMO_PASSWORD = "Nifty-Fifty-2024"

logger = logging.getLogger("trademesh.devstack.up")

#: How long a service may take to report SERVING after its process started.
HEALTH_TIMEOUT_SECONDS = 30.0
#: Added to a service's shutdown grace before it is killed.
STOP_MARGIN_SECONDS = 5.0
#: The wait before the first restart of a process that exited; it doubles with every further attempt...
RESTART_FIRST_DELAY_SECONDS = 0.5
#: ... up to this.
RESTART_MAX_DELAY_SECONDS = 30.0
#: A process that ran at least this long before it exited starts the backoff afresh.
RESTART_RESET_AFTER_SECONDS = 60.0
_POLL_SECONDS = 0.2
_LOG_TAIL_BYTES = 4000
_SERVING = "SERVING"
_HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Runs `argv[1:]` via exec (same PID) after leaving the launcher's process group, so the terminal's
# Ctrl-C does not reach Redis and FerretDB before the services that use them have stopped.
_OWN_GROUP_SHIM = "import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])"


class StackError(Exception):
    """The stack cannot start or keep running; the message says why (and shows a log tail)."""


class _Interrupted(Exception):
    """A stop signal arrived during start-up."""


class _StopRequest:
    """Set by SIGINT/SIGTERM/SIGHUP; polled by the launcher's loops."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
        else:
            logger.info("%s received; already stopping", signal.Signals(signum).name)


def _in_own_process_group(command: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _OWN_GROUP_SHIM, *command]


class RestartBackoff:
    """The restart schedule of one process: exponential delays, started afresh once it had stayed up.

    The delays come from tenacity's ``wait_exponential`` (first, 2 x first, 4 x first, ... up to ``cap``).
    """

    def __init__(
        self,
        first: float = RESTART_FIRST_DELAY_SECONDS,
        cap: float = RESTART_MAX_DELAY_SECONDS,
        reset_after: float = RESTART_RESET_AFTER_SECONDS,
    ) -> None:
        self._wait = wait_exponential(multiplier=first, max=cap)
        # The wait strategy reads only the attempt number of this state.
        self._state = RetryCallState(Retrying(), None, (), {})
        self._reset_after = reset_after
        #: Restart attempts so far (0: none since the process last stayed up long enough).
        self.attempt = 0

    def next_delay(self, uptime: float) -> float:
        """Count one more restart attempt of a process that ran ``uptime`` seconds; return the wait before it."""
        if uptime >= self._reset_after:
            self.attempt = 0
        self.attempt += 1
        self._state.attempt_number = self.attempt
        return float(self._wait(self._state))


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


def check_health(address: str, timeout: float = 1.0, service: str = "") -> str:
    """Return the serving status of the server at ``address`` (gRPC health of ``service``; "" the process).

    A service's own name is its readiness: NOT_SERVING while MongoDB or Redis has failed for a while.

    ``SERVING``, ``NOT_SERVING``, ..., or ``UNREACHABLE`` / the gRPC status code name if the call fails.
    """
    # A fresh channel with its own subchannel: no reconnect backoff carried over from earlier attempts.
    with grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        check = channel.unary_unary(
            _HEALTH_CHECK_METHOD,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            code = error.code()
            return "UNREACHABLE" if code == grpc.StatusCode.UNAVAILABLE else str(code.name)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def check_http_ready(url: str, timeout: float = 1.0) -> str:
    """Return ``SERVING`` if ``url`` answers 200, else ``UNREACHABLE`` or ``HTTP <code>``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a loopback http URL
            return _SERVING if response.status == 200 else f"HTTP_{response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP_{error.code}"
    except OSError:
        return "UNREACHABLE"


def _port_in_use(port: int) -> bool:
    """Return True if something listens on ``HOST:port`` (or on all addresses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: ignore TIME_WAIT leftovers, fail only on a live listener (as the servers would).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_tail(path: Path, start: int = 0, max_bytes: int = _LOG_TAIL_BYTES) -> str:
    """Return the end of ``path`` from byte ``start`` on, at most ``max_bytes``, starting at a line."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            begin = max(start, size - max_bytes)
            f.seek(begin)
            data = f.read()
    except OSError:
        return ""
    if begin > start and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", errors="replace").strip()


def _indent(text: str) -> str:
    return "\n".join(("    " + line).rstrip() for line in text.splitlines()) if text else "    (log is empty)"


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


class _Supervised(Protocol):
    """A child process the supervisor restarts: a :class:`ServiceProcess` or Redis/FerretDB."""

    started_at: float

    @property
    def name(self) -> str: ...

    @property
    def log_path(self) -> Path: ...

    @property
    def last_pid(self) -> int | None: ...

    def exit_code(self) -> int | None: ...

    def respawn(self) -> None: ...

    def probe(self) -> str: ...

    def log_tail(self) -> str: ...


@dataclass(eq=False)
class _Watch:
    """What the supervisor keeps about one child between two polls."""

    child: _Supervised
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    #: When the pending restart is due (``time.monotonic()``); None if none is pending.
    restart_at: float | None = None
    #: When the child was restarted, while it has not reported SERVING since.
    restarted_at: float | None = None
    slow_warned: bool = False


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    data_dir: Path
    redis_port: int
    mongo_port: int
    base_port: int
    no_services: bool
    once: bool
    gateway_port: int = DEFAULT_GATEWAY_PORT
    gateway_admin_port: int = DEFAULT_GATEWAY_ADMIN_PORT
    #: Serve the gateway over TLS with a self-signed certificate (made once in <data>/gateway/tls).
    gateway_tls: bool = False


class Launcher:
    """Starts, supervises and stops one local stack."""

    _PORT_FLAGS: ClassVar[dict[str, str]] = {"redis": "--redis-port", "ferretdb": "--mongo-port"}
    _GATEWAY_ADMIN_FLAG = "--gateway-admin-port"

    def __init__(self, options: Options, stop: _StopRequest, services: Sequence[ServiceSpec] = SERVICES) -> None:
        self._options = options
        self._stop = stop
        self._layout = DataLayout(options.data_dir)
        self._redis = _DevRedis(self._layout.redis_dir, options.redis_port)
        self._ferretdb = _DevFerretDB(self._layout.ferretdb_dir, options.mongo_port)
        self._all_specs = tuple(services)
        self._specs: list[ServiceSpec] = []
        self._services: list[ServiceProcess] = []
        self._demo_login: str | None = None

    # ---------------------------------------------------------------- run

    def run(self) -> int:
        """Start, then supervise (or check once); always stop everything before returning the exit code."""
        try:
            self._start()
            self._print_summary()
            if self._options.once:
                return self._final_check()
            return self._supervise()
        except _Interrupted:
            logger.info("%s received during start-up; stopping", self._stop.signal_name)
            return 0
        except StackError as error:
            logger.error("%s", error)
            return 1
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        """Stop the services (reverse start order), then FerretDB, then Redis. Idempotent."""
        for service in reversed(self._services):
            service.stop()
        for server in (self._ferretdb, self._redis):
            if server.running:
                logger.info("stopping %s (pid %s)", server.name, server.pid)
            server.stop()

    # ------------------------------------------------------------- start

    def _start(self) -> None:
        try:
            validate_services(self._all_specs)
        except ValueError as error:
            raise StackError(f"the service table in trademesh.devstack.stack is invalid: {error}") from None
        self._specs = self._select_services()
        ports = {spec.name: self._port(spec) for spec in self._all_specs}
        extra_ports = {GATEWAY_ADMIN: self._options.gateway_admin_port}
        self._check_ports(ports)
        self._prepare_data_dir()
        self._start_infrastructure(self._redis)
        self._start_infrastructure(self._ferretdb)
        context = StackContext(
            self._layout, self._redis.url, self._ferretdb.url, ports, extra_ports, gateway_tls=self._options.gateway_tls
        )
        by_name: dict[str, ServiceProcess] = {}
        for spec in self._specs:
            for dependency in spec.depends_on:
                self._wait_serving(by_name[dependency])
            service = ServiceProcess(spec, context)
            logger.info("starting %s on %s (log %s)", spec.name, service.address, _display_path(service.log_path))
            try:
                service.start()
            except OSError as error:
                raise StackError(f"could not start {spec.name}: {error}") from None
            self._services.append(service)
            by_name[spec.name] = service
            self._check_stop()
        for service in self._services:
            self._wait_serving(service)
        auth = by_name.get("auth")
        if auth is not None:
            self._demo_login = ensure_demo_user(auth.address)

    def _port(self, spec: ServiceSpec) -> int:
        if spec.port_flag == GATEWAY_PORT_FLAG:
            return self._options.gateway_port
        return service_port(spec, self._options.base_port)

    def _select_services(self) -> list[ServiceSpec]:
        if self._options.no_services:
            logger.info("--no-services: starting Redis and FerretDB only")
            return []
        selected, notes = select_services(self._all_specs)
        for note in notes:
            logger.warning("%s", note)
        return selected

    def _check_ports(self, service_ports: dict[str, int]) -> None:
        wanted: list[tuple[str, int, str]] = [
            ("redis", self._options.redis_port, self._PORT_FLAGS["redis"]),
            ("ferretdb", self._options.mongo_port, self._PORT_FLAGS["ferretdb"]),
        ]
        wanted += [(spec.name, service_ports[spec.name], spec.port_flag) for spec in self._specs]
        if any(spec.port_flag == GATEWAY_PORT_FLAG for spec in self._specs):
            wanted.append((GATEWAY_ADMIN, self._options.gateway_admin_port, self._GATEWAY_ADMIN_FLAG))
        problems: list[str] = []
        owners: dict[int, str] = {}
        for name, port, flag in wanted:
            if not 0 < port < 65536:
                problems.append(f"port {port} ({name}) is not a valid TCP port; change it with {flag}")
            elif port in owners:
                problems.append(f"port {port} is given to both {owners[port]} and {name}; change it with {flag}")
            elif _port_in_use(port):
                problems.append(
                    f"port {port} ({name}) is already in use on {HOST} (another `make up`, or a system "
                    f"service?); choose a free one with {flag} PORT"
                )
            owners.setdefault(port, name)
        if problems:
            raise StackError("cannot start:\n  " + "\n  ".join(problems))

    def _prepare_data_dir(self) -> None:
        layout = self._layout
        for directory in (layout.root, layout.redis_dir, layout.ferretdb_dir, layout.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        layout.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(spec.name == "auth" for spec in self._specs) and not layout.signing_key.exists():
            # Imported here: only the auth service's key format is needed, and only on first run.
            from trademesh.services.auth.keys import write_new_key

            write_new_key(layout.signing_key)
            logger.info("generated signing key %s", _display_path(layout.signing_key))

    def _start_infrastructure(self, server: ManagedProcess) -> None:
        self._check_stop()
        logger.info("starting %s on port %d", server.name, server.port)
        try:
            server.start()
        except FileNotFoundError as error:
            raise StackError(f"{error} (or run `make setup`)") from None
        except ProcessStartError as error:
            hint = f"\n  (choose another port with {self._PORT_FLAGS[server.name]} PORT if it is taken)"
            raise StackError(f"{error}{hint}") from None
        self._check_stop()

    def _wait_serving(self, service: ServiceProcess) -> None:
        if service.health == _SERVING:
            return
        deadline = service.started_at + HEALTH_TIMEOUT_SECONDS
        while True:
            self._check_stop()
            code = service.poll()
            if code is not None:
                service.health = "EXITED"
                raise StackError(
                    f"{service.name} exited ({_describe_exit(code)}) before reporting SERVING; "
                    f"end of {_display_path(service.log_path)}:\n{_indent(service.log_tail())}"
                )
            service.health = service.probe()
            if service.health == _SERVING:
                logger.info("%s is SERVING on %s", service.name, service.address)
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"{service.name} did not report SERVING on {service.address} within "
                    f"{HEALTH_TIMEOUT_SECONDS:.0f}s (last status {service.health}); "
                    f"end of {_display_path(service.log_path)}:\n{_indent(service.log_tail())}"
                )
            time.sleep(_POLL_SECONDS)

    def _check_stop(self) -> None:
        if self._stop.requested:
            raise _Interrupted

    # ------------------------------------------------------ after start

    def _print_summary(self) -> None:
        rows = [("COMPONENT", "ADDRESS", "PID", "HEALTH", "LOG")]
        for server in (self._redis, self._ferretdb):
            rows.append(
                (
                    server.name,
                    server.url,
                    str(server.pid),
                    "ready" if server.running else "STOPPED",
                    _display_path(server.log_path),
                )
            )
        for service in self._services:
            rows.append(
                (service.name, service.address, str(service.pid), service.health, _display_path(service.log_path))
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = ["", f"trademesh dev stack is up (data in {_display_path(self._layout.root)})", ""]
        lines += [
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines += ["", *self._try_it_lines(), ""]
        lines.append("Checking once, then stopping (--once)." if self._options.once else "Ctrl-C stops everything.")
        print("\n".join(lines), flush=True)

    def _try_it_lines(self) -> list[str]:
        lines = ["Try it:"]
        gateway: ServiceProcess | None = None
        for service in self._services:
            if service.spec.port_flag == GATEWAY_PORT_FLAG:
                gateway = service
                continue
            if service.name == RATELIMIT:
                lines.append(
                    f"  {service.name}: Envoy's global rate-limit service (envoyproxy/ratelimit on Redis), "
                    f"gRPC at {service.address}; limits in {_display_path(self._layout.ratelimit_runtime)}"
                )
                continue
            if service.spec.ready_url is not None:  # an HTTP component (the fake Kite), not a gRPC service
                lines.append(f"  {service.name}: HTTP at http://{service.address}/")
                continue
            lines.append(
                f"  {service.name}: gRPC at {service.address}; server reflection is on "
                f"(e.g. grpcurl -plaintext {service.address} list)"
            )
        lines.append(f"  MongoDB: {self._ferretdb.url} (database trademesh)   Redis: {self._redis.url}")
        if gateway is not None:
            lines += self._gateway_lines(gateway)
        return lines

    def _gateway_lines(self, gateway: ServiceProcess) -> list[str]:
        tls = self._options.gateway_tls
        url = f"{'https' if tls else 'http'}://{gateway.address}/"
        transport = f"-cacert {_display_path(self._layout.gateway_certificate)}" if tls else "-plaintext"
        lines = [
            f"  gateway (Envoy): gRPC and grpc-web for every service at {gateway.address}"
            + (" over TLS (self-signed)" if tls else "")
            + ", e.g.",
            f"    grpcurl {transport} -import-path proto -proto trademesh/auth/v1/auth_service.proto "
            f"{gateway.address} trademesh.auth.v1.AuthService/GetJwks",
            f"    Envoy admin (stats, clusters): http://{HOST}:{self._options.gateway_admin_port}/   "
            f"config: {_display_path(self._layout.gateway_config)}",
        ]
        if WEB_DIST.is_dir():
            lines.append(f"  browser: {url}")
        else:
            lines.append(f"  browser: {url} (once the browser client is built into {_display_path(WEB_DIST)})")
        if self._demo_login:
            lines.append(self._demo_login)
        return lines

    def _final_check(self) -> int:
        failed = False
        for service in self._services:
            service.health = service.probe()
            print(f"health check: {service.name} {service.health}", flush=True)
            failed = failed or service.health != _SERVING
        for server in (self._redis, self._ferretdb):
            if not server.running:
                print(f"health check: {server.name} is not running", flush=True)
                failed = True
        return 1 if failed else 0

    def _supervise(self) -> int:
        # Redis and FerretDB first: when they died together with services, they are back first.
        children: list[_Supervised] = [self._redis, self._ferretdb, *self._services]
        watches = [_Watch(child) for child in children]
        while not self._stop.requested:
            for watch in watches:
                self._tend(watch)
            time.sleep(_POLL_SECONDS)
        logger.info("%s received; stopping", self._stop.signal_name)
        return 0

    def _tend(self, watch: _Watch) -> None:
        child = watch.child
        now = time.monotonic()
        if watch.restart_at is not None:
            if now >= watch.restart_at and not self._stop.requested:  # never start anything once stopping
                self._restart(watch)
            return
        code = child.exit_code()
        if code is not None:
            delay = watch.backoff.next_delay(now - child.started_at)
            watch.restart_at = now + delay
            watch.restarted_at = None
            if isinstance(child, ServiceProcess):
                child.health = "EXITED"
            logger.warning(
                "%s (pid %s) exited unexpectedly (%s); restart attempt %d in %.1fs. End of %s:\n%s",
                child.name,
                child.last_pid,
                _describe_exit(code),
                watch.backoff.attempt,
                delay,
                _display_path(child.log_path),
                _indent(child.log_tail()),
            )
            return
        if watch.restarted_at is None:
            return
        status = child.probe()
        if isinstance(child, ServiceProcess):
            child.health = status
        if status == _SERVING:
            logger.info(
                "%s is SERVING again (pid %s, restart attempt %d)", child.name, child.last_pid, watch.backoff.attempt
            )
            watch.restarted_at = None
        elif not watch.slow_warned and now - watch.restarted_at > HEALTH_TIMEOUT_SECONDS:
            watch.slow_warned = True
            logger.warning(
                "%s has not reported SERVING %.0fs after restart attempt %d (last status %s); still waiting. "
                "End of %s:\n%s",
                child.name,
                now - watch.restarted_at,
                watch.backoff.attempt,
                status,
                _display_path(child.log_path),
                _indent(child.log_tail()),
            )

    def _restart(self, watch: _Watch) -> None:
        child = watch.child
        logger.info("restarting %s (attempt %d)", child.name, watch.backoff.attempt)
        watch.restart_at = None
        try:
            child.respawn()
        except Exception as error:  # whatever kept it from starting, try again later: never end the stack
            delay = watch.backoff.next_delay(0.0)
            watch.restart_at = time.monotonic() + delay
            logger.error(
                "could not restart %s: %s; restart attempt %d in %.1fs", child.name, error, watch.backoff.attempt, delay
            )
            return
        watch.restarted_at = time.monotonic()
        watch.slow_warned = False


def ensure_demo_user(auth_address: str, timeout: float = 10.0) -> str | None:
    """Register the demo trader (or check its password if it exists); return the summary line, None if unusable."""
    from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc

    with grpc.insecure_channel(auth_address) as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        try:
            stub.Register(
                auth_service_pb2.RegisterRequest(email=DEMO_EMAIL, username=DEMO_USERNAME, password=DEMO_PASSWORD),
                timeout=timeout,
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                logger.warning("could not create the demo user: %s", error.details())
                return None
            try:  # kept from an earlier run: only advertise it if its password is still the demo one
                stub.Login(auth_service_pb2.LoginRequest(login=DEMO_USERNAME, password=DEMO_PASSWORD), timeout=timeout)
            except grpc.RpcError:
                logger.warning("the demo user exists with another password; not advertising it")
                return None
    return f"  demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range (1-65535): {port}")
    return port


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m trademesh.devstack.up",
        description="Run Redis, FerretDB and every trademesh service locally until Ctrl-C.",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=default_data_dir(), help="data directory (default: %(default)s)"
    )
    parser.add_argument(
        "--redis-port", type=_port, default=DEFAULT_REDIS_PORT, help="Redis port (default: %(default)s)"
    )
    parser.add_argument(
        "--mongo-port",
        type=_port,
        default=DEFAULT_MONGO_PORT,
        help="FerretDB (MongoDB protocol) port (default: %(default)s)",
    )
    parser.add_argument(
        "--base-port",
        type=_port,
        default=DEFAULT_BASE_PORT,
        help="gRPC port of the first service (auth); the others follow it (default: %(default)s)",
    )
    parser.add_argument(
        GATEWAY_PORT_FLAG,
        type=_port,
        default=DEFAULT_GATEWAY_PORT,
        help="the gateway's port: gRPC, grpc-web and the browser client (default: %(default)s)",
    )
    parser.add_argument(
        "--gateway-admin-port",
        type=_port,
        default=DEFAULT_GATEWAY_ADMIN_PORT,
        help="Envoy's admin interface on 127.0.0.1 (default: %(default)s)",
    )
    parser.add_argument(
        "--gateway-tls",
        action="store_true",
        help="serve the gateway over TLS with a self-signed certificate (<data>/gateway/tls); default plaintext",
    )
    parser.add_argument("--no-services", action="store_true", help="start only Redis and FerretDB")
    parser.add_argument(
        "--once", action="store_true", help="start everything, print the summary, check health, stop (for tests)"
    )
    args = parser.parse_args(argv)
    return Options(
        data_dir=Path(args.data_dir).resolve(),
        redis_port=args.redis_port,
        mongo_port=args.mongo_port,
        base_port=args.base_port,
        no_services=args.no_services,
        gateway_port=args.gateway_port,
        gateway_admin_port=args.gateway_admin_port,
        gateway_tls=args.gateway_tls,
        once=args.once,
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Run the launcher; return the process exit code."""
    options = parse_args(argv)
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop.handle) for sig in _HANDLED_SIGNALS}
    try:
        code = Launcher(options, stop).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("everything stopped")
    return code


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``make up`` (``python -m trademesh.devstack.up``, ``trademesh-dev``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    raise SystemExit(run(argv))


if __name__ == "__main__":
    main()
