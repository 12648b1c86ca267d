"""The server roles: a bare grpc.aio echo server, the same echo on the shared runtime, the auth service."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import grpc
from grpc import aio
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.runtime_overhead.common import ECHO_SERVICE, HOST
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.connections import build_redis
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import ServiceRegistration, build_verifier, start_server, termination_requested
from trademesh.services.core.settings import CoreSettings
from trademesh.services.core.tokens import StaticKeySource


async def echo(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
    """The benchmarked method: return the request bytes."""
    return request


def echo_handler() -> grpc.GenericRpcHandler:
    """Echo as a generic handler with identity (raw bytes) serializers."""
    return grpc.method_handlers_generic_handler(
        ECHO_SERVICE,
        {"Echo": grpc.unary_unary_rpc_method_handler(echo)},
    )


class DroppingSpanExporter(SpanExporter):
    """A span exporter that accepts and discards every batch (so spans are made, never sent)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def quiet_production_logging(service: str, sink: IO[str]) -> None:
    """Log as production does (JSON lines at INFO, formatting included) but into `sink` (/dev/null)."""
    configure_logging("INFO", "json", service)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


async def wait_for_stop(max_seconds: float) -> None:
    """Return on SIGTERM/SIGINT, when the parent process goes away, or after `max_seconds`."""
    loop = asyncio.get_running_loop()
    stop = termination_requested()
    parent = os.getppid()
    deadline = loop.time() + max_seconds
    while not stop.is_set() and loop.time() < deadline and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def announce(port: int) -> None:
    """Tell the orchestrator (reading stdout) that the server is ready and where."""
    sys.stdout.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()


async def run_bare_server(args: argparse.Namespace) -> None:
    server = aio.server()
    server.add_generic_rpc_handlers((echo_handler(),))
    port = server.add_insecure_port(f"{HOST}:0")
    await server.start()
    announce(port)
    await wait_for_stop(args.max_seconds)
    await server.stop(1.0)


async def run_runtime_server(args: argparse.Namespace) -> None:
    settings = CoreSettings(service_name="bench", grpc_host=HOST, grpc_port=0, redis_url=args.redis_url)
    provider = None
    if args.variant == "runtime+tracing":
        provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        provider.add_span_processor(BatchSpanProcessor(DroppingSpanExporter()))
        trace.set_tracer_provider(provider)

    keyring = KeyRing.from_files([Path(args.key_file)])
    redis = build_redis(settings)
    revocations = RevocationList(redis)
    verifier = build_verifier(settings, StaticKeySource(keyring.public_keys()), revocations)
    handler = echo_handler()
    registration = ServiceRegistration(
        name=ECHO_SERVICE, add_to_server=lambda server: server.add_generic_rpc_handlers((handler,)), public_methods=()
    )
    host = await start_server(settings, [registration], verifier)
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.on_stop(redis.aclose)
    announce(host.port)
    await wait_for_stop(args.max_seconds)
    await host.stop(1.0)
    if provider is not None:
        provider.shutdown()


async def run_auth_server(args: argparse.Namespace) -> None:
    settings = AuthSettings(
        grpc_host=HOST,
        grpc_port=0,
        mongo_url=args.mongo_url,
        mongo_database=f"bench_{uuid.uuid4().hex[:8]}",
        redis_url=args.redis_url,
        signing_key_files=args.key_file,
        login_max_failures_per_account=1_000_000,
        login_max_failures_per_address=1_000_000,
    )
    host = await build_auth_server(settings)
    announce(host.port)
    await wait_for_stop(args.max_seconds)
    await host.stop(1.0)
