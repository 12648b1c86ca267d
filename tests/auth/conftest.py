"""Auth-test fixtures: auth services started per test with overridable settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from grpc import aio
from redis.asyncio import Redis

from tests.conftest import DatabaseServer
from trademesh.auth.v1 import auth_service_pb2_grpc
from trademesh.devstack.processes import RedisServer
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.server import ServiceHost

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub


@pytest.fixture
def make_auth_settings(
    redis_server: RedisServer, database_server: DatabaseServer, key_dir: Path, tmp_path: Path
) -> Callable[..., AuthSettings]:
    """Build auth settings for a fresh database; keyword arguments override fields."""
    database = database_server.new_database_name()

    def make(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "jwks_http_host": "127.0.0.1",
            "jwks_http_port": 0,
            "mongo_url": database_server.url,
            "mongo_database": database,
            "redis_url": redis_server.url,
            "signing_key_files": str(key_dir / "active.pem"),
            "dependency_timeout_seconds": 1.0,
            "shutdown_grace_seconds": 2.0,
            "log_format": "text",
            "mail_drop_dir": str(tmp_path / "mail"),
        }
        values.update(overrides)
        return AuthSettings(**values)

    return make


@pytest.fixture
async def start_auth(
    redis: Redis, make_auth_settings: Callable[..., AuthSettings]
) -> AsyncIterator[Callable[..., Any]]:
    """Start auth servers (stopped after the test); returns (host, stub)."""
    hosts: list[ServiceHost] = []
    channels: list[aio.Channel] = []

    async def start(**overrides: Any) -> tuple[ServiceHost, AuthServiceAsyncStub]:
        host = await build_auth_server(make_auth_settings(**overrides))
        hosts.append(host)
        channel = aio.insecure_channel(f"127.0.0.1:{host.port}")
        channels.append(channel)
        return host, auth_service_pb2_grpc.AuthServiceStub(channel)

    yield start
    for channel in channels:
        await channel.close()
    for host in hosts:
        await host.stop(0)


@pytest.fixture
async def auth(start_auth: Callable[..., Any]) -> AuthServiceAsyncStub:
    """A running auth service with default settings."""
    _, stub = await start_auth()
    return stub  # type: ignore[no-any-return]
