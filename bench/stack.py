"""The benchmarks' shared start-up: Redis and FerretDB, the auth service, registered users, the trade service.

* `private_stack(prefix)`: a temporary work directory with private Redis and FerretDB (SQLite, as ``make up``)
  and the auth service in this process (`Auth`: its stub, `register`, `bearer`);
* `auth_service(...)`: the auth service alone, on a Redis and a FerretDB started elsewhere (another backend);
* `trade_settings(...)`: the trade service's settings for `build_trade_server` in this process;
* `trade_env(...)` and `TradeProcess`: the trade service in a process of its own, restarted on an empty
  database per measurement (FerretDB scans collections, so a journal left by one would slow the next, 0015);
* `wait_serving(address)`: poll the standard health check until SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.keys import write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.server import ServiceHost
from trademesh.services.trade.settings import TradeSettings

PASSWORD = "Correct-Horse-42"
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Auth:
    """The auth service running in this process, with a stub on a channel of its own."""

    host: ServiceHost
    stub: auth_service_pb2_grpc.AuthServiceAsyncStub
    key_file: Path

    @property
    def target(self) -> str:
        """The service's gRPC address."""
        return f"127.0.0.1:{self.host.port}"

    async def register(
        self, username: str | None = None, password: str = PASSWORD, email: str | None = None
    ) -> auth_service_pb2.RegisterResponse:
        """Register ``username`` (a fresh ``bench_…`` name by default) at ``email`` (``<username>@example.com``)."""
        name = username if username is not None else f"bench_{uuid.uuid4().hex[:10]}"
        return await self.stub.Register(
            auth_service_pb2.RegisterRequest(email=email or f"{name}@example.com", username=name, password=password)
        )

    async def bearer(self, login: str, password: str = PASSWORD) -> Metadata:
        """Log in; the call metadata carrying the fresh access token."""
        response = await self.stub.Login(auth_service_pb2.LoginRequest(login=login, password=password))
        return (("authorization", f"Bearer {response.tokens.access_token}"),)


@contextlib.asynccontextmanager
async def auth_service(workdir: Path, mongo_url: str, redis_url: str, **settings: Any) -> AsyncIterator[Auth]:
    """Write a signing key in ``workdir`` and run the auth service (database ``bench_auth``) until the block ends."""
    key_file = workdir / "key.pem"
    write_new_key(key_file)
    values: dict[str, Any] = {
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "jwks_http_host": "127.0.0.1",
        "jwks_http_port": 0,
        "mongo_url": mongo_url,
        "mongo_database": "bench_auth",
        "redis_url": redis_url,
        "signing_key_files": str(key_file),
        "log_format": "text",
        "log_level": "WARNING",
    }
    host = await build_auth_server(AuthSettings(**(values | settings)))
    channel = aio.insecure_channel(f"127.0.0.1:{host.port}")
    try:
        yield Auth(host, auth_service_pb2_grpc.AuthServiceStub(channel), key_file)
    finally:
        await channel.close()
        await host.stop(0)


@dataclass(frozen=True)
class Stack:
    """Private Redis and FerretDB, and the auth service on them."""

    workdir: Path
    redis: RedisServer
    database: FerretDBServer
    auth: Auth


@contextlib.asynccontextmanager
async def private_stack(prefix: str) -> AsyncIterator[Stack]:
    """A fresh temporary directory (named ``prefix…``) with Redis, FerretDB and the auth service in it."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    with RedisServer(workdir / "redis") as redis_server, FerretDBServer(workdir / "db") as database_server:
        async with auth_service(workdir, database_server.url, redis_server.url) as auth:
            yield Stack(workdir, redis_server, database_server, auth)


def trade_settings(auth: Auth, mongo_url: str, redis_url: str, database: str, **settings: Any) -> TradeSettings:
    """The trade service's settings on ``database`` (a random token secret unless given), quiet, relay sweeps rare."""
    values: dict[str, Any] = {
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "mongo_url": mongo_url,
        "mongo_database": database,
        "redis_url": redis_url,
        "auth_target": auth.target,
        "dependency_timeout_seconds": 60.0,
        "token_secret": uuid.uuid4().hex + uuid.uuid4().hex,
        "log_format": "text",
        "log_level": "WARNING",
        "relay_scan_interval_seconds": 3600.0,
    }
    return TradeSettings(**(values | settings))


def trade_env(auth_target: str, mongo_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a trade-service process (a random token secret unless ``TRADEMESH_TOKEN_SECRET`` given)."""
    return (
        dict(os.environ)
        | {
            "TRADEMESH_GRPC_HOST": "127.0.0.1",
            "TRADEMESH_MONGO_URL": mongo_url,
            "TRADEMESH_REDIS_URL": redis_url,
            "TRADEMESH_AUTH_TARGET": auth_target,
            "TRADEMESH_LOG_LEVEL": "WARNING",
            "TRADEMESH_RELAY_SCAN_INTERVAL_SECONDS": "3600",
            # Required of every service since the page-token and service-token secrets (random per run).
            "TRADEMESH_TOKEN_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        }
        | extra
    )


class TradeProcess:
    """The trade service in its own process on a fixed port, restarted on an empty database per measurement."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self._env = env
        self.port = port
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    async def restart(self, database: str) -> None:
        """Stop the running trade service, if any, and start one on ``database``."""
        self.stop()
        env = self._env | {
            "TRADEMESH_GRPC_PORT": str(self.port),
            "TRADEMESH_SERVICE_NAME": "trade",
            "TRADEMESH_MONGO_DATABASE": database,
        }
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: ASYNC220 - between measurements
                [sys.executable, "-m", "trademesh.services.trade"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        await wait_serving(f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL if it lingers)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_serving(address: str, metadata: Metadata = (), within: float = 60.0) -> None:
    """Poll the standard health check at ``address`` until it answers SERVING."""
    deadline = time.monotonic() + within
    async with aio.insecure_channel(address) as channel:
        # The typed stubs of grpc-health are sync-only.
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        while True:
            try:
                response = await check(health_pb2.HealthCheckRequest(), timeout=1, metadata=metadata)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} did not become SERVING within {within:.0f}s")
            await asyncio.sleep(0.2)
