"""The shape of one service in the table, and the rules that turn the table into ports, environments, commands."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from trademesh.devstack.stack.layout import (
    BASE_PORT_FLAG,
    DEFAULT_BASE_PORT,
    HOST,
    MONGO_DATABASE,
    StackContext,
    ensure_token_secret,
)


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
