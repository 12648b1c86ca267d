"""The grpc.aio server bootstrap every service uses: interceptors, health, reflection, shutdown.

A service's `server.py` builds its dependencies, then calls `start_server` with its registrations
and `host.serve_until_signal()`. Tests call the same `start_server` with port 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_interceptor.server import AsyncServerInterceptor
from grpc_reflection.v1alpha import reflection

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.services.core.channels import build_channel
from trademesh.services.core.interceptors import (
    AccessLogInterceptor,
    AuthInterceptor,
    ErrorInterceptor,
    InterceptorChain,
    TracingInterceptor,
)
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.metrics import serve_metrics
from trademesh.services.core.readiness import Dependency, ReadinessMonitor
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.settings import CoreSettings, SettingsError, TracingExporter, load_settings
from trademesh.services.core.tokens import AccessTokenVerifier, JwksKeySource, KeySource
from trademesh.services.core.tracing import configure_tracing

logger = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=CoreSettings)

TASK_CANCEL_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ServiceRegistration:
    """One gRPC service to host: its full name, how to add it, and which methods are public."""

    name: str
    add_to_server: Callable[[aio.Server], None]
    #: Methods that need no access token: a service passes ``access.public_methods(name)``, its contract's set.
    public_methods: Collection[str] = field(default_factory=frozenset)


class ServiceHost:
    """A running gRPC server with its health service, background tasks and shutdown signal."""

    def __init__(self, server: aio.Server, port: int, health_servicer: health.aio.HealthServicer) -> None:
        self.server = server
        self.port = port
        # Other listeners a service runs next to gRPC (e.g. auth's JWKS over HTTP), by name.
        self.extra_ports: dict[str, int] = {}
        self.health = health_servicer
        # Set by start_server when the service names required dependencies.
        self.readiness: ReadinessMonitor | None = None
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop_requests: list[Callable[[], None]] = []
        self._cleanups: list[Callable[[], Coroutine[Any, Any, Any]]] = []

    def spawn(
        self, coroutine: Coroutine[Any, Any, Any], name: str, request_stop: Callable[[], None] | None = None
    ) -> None:
        """Run a background task for the life of the server; on stop, ask it to end, then cancel it."""
        self._tasks.append(asyncio.create_task(coroutine, name=name))
        if request_stop is not None:
            self._stop_requests.append(request_stop)

    def on_stop(self, cleanup: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Call `cleanup` after the server stopped (close clients, flush exporters)."""
        self._cleanups.append(cleanup)

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, end open streams, let in-flight calls finish within `grace`, then stop."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for request_stop in self._stop_requests:
            request_stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a client library that mishandles cancellation must not block shutdown.
            _, pending = await asyncio.wait(self._tasks, timeout=TASK_CANCEL_SECONDS)
            for task in pending:
                logger.warning("background task %s did not stop in time", task.get_name())
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                logger.warning("cleanup failed during shutdown", exc_info=True)

    async def serve_until_signal(self, grace: float) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        await termination_requested().wait()
        logger.info("shutdown requested; draining for up to %.1fs", grace)
        await self.stop(grace)
        logger.info("stopped")


def termination_requested() -> asyncio.Event:
    """Return an event the running loop sets on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    received = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, received.set)
    return received


def build_remote_verifier(settings: CoreSettings, revocations: RevocationList | None) -> AccessTokenVerifier:
    """Verify tokens with the auth service's JWKS, fetched over gRPC and cached."""
    channel: aio.Channel | None = None

    async def fetch() -> list[dict[str, Any]]:
        nonlocal channel
        if channel is None:
            channel = build_channel(settings.auth_target)
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        response = await stub.GetJwks(auth_service_pb2.GetJwksRequest(), timeout=settings.dependency_timeout_seconds)
        return [{"kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg, "use": k.use} for k in response.keys]

    return build_verifier(settings, JwksKeySource(fetch, settings.jwks_refresh_seconds), revocations)


def build_verifier(settings: CoreSettings, keys: KeySource, revocations: RevocationList | None) -> AccessTokenVerifier:
    """Verify tokens against `keys` with the configured issuer and audience."""
    return AccessTokenVerifier(
        keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience, revocations=revocations
    )


def server_options(settings: CoreSettings) -> list[tuple[str, Any]]:
    """Return the options of every service's gRPC server: message limits, keep-alive, connection age."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    if settings.grpc_max_connection_age_seconds > 0:
        # GOAWAY after the age (gRPC adds +-10% jitter); no grace limit, so open streams are not cut. The
        # callers' channels then resolve the headless Service again (trademesh.services.core.channels).
        options.append(("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_seconds * 1000)))
    return options


async def start_server(
    settings: CoreSettings,
    registrations: Sequence[ServiceRegistration],
    verifier: AccessTokenVerifier,
    *,
    dependencies: Sequence[Dependency] = (),
) -> ServiceHost:
    """Build, bind and start the server with the shared interceptor chain, health and reflection.

    Health: "" is liveness (SERVING until shutdown); each registration's name is readiness, NOT_SERVING
    while one of `dependencies` has failed with an error for TRADEMESH_READINESS_FAILURE_SECONDS or shown
    no sign of life for TRADEMESH_READINESS_HUNG_SECONDS (services/src/trademesh/services/core/readiness.py).
    """
    public = {
        f"/{registration.name}/{method}" for registration in registrations for method in registration.public_methods
    }
    interceptors: list[AsyncServerInterceptor] = [
        AccessLogInterceptor(),
        ErrorInterceptor(settings.service_name),
        AuthInterceptor(verifier, public),
    ]
    if settings.tracing_exporter is not TracingExporter.NONE:
        # Without an exporter a span is pure cost (~20 µs a call), so the interceptor is left out.
        interceptors.insert(0, TracingInterceptor())
    server = aio.server(interceptors=[InterceptorChain(interceptors)], options=server_options(settings))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in registrations:
        registration.add_to_server(server)
    reflection.enable_server_reflection(
        [registration.name for registration in registrations]
        + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind gRPC server to {address}")
    await server.start()
    for registration in registrations:
        await health_servicer.set(registration.name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    logger.info("serving %s on %s:%d", ", ".join(r.name for r in registrations), settings.grpc_host, port)
    host = ServiceHost(server, port, health_servicer)
    if dependencies:
        host.readiness = ReadinessMonitor(
            health_servicer,
            [registration.name for registration in registrations],
            dependencies,
            failure_seconds=settings.readiness_failure_seconds,
            hung_seconds=settings.readiness_hung_seconds,
            interval_seconds=settings.readiness_check_interval_seconds,
            timeout_seconds=settings.dependency_timeout_seconds,
        )
        host.spawn(host.readiness.run(), "readiness", host.readiness.close)
    endpoint = serve_metrics(settings)
    if endpoint is not None:
        host.extra_ports["metrics"] = endpoint.port

        async def close_metrics() -> None:
            await asyncio.to_thread(endpoint.close)

        host.on_stop(close_metrics)
    return host


def run_service(
    settings_type: type[SettingsT], serve: Callable[[SettingsT], Coroutine[Any, Any, None]], *, component: str = ""
) -> None:
    """Entry point body shared by every service process: settings → logging → GC → serve until a signal.

    `component` names a process of a service other than its server (logged as `<service>-<component>`).
    A configuration error ends the process with status 2 and one readable message per bad variable.
    """
    try:
        settings = load_settings(settings_type)
    except SettingsError as error:
        print(f"{settings_type.__name__}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    name = f"{settings.service_name}-{component}" if component else settings.service_name
    configure_logging(settings.log_level, settings.log_format, name)
    tune_gc(settings.gc_young_threshold)
    asyncio.run(serve(settings))


async def serve_host(settings: SettingsT, build: Callable[[SettingsT], Awaitable[ServiceHost]]) -> None:
    """Body of every service's `serve`: set up tracing, build and start the host, serve until SIGTERM/SIGINT,
    then flush the traces."""
    provider = configure_tracing(settings)
    host = await build(settings)
    await host.serve_until_signal(settings.shutdown_grace_seconds)
    if provider is not None:
        provider.shutdown()


def tune_gc(young_threshold: int) -> None:
    """Make the cyclic garbage collector rare and short in a long-running server process.

    With CPython's defaults a busy replica (a thousand streams, each message a few short-lived
    containers) collected its young generation 20 times a second and ran a full collection every
    few seconds, each pausing the event loop for up to 170 ms — every stream stalled at once
    (docs/decisions/0023). Freezing what start-up created keeps it out of every collection;
    a larger young threshold lets short-lived objects die by reference counting first, so few
    survive into the old generation and full collections become rare.
    """
    if young_threshold <= 0:
        return
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
