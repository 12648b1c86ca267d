"""Session-wide real servers shared by every test: Redis, FerretDB and one auth service.

Each server runs as its own process (or, for auth, an in-process gRPC server) on a free port with
a temporary data directory, so tests never touch a developer's running stack.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grpc import aio
from redis.asyncio import Redis

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.keys import write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.server import ServiceHost


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    with FerretDBServer(tmp_path_factory.mktemp("ferretdb")) as server:
        yield server


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    for name in ("active", "previous", "stranger"):
        write_new_key(directory / f"{name}.pem")
    return directory


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client of the shared Redis, emptied before the test."""
    if not redis_server.running:
        redis_server.restart()
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def mesh_auth(
    redis_server: RedisServer, database_server: FerretDBServer, key_dir: Path
) -> AsyncIterator[ServiceHost]:
    """One auth service for the whole session: other services verify tokens against its JWKS."""
    settings = AuthSettings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        jwks_http_host="127.0.0.1",
        jwks_http_port=0,
        mongo_url=database_server.url,
        mongo_database="mesh_auth",
        redis_url=redis_server.url,
        signing_key_files=str(key_dir / "active.pem"),
        log_format="text",
    )
    host = await build_auth_server(settings)
    yield host
    await host.stop(0)


@pytest.fixture
def core_settings(
    redis_server: RedisServer, database_server: FerretDBServer, mesh_auth: ServiceHost
) -> Callable[..., dict[str, Any]]:
    """Return settings values every service needs (fresh database per test); keywords override."""
    database = f"test_{uuid.uuid4().hex[:12]}"

    def values(**overrides: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "mongo_url": database_server.url,
            "mongo_database": database,
            "redis_url": redis_server.url,
            "auth_target": f"127.0.0.1:{mesh_auth.port}",
            "dependency_timeout_seconds": 1.0,
            "shutdown_grace_seconds": 2.0,
            "log_format": "text",
        }
        result.update(overrides)
        return result

    return values


@dataclass(frozen=True)
class MeshUser:
    """A user registered with the shared auth service, and call metadata carrying their token."""

    user_id: str
    username: str
    access_token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Return call metadata that authenticates as this user."""
        return (("authorization", f"Bearer {self.access_token}"),)


@pytest.fixture
async def new_user(mesh_auth: ServiceHost) -> AsyncIterator[Callable[[], Awaitable[MeshUser]]]:
    """Register fresh users through the real auth service."""
    channel = aio.insecure_channel(f"127.0.0.1:{mesh_auth.port}")
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)

    async def register() -> MeshUser:
        name = f"user_{uuid.uuid4().hex[:10]}"
        response = await stub.Register(
            auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password="Correct-Horse-42")
        )
        return MeshUser(response.user.id, name, response.tokens.access_token)

    yield register
    await channel.close()
