"""What the local mesh started by ``make up`` consists of: data layout, ports, and the service table.

This module is declarative; :mod:`trademesh.devstack.up` does the starting, health checking,
supervising and stopping.

Data layout (everything under one data directory, ``<repo>/.data`` by default, gitignored)::

    .data/redis/               Redis working dir and redis.log (no persistence)
    .data/ferretdb/            FerretDB's SQLite databases (kept across runs) and ferretdb.log
    .data/keys/signing-1.pem   auth's Ed25519 signing key, generated on first run
    .data/keys/token-secret    the page/resume-token HMAC secret (TRADEMESH_TOKEN_SECRET), random, made on first run
    .data/logs/<service>.log   each service's stdout and stderr, appended across runs
    .data/mail/maildir/        email auth and notifications sent (codes, alerts), received by the local SMTP server

Adding a service
----------------
Append one :class:`ServiceSpec` to :data:`SERVICES`, after the services it depends on::

    ServiceSpec(
        name="trade",
        module="trademesh.services.trade",  # run as `python -m trademesh.services.trade`
        default_port=50052,                 # with --base-port B it gets B + (50052 - 50051)
        extra_env=_trade_env,               # optional: (StackContext) -> {"TRADEMESH_X": "..."}
        depends_on=("auth",),               # started (and SERVING) before this one
    )

Every service already receives the shared ``TRADEMESH_*`` variables built by
:func:`service_environment` (gRPC host and port, MongoDB and Redis URLs, database, auth target,
JSON logs, shutdown grace); ``extra_env`` adds only what its own settings class needs beyond
:class:`~trademesh.services.core.settings.CoreSettings`. The service must answer the standard gRPC
health check (``start_server`` does this). An entry whose module cannot be found yet is skipped
with a note, as are the entries that depend on it.

The gateway
-----------
Envoy is the last entry (keep it last): ``command`` runs ``python -m trademesh.gateway --run``, which
writes ``<data>/gateway/envoy.json`` from the mesh description (every service of this table that the
gateway knows, by name, with its port here) and then becomes Envoy; ``ready_url`` is Envoy's admin
``/ready``; its port is ``--gateway-port`` (8080), not shifted with ``--base-port``.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trademesh.devstack.processes import repo_root

__all__ = [
    "BASE_PORT_FLAG",
    "DEFAULT_BASE_PORT",
    "DEFAULT_GATEWAY_ADMIN_PORT",
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_MONGO_PORT",
    "DEFAULT_REDIS_PORT",
    "GATEWAY",
    "GATEWAY_ADMIN",
    "GATEWAY_PORT_FLAG",
    "GATEWAY_SOURCE_ADDRESS",
    "HOST",
    "MONGO_DATABASE",
    "RATELIMIT",
    "SERVICES",
    "WEB_DIST",
    "DataLayout",
    "ServiceSpec",
    "StackContext",
    "default_data_dir",
    "ensure_token_secret",
    "missing_module",
    "select_services",
    "service_command",
    "service_environment",
    "service_port",
    "validate_services",
]

#: Address every component binds to: the dev stack is never exposed beyond this machine.
HOST = "127.0.0.1"
#: Redis and FerretDB ports, away from the system daemons' 6379 and 27017.
DEFAULT_REDIS_PORT = 6390
DEFAULT_MONGO_PORT = 27027
#: gRPC port of the first service (auth); ``--base-port`` shifts all service ports together.
DEFAULT_BASE_PORT = 50051
MONGO_DATABASE = "trademesh"
#: The gateway (Envoy): gRPC, grpc-web and the browser client on one port; its admin API on loopback.
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_GATEWAY_ADMIN_PORT = 9901
#: The command-line flag that sets the ports following the base port.
BASE_PORT_FLAG = "--base-port"
#: The flag that sets the gateway's port.
GATEWAY_PORT_FLAG = "--gateway-port"


def default_data_dir() -> Path:
    """Return ``<repo>/.data``."""
    return repo_root() / ".data"


@dataclass(frozen=True, slots=True)
class DataLayout:
    """Paths inside the data directory."""

    root: Path

    @property
    def redis_dir(self) -> Path:
        """Redis working directory (its log is ``redis.log`` in it)."""
        return self.root / "redis"

    @property
    def ferretdb_dir(self) -> Path:
        """FerretDB's SQLite files and state; persists across runs."""
        return self.root / "ferretdb"

    @property
    def keys_dir(self) -> Path:
        """Private keys (auth's token-signing key)."""
        return self.root / "keys"

    @property
    def signing_key(self) -> Path:
        """auth's active Ed25519 signing key (PKCS#8 PEM)."""
        return self.keys_dir / "signing-1.pem"

    @property
    def token_secret(self) -> Path:
        """The stack's page/resume-token HMAC secret (owner-only)."""
        return self.keys_dir / "token-secret"

    @property
    def mail_dir(self) -> Path:
        """Development mail: ``maildir/`` of the local SMTP server."""
        return self.root / "mail"

    @property
    def logs_dir(self) -> Path:
        """One ``<service>.log`` per service."""
        return self.root / "logs"

    @property
    def gateway_config(self) -> Path:
        """The Envoy bootstrap generated at each start."""
        return self.root / "gateway" / "envoy.json"

    @property
    def gateway_certificate(self) -> Path:
        """The gateway's self-signed certificate (``--gateway-tls``); its key is ``tls.key`` beside it."""
        return self.root / "gateway" / "tls" / "tls.crt"

    @property
    def ratelimit_runtime(self) -> Path:
        """The rate-limit service's configuration root (``config/<domain>.yaml`` in it), written at each start."""
        return self.root / "ratelimit" / "runtime"

    def service_log(self, name: str) -> Path:
        """Return the log file of service ``name``."""
        return self.logs_dir / f"{name}.log"


@dataclass(frozen=True, slots=True)
class StackContext:
    """What an environment builder knows about the running stack."""

    layout: DataLayout
    redis_url: str
    mongo_url: str
    #: gRPC port of every service in the stack (including ones not started yet).
    ports: Mapping[str, int]
    #: Other ports by name (``gateway-admin``).
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    #: The gateway serves TLS with a self-signed certificate (``make up`` stays plaintext by default).
    gateway_tls: bool = False

    def address(self, service: str) -> str:
        """Return ``host:port`` of a service's gRPC server."""
        return f"{HOST}:{self.ports[service]}"


def ensure_token_secret(path: Path) -> str:
    """Return the data directory's token secret, creating a random one (owner-only file) on first use.

    Random per data directory: the published development secret is refused outside TRADEMESH_DEV_MODE, and a
    stack must never sign with a value anyone can look up.
    """
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        temporary.replace(path)
    return path.read_text().strip()


def _no_extra_env(context: StackContext) -> dict[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service of the local mesh: see the module docstring for how to add one."""

    #: Short name: log file ``<name>.log``, summary row, ``depends_on`` references.
    name: str
    #: Module run as ``python -m <module>``.
    module: str
    #: gRPC port with the default ``--base-port`` (50051).
    default_port: int
    #: Variables beyond the shared ones of :func:`service_environment`.
    extra_env: Callable[[StackContext], dict[str, str]] = field(default=_no_extra_env)
    #: Services (by name, listed earlier in the table) that must be SERVING before this one starts.
    depends_on: tuple[str, ...] = ()
    #: ``TRADEMESH_SHUTDOWN_GRACE_SECONDS``; the launcher waits this + 5 s before SIGKILL.
    shutdown_grace_seconds: float = 10.0
    #: The argv, for a component that is not just ``python -m <module>`` (the gateway).
    command: Callable[[StackContext], list[str]] | None = None
    #: An HTTP URL answering 200 once ready, for a component without gRPC health (Envoy's ``/ready``).
    ready_url: Callable[[StackContext], str] | None = None
    #: The flag that sets the port: ``--base-port`` (``default_port`` follows it) or the component's own.
    port_flag: str = BASE_PORT_FLAG
    #: The gRPC health name checked for readiness: the service's full name (NOT_SERVING while its database or
    #: Redis is down); "" asks only whether the process serves.
    health_service: str = ""


#: auth's plain-HTTP JWKS endpoint (for Envoy) listens this far above auth's gRPC port.
JWKS_HTTP_PORT_OFFSET = 1000


def jwks_http_port(context: StackContext) -> int:
    """Return the port of auth's `/.well-known/jwks.json` in this stack."""
    return context.ports["auth"] + JWKS_HTTP_PORT_OFFSET


GATEWAY_ADMIN = "gateway-admin"
#: The source address of the gateway's connections to the services: the one address auth believes when a
#: call names the client's address (x-envoy-external-address). Other local callers connect from 127.0.0.1.
GATEWAY_SOURCE_ADDRESS = "127.0.0.2"
#: Envoy's global rate-limit service (envoyproxy/ratelimit); its HTTP health port and debug port sit this
#: far above its gRPC port.
RATELIMIT = "ratelimit"
RATELIMIT_HTTP_PORT_OFFSET = 1000
RATELIMIT_DEBUG_PORT_OFFSET = 1001


#: The browser client's build (``make web``), served by the gateway at ``/``.
WEB_DIST = repo_root() / "clients" / "web" / "dist"


def _gateway_command(context: StackContext) -> list[str]:
    # Imported here: the stack table stays importable without the gateway's dependencies.
    from trademesh.gateway.mesh import CATALOG

    upstreams = [
        f"--upstream={entry.name}={context.address(entry.name)}" for entry in CATALOG if entry.name in context.ports
    ]
    ratelimit = (
        ["--ratelimit", context.address(RATELIMIT), "--ratelimit-config", str(context.layout.ratelimit_runtime)]
        if RATELIMIT in context.ports
        else []
    )
    tls: list[str] = []
    if context.gateway_tls:
        certificate = ensure_self_signed(context.layout.gateway_certificate)
        tls = ["--tls-cert", str(certificate), "--tls-key", str(certificate.with_name("tls.key"))]
    return [
        sys.executable, "-m", "trademesh.gateway", "--run",
        "--output", str(context.layout.gateway_config),
        *tls,
        "--listen", context.address("gateway"),
        "--admin", f"{HOST}:{context.extra_ports[GATEWAY_ADMIN]}",
        "--jwks", f"{HOST}:{jwks_http_port(context)}",
        "--upstream-source-address", GATEWAY_SOURCE_ADDRESS,
        "--static-dir", str(WEB_DIST),
        *ratelimit,
        *upstreams,
    ]  # fmt: skip


def ensure_self_signed(certificate: Path) -> Path:
    """Make a self-signed certificate for 127.0.0.1 and localhost (key ``tls.key`` beside it) unless present."""
    key = certificate.with_name("tls.key")
    if certificate.is_file() and key.is_file():
        return certificate
    certificate.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(certificate), "-days", "365", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    return certificate


def _ratelimit_command(context: StackContext) -> list[str]:
    # Imported here: the stack table stays importable without the gateway's dependencies. The limits are
    # the gateway's defaults, written before each start (the gateway writes the same file when it starts).
    from trademesh.devstack.processes import RateLimitServer
    from trademesh.gateway.envoy_config import write_ratelimit_config
    from trademesh.gateway.mesh import Endpoint, build_mesh

    write_ratelimit_config(build_mesh({}, [Endpoint(HOST, jwks_http_port(context))]), context.layout.ratelimit_runtime)
    return [RateLimitServer.binary()]


def _ratelimit_env(context: StackContext) -> dict[str, str]:
    from trademesh.devstack.processes import ratelimit_environment

    port = context.ports[RATELIMIT]
    return ratelimit_environment(
        grpc_port=port,
        http_port=port + RATELIMIT_HTTP_PORT_OFFSET,
        debug_port=port + RATELIMIT_DEBUG_PORT_OFFSET,
        redis_url=context.redis_url,
        config_root=context.layout.ratelimit_runtime,
    )


def _ratelimit_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[RATELIMIT] + RATELIMIT_HTTP_PORT_OFFSET}/healthcheck"


def _gateway_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.extra_ports[GATEWAY_ADMIN]}/ready"


def _auth_env(context: StackContext) -> dict[str, str]:
    return {
        "TRADEMESH_SIGNING_KEY_FILES": str(context.layout.signing_key),
        # Verification and reset mail goes to the stack's SMTP server (never to the log or the database).
        **_smtp_env(context),
        "TRADEMESH_MAIL_FROM": "trademesh <accounts@trademesh.local>",
        "TRADEMESH_JWKS_HTTP_HOST": HOST,
        "TRADEMESH_JWKS_HTTP_PORT": str(jwks_http_port(context)),
        # Only the gateway's connections may name the client's address (login throttling per client).
        "TRADEMESH_TRUSTED_PROXIES": GATEWAY_SOURCE_ADDRESS,
    }


#: The gateway: Envoy in front of every service (see the module docstring).
GATEWAY = ServiceSpec(
    name="gateway",
    module="trademesh.gateway",
    default_port=DEFAULT_GATEWAY_PORT,
    depends_on=("auth",),
    command=_gateway_command,
    ready_url=_gateway_ready,
    port_flag=GATEWAY_PORT_FLAG,
)


#: The services ``make up`` starts, in start order (stopped in reverse). The gateway stays last.
def _marketdata_env(context: StackContext) -> dict[str, str]:
    # The simulated feed ticks at any hour in the dev stack, so the watchlist is alive after 15:30 IST too.
    return {"TRADEMESH_SESSION_POLICY": "always_open"}


#: The fake Kite Connect (HTTP) the dev stack's sync service talks to, with a demo account.
FAKE_KITE = "fake-kite"


def _fake_kite_command(context: StackContext) -> list[str]:
    return [sys.executable, "-m", "trademesh.services.brokers.fakes", "--host", HOST,
            "--kite-port", str(context.ports[FAKE_KITE]), "--demo"]  # fmt: skip


def _fake_kite_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[FAKE_KITE]}/__fake/ready"


def _sync_env(context: StackContext) -> dict[str, str]:
    # Imported here: the table stays importable without the sync service. The credentials key and the
    # service token are generated into <data>/keys on first run (the token is renewed before it expires).
    from trademesh.devstack.secrets import ensure_dev_secrets

    key_file, token_file = ensure_dev_secrets(context.layout.keys_dir, context.layout.signing_key)
    return {
        "TRADEMESH_BROKER_CREDENTIALS_KEY": key_file.read_text().strip(),
        "TRADEMESH_SERVICE_TOKEN_FILE": str(token_file),
        "TRADEMESH_TRADE_TARGET": context.address("trade"),
        "TRADEMESH_KITE_BASE_URL": f"http://{HOST}:{context.ports[FAKE_KITE]}",
    }


MAIL = "mail"
#: The local SMTP server listens this far above the mail page's port.
SMTP_PORT_OFFSET = 1000


def _mail_command(context: StackContext) -> list[str]:
    return [sys.executable, "-m", "trademesh.devstack.mailserver", "--host", HOST,
            "--http-port", str(context.ports[MAIL]), "--smtp-port", str(context.ports[MAIL] + SMTP_PORT_OFFSET),
            "--maildir", str(context.layout.mail_dir / "maildir")]  # fmt: skip


def _mail_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[MAIL]}/ready"


def _smtp_env(context: StackContext) -> dict[str, str]:
    # Email goes to the stack's own SMTP server (plain, no login): read it in <data>/mail/maildir or on its page.
    return {
        "TRADEMESH_SMTP_HOST": HOST,
        "TRADEMESH_SMTP_PORT": str(context.ports[MAIL] + SMTP_PORT_OFFSET),
        "TRADEMESH_SMTP_SECURITY": "none",
    }


def _notifications_env(context: StackContext) -> dict[str, str]:
    from trademesh.devstack.secrets import ensure_webhook_key  # webhooks on, with a key made once per data dir

    return {
        **_smtp_env(context),
        "TRADEMESH_WEBHOOK_SECRETS_KEY": ensure_webhook_key(context.layout.keys_dir).read_text().strip(),
    }


def _analytics_env(context: StackContext) -> dict[str, str]:
    # Live marks (GetAnalytics, WatchPnl) come from this stack's market-data service.
    return {"TRADEMESH_MARKETDATA_TARGET": context.address("marketdata")}


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="auth",
        module="trademesh.services.auth",
        default_port=50051,
        extra_env=_auth_env,
        health_service="trademesh.auth.v1.AuthService",
    ),
    ServiceSpec(
        name=RATELIMIT,
        module="trademesh.gateway.envoy_config",
        default_port=50060,
        extra_env=_ratelimit_env,
        command=_ratelimit_command,
        ready_url=_ratelimit_ready,
    ),
    ServiceSpec(
        name="trade",
        module="trademesh.services.trade",
        default_port=50052,
        depends_on=("auth",),
        health_service="trademesh.trade.v1.TradeService",
    ),
    ServiceSpec(
        name="marketdata",
        module="trademesh.services.marketdata",
        default_port=50054,
        extra_env=_marketdata_env,
        depends_on=("auth",),
        health_service="trademesh.marketdata.v1.MarketDataService",
    ),
    ServiceSpec(
        name="analytics",
        module="trademesh.services.analytics",
        default_port=50055,
        extra_env=_analytics_env,
        depends_on=("auth", "marketdata"),
        health_service="trademesh.analytics.v1.AnalyticsService",
    ),
    ServiceSpec(
        name=MAIL,
        module="trademesh.devstack.mailserver",
        default_port=50062,
        command=_mail_command,
        ready_url=_mail_ready,
    ),
    ServiceSpec(
        name="notifications",
        module="trademesh.services.notifications",
        default_port=50056,
        extra_env=_notifications_env,
        depends_on=("auth", MAIL),
        health_service="trademesh.notifications.v1.NotificationsService",
    ),
    ServiceSpec(
        name=FAKE_KITE,
        module="trademesh.services.brokers.fakes",
        default_port=50059,
        command=_fake_kite_command,
        ready_url=_fake_kite_ready,
    ),
    ServiceSpec(
        name="sync",
        module="trademesh.services.sync",
        default_port=50053,
        extra_env=_sync_env,
        depends_on=("auth", "trade"),
        health_service="trademesh.sync.v1.SyncService",
    ),
    GATEWAY,
)


def validate_services(services: Sequence[ServiceSpec]) -> None:
    """Check the table: unique names and ports, dependencies listed before their dependents.

    Raises:
        ValueError: Naming the offending entry.
    """
    seen: set[str] = set()
    ports: dict[int, str] = {}
    for spec in services:
        if spec.name in seen:
            raise ValueError(f"service {spec.name!r} is listed twice")
        if spec.default_port in ports:
            raise ValueError(f"services {ports[spec.default_port]!r} and {spec.name!r} share port {spec.default_port}")
        if spec.port_flag == BASE_PORT_FLAG and spec.default_port < DEFAULT_BASE_PORT:
            raise ValueError(f"service {spec.name!r}: default_port must be >= {DEFAULT_BASE_PORT}")
        for dependency in spec.depends_on:
            if dependency not in seen:
                raise ValueError(f"service {spec.name!r} depends on {dependency!r}, which is not listed before it")
        seen.add(spec.name)
        ports[spec.default_port] = spec.name


def service_port(spec: ServiceSpec, base_port: int) -> int:
    """Return the service's gRPC port when the first service is on ``base_port``."""
    return base_port + (spec.default_port - DEFAULT_BASE_PORT)


def missing_module(spec: ServiceSpec) -> bool:
    """Return True if the service's module does not exist (yet)."""
    try:
        return importlib.util.find_spec(spec.module) is None
    except ModuleNotFoundError:  # a parent package is missing
        return True


def select_services(services: Sequence[ServiceSpec]) -> tuple[list[ServiceSpec], list[str]]:
    """Return the services that can run now, and a note on each one skipped.

    A service is skipped if its module does not exist yet, or if it depends on a skipped service.
    """
    selected: list[ServiceSpec] = []
    notes: list[str] = []
    skipped: set[str] = set()
    for spec in services:
        if missing_module(spec):
            notes.append(f"skipping {spec.name}: module {spec.module} does not exist yet")
            skipped.add(spec.name)
        elif blocked := [name for name in spec.depends_on if name in skipped]:
            notes.append(f"skipping {spec.name}: it depends on {', '.join(blocked)}, which is skipped")
            skipped.add(spec.name)
        else:
            selected.append(spec)
    return selected, notes


def service_environment(spec: ServiceSpec, context: StackContext, base: Mapping[str, str]) -> dict[str, str]:
    """Return the full environment of a service process.

    ``base`` (normally ``os.environ``) is kept, so a developer can still set e.g.
    ``TRADEMESH_LOG_LEVEL=DEBUG`` for the whole stack; the stack's own variables win.
    """
    env = dict(base)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TRADEMESH_GRPC_HOST": HOST,
            "TRADEMESH_GRPC_PORT": str(context.ports[spec.name]),
            "TRADEMESH_MONGO_URL": context.mongo_url,
            "TRADEMESH_MONGO_DATABASE": MONGO_DATABASE,
            "TRADEMESH_REDIS_URL": context.redis_url,
            "TRADEMESH_LOG_FORMAT": "json",
            "TRADEMESH_SHUTDOWN_GRACE_SECONDS": str(spec.shutdown_grace_seconds),
            "TRADEMESH_TOKEN_SECRET": ensure_token_secret(context.layout.token_secret),
        }
    )
    if "auth" in context.ports:
        env["TRADEMESH_AUTH_TARGET"] = context.address("auth")
    env.update(spec.extra_env(context))
    return env


def service_command(spec: ServiceSpec, context: StackContext) -> list[str]:
    """Return the argv that runs the service (``python -m <module>`` with this interpreter by default)."""
    if spec.command is not None:
        return spec.command(context)
    return [sys.executable, "-m", spec.module]


def port_offsets(services: Sequence[ServiceSpec] = SERVICES) -> tuple[int, ...]:
    """Return the offsets above ``--base-port`` that a stack binds (every service, auth's JWKS port, SMTP)."""
    offsets = {spec.default_port - DEFAULT_BASE_PORT for spec in services if spec.port_flag == BASE_PORT_FLAG}
    ratelimit = {
        spec.default_port - DEFAULT_BASE_PORT + extra
        for spec in services
        if spec.name == RATELIMIT
        for extra in (RATELIMIT_HTTP_PORT_OFFSET, RATELIMIT_DEBUG_PORT_OFFSET)
    }
    smtp = {spec.default_port - DEFAULT_BASE_PORT + SMTP_PORT_OFFSET for spec in services if spec.name == MAIL}
    return tuple(sorted(offsets | ratelimit | smtp | {JWKS_HTTP_PORT_OFFSET}))


def free_base_port(host: str = HOST, attempts: int = 500) -> int:
    """Return a base port whose whole block (:func:`port_offsets`) is free now (tests run stacks side by side)."""
    import random
    import socket

    def free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
        return True

    offsets = port_offsets()
    for _ in range(attempts):
        # Below the kernel's ephemeral range (32768+), where other tests' port-0 servers land.
        base = random.randrange(20000, 31000 - max(offsets), 10)
        if all(free(base + offset) for offset in offsets):
            return base
    raise OSError("no free block of ports for a stack")
