"""The launcher: start the stack in order, print its summary, check it once or supervise it, stop it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import grpc

from trademesh.devstack.processes import ManagedProcess, ProcessStartError
from trademesh.devstack.stack import (
    DEFAULT_GATEWAY_ADMIN_PORT,
    DEFAULT_GATEWAY_PORT,
    GATEWAY_ADMIN,
    GATEWAY_PORT_FLAG,
    HOST,
    RATELIMIT,
    SERVICES,
    WEB_DIST,
    DataLayout,
    ServiceSpec,
    StackContext,
    select_services,
    service_port,
    validate_services,
)
from trademesh.devstack.up.children import ServiceProcess, _DevFerretDB, _DevRedis
from trademesh.devstack.up.common import (
    _POLL_SECONDS,
    _SERVING,
    HEALTH_TIMEOUT_SECONDS,
    StackError,
    _describe_exit,
    _display_path,
    _indent,
    _Interrupted,
    _StopRequest,
    logger,
)
from trademesh.devstack.up.health import _port_in_use
from trademesh.devstack.up.supervision import Supervisor

#: The demo trader `make up` creates, so the printed browser URL comes with a login that works.
DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@trademesh.dev"
DEMO_PASSWORD = "Nifty-Fifty-2024"


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
        return Supervisor(self._stop).run([self._redis, self._ferretdb, *self._services])


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
